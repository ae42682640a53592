"""Builds the two Lambda layers without Docker, then prints their sizes against Lambda's limits.

- deps: the locked runtime requirements (layers/deps/requirements.txt, from uv.lock, hash-checked) as
  manylinux wheels for the Lambda's Python (3.12) and architecture; boto3 is left to the runtime;
  byte-compiled with a local Python 3.12 when there is one (cold imports are faster).
- core: the project's package (layers/core/prepkit), without caches.

    python -m infra_cdk.layers [--architecture arm64|x86_64] [--out layers/build]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra_cdk.config import ROOT

PLATFORM = {"arm64": "aarch64-manylinux_2_28", "x86_64": "x86_64-manylinux_2_28"}  # Amazon Linux 2023
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all its layers
LAMBDA_ZIPPED_UPLOAD_LIMIT = 50 * 1024 * 1024


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
    target = out / "core" / "python" / "prepkit"
    shutil.rmtree(out / "core", ignore_errors=True)
    shutil.copytree(
        ROOT / "layers" / "core" / "prepkit", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return out / "core"


def build_deps(out: Path, architecture: str) -> Path:
    target = out / "deps" / "python"
    shutil.rmtree(out / "deps", ignore_errors=True)
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    subprocess.run(
        [
            uv, "pip", "install", "--quiet", "--target", str(target),
            "--python-platform", PLATFORM[architecture], "--python-version", "3.12",
            "--only-binary", ":all:", "--no-deps", "--require-hashes", "--no-compile",
            "-r", str(ROOT / "layers" / "deps" / "requirements.txt"),
        ],
        check=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    for junk in ("bin",):
        shutil.rmtree(target / junk, ignore_errors=True)
    python312 = _python312()
    if python312:
        subprocess.run([python312, "-m", "compileall", "-q", "-j", "0", str(target)], check=True)
        print(f"deps byte-compiled with {python312}")
    else:
        print("no Python 3.12 here: deps not byte-compiled (Lambda compiles on first import)")
    return out / "deps"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--architecture", default="arm64", choices=sorted(PLATFORM))
    parser.add_argument("--out", type=Path, default=ROOT / "layers" / "build")
    args = parser.parse_args()
    out: Path = args.out
    core, deps = build_core(out), build_deps(out, args.architecture)
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
