"""Runs INSIDE an isolated interpreter (`python -I -S -B layer_probe.py ...`) whose sys.path is only what
a deployed function has: its code root, the two built layers, the packages the Lambda runtime ships, and
the standard library. Standard library only at module level: nothing else is importable until the paths
are set. Writes a JSON report; tests/infra/test_layer_imports.py reads it.

    layer_probe.py REPORT.json handler FUNCTION_DIR [--event EVENT.json]... PATH...
                                                              import `handler` the way Lambda does (and
                                                              invoke it with each event)
    layer_probe.py REPORT.json modules CORE_DIR PATH...       every prepkit module, every import statement in
                                                              them (lazy ones too), and the container's adapters
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

#: local-only code (infra_cdk.layers.LOCAL_ONLY): run by `make dev` / `make demo` and the tests, never by a
#: function, and not in the built core layer. An import of it in a deployable module must be lazy (inside
#: an offline-only branch): the probe records each one and checks that the layer cannot satisfy it.
LOCAL_ONLY_MODULES = ("prepkit.local",)


def _is_local_only(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in LOCAL_ONLY_MODULES)


def _failure(where: str, exc: BaseException, core: Path | None) -> dict[str, Any]:
    """The missing module (ModuleNotFoundError.name) and the project file whose import raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    importer = ""
    if core is not None:
        for frame in reversed(frames):
            path = Path(frame.filename)
            if path.is_relative_to(core):
                importer = f"{path.relative_to(core)}:{frame.lineno}"
                break
    return {
        "where": where,
        "type": type(exc).__name__,
        "missing": getattr(exc, "name", None) if isinstance(exc, ImportError) else None,
        "importer": importer,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }


def _loaded_from() -> dict[str, str]:
    """Every loaded module with a file: where it came from (the test checks the isolation with it)."""
    out = {}
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin:
            out[name] = str(origin)
    return out


class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "probe")
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    invoked_function_arn = f"arn:aws:lambda:ap-south-1:123456789012:function:{function_name}"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "2026/12/03/[$LATEST]probe"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def probe_handler(function_dir: Path, core: Path | None, events: list[Path]) -> dict[str, Any]:
    sys.path.insert(0, str(function_dir))  # the function's code root, as /var/task
    failures = []
    responses = []
    try:
        module = importlib.import_module("handler")
        if not callable(getattr(module, "handler", None)):
            failures.append({"where": "handler.handler", "type": "TypeError", "error": "not callable"})
        for event in events if callable(getattr(module, "handler", None)) else []:
            try:
                responses.append(module.handler(json.loads(event.read_text()), LambdaContext()))
            except BaseException as exc:
                failures.append(_failure(f"functions/{function_dir.name}: handler({event.name})", exc, core))
    except BaseException as exc:
        failures.append(_failure(f"functions/{function_dir.name}/handler.py", exc, core))
    return {"failures": failures, "responses": responses}


