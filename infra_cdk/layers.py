"""Builds the two Lambda layers without Docker, then prints their sizes against Lambda's limits.

- deps: the locked runtime requirements (layers/deps/requirements.txt, from uv.lock, hash-checked) as
  manylinux wheels for the Lambda's Python (3.12) and architecture; boto3 is left to the runtime;
  byte-compiled with a local Python 3.12 when there is one (cold imports are faster).
- core: the project's package (layers/core/prepkit), without caches and without the local-only code
  (LOCAL_ONLY: the local engine and stack, `make dev`'s checkout, the call simulator): what no deployed
  function may import (tests/infra/test_layer_imports.py proves none needs it).

    python -m infra_cdk.layers [--architecture arm64|x86_64] [--out layers/build]

`build()` is what `make layers` runs; tests/infra/test_layer_imports.py calls it too (for this machine's
architecture, into a temporary directory) and imports every function from the built layers alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # not from infra_cdk.config: no aws_cdk (jsii) start here

PLATFORM = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}  # Amazon Linux 2023
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all its layers
LAMBDA_ZIPPED_UPLOAD_LIMIT = 50 * 1024 * 1024
# what Lambda's python3.12 runtime ships itself (the AWS SDK and its dependencies): the deps layer leaves
# boto3, botocore, s3transfer and jmespath out (Makefile, DEPS_EXPORT)
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


#: local-only code, left out of the core layer (paths under layers/core/prepkit; `make dev` / `make demo`
#: and the tests import it from the source tree)
LOCAL_ONLY = ("local",)  # the local engine, make dev/demo, the Checkout, Razorpay and call simulators


def local_only_modules() -> tuple[str, ...]:
    """LOCAL_ONLY as module names: prepkit.local."""
    return tuple("prepkit." + path.removesuffix(".py").replace("/", ".") for path in LOCAL_ONLY)


def host_architecture() -> str:
    """This machine's architecture in PLATFORM's terms (binary wheels built for it load here)."""
    machine = platform.machine().lower()
    return {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}[machine]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _zipped(path: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        archive = shutil.make_archive(str(Path(tmp) / "layer"), "zip", path)
        return Path(archive).stat().st_size


def _python312() -> str | None:
    for candidate in (
        shutil.which("python3.12"),
        *sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12")),
    ):
        if (
            candidate
            and subprocess.run([str(candidate), "--version"], capture_output=True, check=False).returncode
            == 0
        ):
            return str(candidate)
    return None


def build_core(out: Path) -> Path:
    source = ROOT / "layers" / "core" / "prepkit"
    target = out / "core" / "python" / "prepkit"
    shutil.rmtree(out / "core", ignore_errors=True)
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")
    local_only = {source / path for path in LOCAL_ONLY}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(caches(folder, names)) | {n for n in names if Path(folder) / n in local_only}

    shutil.copytree(source, target, ignore=ignore)
    return out / "core"


def build_deps(
    out: Path,
    architecture: str,
    *,
    python_version: str = "3.12",
    python: str | None = None,
    offline: bool = False,
) -> Path:
    """`python_version`: the wheels' Python (the Lambda's; a test on a machine without 3.12 passes its own),
    `python`: the interpreter that byte-compiles them (default: a local 3.12, if any), `offline`: the uv
    cache only."""
    target = out / "deps" / "python"
    shutil.rmtree(out / "deps", ignore_errors=True)
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    subprocess.run(
        [
            uv, "pip", "install", "--quiet", "--target", str(target),
            "--python-platform", PLATFORM[architecture], "--python-version", python_version,
            "--only-binary", ":all:", "--no-deps", "--require-hashes", "--no-compile",
            *(["--offline"] if offline else []),
            "-r", str(ROOT / "layers" / "deps" / "requirements.txt"),
        ],
        check=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    for junk in ("bin",):
        shutil.rmtree(target / junk, ignore_errors=True)
    compiler = python or _python312()
    if compiler:
        subprocess.run([compiler, "-m", "compileall", "-q", "-j", "0", str(target)], check=True)
        print(f"deps byte-compiled with {compiler}")
    else:
        print("no Python 3.12 here: deps not byte-compiled (Lambda compiles on first import)")
    return out / "deps"


def build(out: Path, architecture: str, **deps_options: Any) -> tuple[Path, Path]:
    """Both layers into `out` (deps, core): what `make layers` builds; each layer's code is under python/."""
    return build_deps(out, architecture, **deps_options), build_core(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--architecture", default="arm64", choices=sorted(PLATFORM))
    parser.add_argument("--out", type=Path, default=ROOT / "layers" / "build")
    args = parser.parse_args()
    out: Path = args.out
    deps, core = build(out, args.architecture)
    total = 0
    for name, path in (("deps", deps), ("core", core)):
        size, zipped = _size(path), _zipped(path)
        total += size
        print(f"layer {name:<5} {size / 2**20:7.1f} MiB unzipped  {zipped / 2**20:6.1f} MiB zipped  ({path})")
        if zipped > LAMBDA_ZIPPED_UPLOAD_LIMIT:
            print(
                f"  over the {LAMBDA_ZIPPED_UPLOAD_LIMIT // 2**20} MiB direct-upload size: CDK uploads it via S3"
            )
    print(
        f"both layers {total / 2**20:.1f} MiB of Lambda's {LAMBDA_UNZIPPED_LIMIT // 2**20} MiB unzipped limit"
    )
    return 0 if total < LAMBDA_UNZIPPED_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