def _module_names(core: Path) -> list[str]:
    names = []
    for path in sorted((core / "prepkit").rglob("*.py")):
        parts = list(path.relative_to(core).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_statements(tree: ast.AST, package: str) -> list[tuple[int, str, list[str], bool]]:
    """(line, module, names, lazy) of every import statement, lazy ones (inside a function) included,
    not under TYPE_CHECKING."""
    found: list[tuple[int, str, list[str], bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement, lazy)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, [], lazy) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base, [alias.name for alias in node.names], lazy))
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _check_import(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in names:
        if name != "*" and not hasattr(imported, name):
            importlib.import_module(f"{module}.{name}")  # a submodule, or the ImportError to report


def probe_modules(core: Path) -> dict[str, Any]:
    failures: list[dict[str, Any]] = []
    imported, checked, skipped = [], [], []
    local_imports: list[dict[str, Any]] = []
    for name in _module_names(core):
        if _is_local_only(name):  # in the layer at all: the test fails on it
            skipped.append(name)
            continue
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException as exc:
            failures.append(_failure(name, exc, core))
        path = core / Path(*name.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        package = name if source.name == "__init__.py" else name.rpartition(".")[0]
        for line, module, names, lazy in _import_statements(ast.parse(source.read_text()), package):
            if _is_local_only(module):
                local_imports.append(
                    {"where": f"{source.relative_to(core)}:{line}", "module": module, "lazy": lazy,
                     "importable": _importable(module)}
                )  # fmt: skip
                continue
            try:
                _check_import(module, names)
                checked.append(f"{name}:{line} {module}")
            except BaseException as exc:
                failure = _failure(f"{name}:{line} import {module}", exc, core)
                failure["importer"] = failure["importer"] or f"{source.relative_to(core)}:{line}"
                failures.append(failure)
    adapters: dict[str, str] = {}
    try:
        adapters = _build_adapters()
    except BaseException as exc:
        failures.append(_failure("build_container (deployed settings, real keys)", exc, core))
    data: dict[str, Any] = {}
    try:
        data = _package_data()
    except BaseException as exc:
        failures.append(_failure("the package's data files", exc, core))
    routes: list[str] = []
    try:
        routes = _deployed_routes()
    except BaseException as exc:
        failures.append(_failure("create_app (deployed settings)", exc, core))
    return {
        "failures": failures,
        "imported": imported,
        "checked_imports": checked,
        "skipped": skipped,
        "local_imports": local_imports,
        "local_only_importable": {m: _importable(m) for m in LOCAL_ONLY_MODULES},
        "adapters": adapters,
        "data": data,
        "routes": routes,
    }


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _deployed_routes() -> list[str]:
    """Every route of the whole app (all functions' routes together) built with deployed settings, as its
    OpenAPI document lists them (FastAPI builds it from the routes it serves)."""
    from prepkit.api.app import create_app
    from prepkit.container import build_container
    from prepkit.settings import get_settings

    paths: dict[str, dict[str, Any]] = create_app(build_container(get_settings())).openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, methods in paths.items() for method in methods)


def _package_data() -> dict[str, Any]:
    """The non-Python files the functions read from the core layer (importlib.resources)."""
    from prepkit.adapters.question_bank import QuestionBank
    from prepkit.db.migrate import available
    from prepkit.pipeline import asl_text

    return {
        "migrations": [m.version for m in available()],
        "asl_chars": len(asl_text()),
        "question_bank_entries": len(QuestionBank()._entries),
    }


def _build_adapters() -> dict[str, str]:
    """The container a deployed function builds with every provider key set, then the lazy clients."""
    from prepkit.container import build_container
    from prepkit.settings import get_settings

    container = build_container(get_settings())
    built = {
        "payments": container.payments,
        "voice": container.voice,
        "ai_questions": container.ai_questions,
        "report_writer": container.report_writer,
        "rate_limiter": container.rate_limiter,
        "workflow": container.workflow,
        "repo": container.repo,
        "flow_repo": container.flow_repo,
        "insights": container.insights,
        "metrics": container.metrics,
        "pool": container.extras.get("pool"),
    }
    # Gemini imports google.genai on first use: build its client now (no request is made)
    for name in ("ai_questions", "report_writer"):
        gemini = getattr(built[name], "_client", None)
        built[f"{name}.client"] = gemini.get() if gemini is not None else None
    container.flow  # noqa: B018 (builds the flow service over the adapters)
    return {name: f"{type(obj).__module__}.{type(obj).__qualname__}" for name, obj in built.items()}


def main(argv: list[str]) -> int:
    report_path, mode, root, *paths = argv
    events = []
    while paths[:1] == ["--event"]:
        events.append(Path(paths[1]))
        paths = paths[2:]
    sys.path[:0] = paths  # layers and the runtime's packages before the standard library, as on Lambda
    core = next((Path(p) for p in paths if (Path(p) / "prepkit").is_dir()), None)
    report = probe_handler(Path(root), core, events) if mode == "handler" else probe_modules(Path(root))
    report["python"] = sys.version
    report["executable"] = sys.executable
    report["sys_path"] = sys.path
    report["stdlib"] = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
    report["loaded"] = _loaded_from()
    Path(report_path).write_text(json.dumps(report, indent=1, default=str))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the pool's connection threads (to a closed loopback port) must not hold the exit


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
