"""What ships is what was tested: the Lambda layers, built as `make layers` builds them, run every
function's cold start with nothing else on the path.

The development environment has every dev dependency installed, so the rest of the suite cannot see an
adapter importing a package the layers do not ship (httpx did, and every function with real keys failed
at cold start). Here, in a subprocess started with `-I -S -B` (no site-packages, no PYTHON* variables, no
.pyc written), sys.path holds only: the function's folder (its code root, as /var/task), the deps and core
layers' python/ folders (as /opt/python), the packages Lambda's python3.12 runtime ships itself (boto3,
botocore, s3transfer, jmespath, python-dateutil, six, urllib3: pure Python, copied from this .venv) and the
interpreter's standard library. The interpreter is Python 3.12 when the machine has it (the layer's wheels
are then the Lambda's cp312 ones), else the running one with wheels built for its version.

The settings are a deployed stage's (dev, apigw auth, a Cognito issuer, fake but real-looking provider
keys, so the REAL adapters are built) and arrive the way they do deployed: each function gets the secret
ARNs CDK gives it (infra_cdk.service.SPECS) and reads them from Secrets Manager at cold start; here that is
moto on 127.0.0.1 (AWS_ENDPOINT_URL, for every AWS client of the cold start). The database secret points
at a closed loopback port: the pool is built, no connection succeeds.

    .venv/bin/pytest -q -p no:randomly -m layers tests/infra/test_layer_imports.py
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra_cdk import layers as layer_build
from infra_cdk.service import SPECS, function_env
from prepkit.db.migrate import APP_ROLE
from prepkit.local.stack import free_port, moto_server
from prepkit.routes import FUNCTIONS, NON_HTTP_FUNCTIONS, ROUTES
from prepkit.secrets import (
    APP_DB_SECRET_ENV,
    DB_HOST_ENV,
    DB_SECRET_ENV,
    GEMINI_SECRET_ENV,
    RAZORPAY_SECRET_ENV,
    RAZORPAY_WEBHOOK_SECRET_ENV,
    SECRET_ENV,
    VAPI_SECRET_ENV,
    VAPI_WEBHOOK_SECRET_ENV,
)
from tests.infra.layer_probe import LOCAL_ONLY_MODULES

pytestmark = pytest.mark.layers

ROOT = layer_build.ROOT
PROBE = Path(__file__).with_name("layer_probe.py")
ALL_FUNCTIONS = sorted({*FUNCTIONS, *NON_HTTP_FUNCTIONS})
PROBE_TIMEOUT_S = 120

#: what a deployed container must build when every provider key is set (the pipeline function's case)
REAL_ADAPTERS = {
    "payments": "prepkit.adapters.razorpay.RazorpayGateway",
    "voice": "prepkit.adapters.vapi.VapiGateway",
    "ai_questions": "prepkit.adapters.gemini.GeminiQuestionGenerator",
    "report_writer": "prepkit.adapters.gemini.GeminiReportWriter",
    "ai_questions.client": "google.genai.client.Client",
    "report_writer.client": "google.genai.client.Client",
    "rate_limiter": "prepkit.adapters.dynamo_rate_limiter.DynamoRateLimiter",
    "workflow": "prepkit.adapters.workflow.StepFunctionsWorkflow",
    "repo": "prepkit.adapters.postgres.PostgresSessionRepository",
    "flow_repo": "prepkit.adapters.postgres_flow.PostgresFlowRepository",
    "insights": "prepkit.adapters.postgres_insights.PostgresInsightsRepository",
    "pool": "psycopg_pool.pool.ConnectionPool",
}
OFFLINE_ONLY_MODULES = LOCAL_ONLY_MODULES


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.12"


@dataclass(frozen=True)
class Layers:
    deps: Path  # <out>/deps/python
    core: Path  # <out>/core/python
    runtime: Path  # the Lambda runtime's own packages
    interpreter: Interpreter

    def paths(self, core: Path | None = None) -> list[Path]:
        return [self.deps, core or self.core, self.runtime]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def interpreter() -> Interpreter:
    path = layer_build._python312() or sys.executable
    version = subprocess.run(  # noqa: S603 (a local interpreter)
        [path, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if version == "3.12":
        print(f"layer imports checked under Python 3.12, the Lambda's: {path}")
    else:  # said where it shows: the layer's wheels are then this version's, not the Lambda's cp312
        warnings.warn(
            f"no Python 3.12 here: layer imports checked under Python {version} ({path})", stacklevel=1
        )
    return Interpreter(path, version)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, interpreter: Interpreter) -> Layers:
    """infra_cdk.layers.build, as `make layers` runs it, for this machine's architecture, into a tmp dir;
    from the uv cache when it has the wheels, else from the package index (a first run)."""
    out = tmp_path_factory.mktemp("layers")
    options: dict[str, Any] = {"python_version": interpreter.version, "python": interpreter.path}
    try:
        deps, core = layer_build.build(out, layer_build.host_architecture(), offline=True, **options)
    except subprocess.CalledProcessError:
        print("the uv cache lacks some of the layer's wheels: downloading them")
        deps, core = layer_build.build(out, layer_build.host_architecture(), offline=False, **options)
    return Layers(deps / "python", core / "python", _runtime_packages(out / "runtime"), interpreter)


def _runtime_packages(target: Path) -> Path:
    """The AWS SDK and its dependencies, which Lambda's python3.12 runtime ships itself (the deps layer
    leaves boto3, botocore, s3transfer and jmespath out): their installed files, copied from this .venv.
    All pure Python, so the copy loads under any interpreter."""
    for name in layer_build.LAMBDA_RUNTIME_PACKAGES:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            if file.suffix in (".so", ".pyd"):
                raise AssertionError(f"{name} is not pure Python ({file}): it cannot be copied across")
            if "__pycache__" in file.parts or not source.is_file() or ".." in file.parts:
                continue
            (target / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / file)
    return target


@pytest.fixture(scope="module")
def deployed_secrets() -> Iterator[dict[str, str]]:
    """Secrets Manager on 127.0.0.1 (moto) holding every secret a deployed stage has, in its real JSON
    shape (prepkit.secrets.SECRET_ENV; the database secret is RDS's own JSON). Env name -> ARN."""
    values: dict[str, dict[str, Any]] = {
        GEMINI_SECRET_ENV: {"apiKey": "AIza" + secrets.token_urlsafe(26)[:35]},
        RAZORPAY_SECRET_ENV: {"keyId": "rzp_test_" + secrets.token_hex(7), "keySecret": secrets.token_urlsafe(18)},
        RAZORPAY_WEBHOOK_SECRET_ENV: {"webhookSecret": secrets.token_urlsafe(24)},
        VAPI_SECRET_ENV: {"apiKey": _uuid(), "credentialId": _uuid()},
        VAPI_WEBHOOK_SECRET_ENV: {"webhookSecret": secrets.token_urlsafe(24)},
        DB_SECRET_ENV: {  # the login of a function (the owner's for migrate, the app role's for the others)
            "engine": "postgres", "username": "prepkit", "password": secrets.token_urlsafe(24),
            "host": "prepkit-dev-db.abcdefghijkl.ap-south-1.rds.amazonaws.com", "port": free_port(),
            "dbname": "prepkit",
        },
        APP_DB_SECRET_ENV: {
            "engine": "postgres", "username": APP_ROLE, "password": secrets.token_urlsafe(24),
            "host": "prepkit-dev-db.abcdefghijkl.ap-south-1.rds.amazonaws.com", "port": free_port(),
            "dbname": "prepkit",
        },
    }  # fmt: skip
    assert set(values) == {*SECRET_ENV, DB_SECRET_ENV, APP_DB_SECRET_ENV}, "a deployed secret is missing here"
    moto_port = os.environ.get("MOTO_PORT")  # moto_server sets it for this process
    with moto_server(free_port()) as endpoint:
        client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="ap-south-1")
        created = {
            env: client.create_secret(Name=f"prepkit/dev/{env.lower()}", SecretString=json.dumps(value))
            for env, value in values.items()
        }
        arns = {env: secret["ARN"] for env, secret in created.items()}
        yield {"endpoint": endpoint, **arns}
    if moto_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = moto_port


def _uuid() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def lambda_env(function: str, secrets_: dict[str, str], layers: Layers, code_root: Path) -> dict[str, str]:
    """The environment of a deployed function (infra_cdk.service: the factory's env, the function's own
    secret ARNs) plus the variables Lambda sets. Built from nothing: no variable of this process leaks."""
    spec = SPECS[function]
    name = f"prepkit-dev-{function}"
    return {
        # Lambda's own
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "LAMBDA_TASK_ROOT": str(code_root),
        "LAMBDA_RUNTIME_DIR": str(layers.runtime),
        "_HANDLER": "handler.handler",
        "AWS_REGION": "ap-south-1",
        "AWS_DEFAULT_REGION": "ap-south-1",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        # fake credentials, no instance metadata, every AWS call to the loopback stub
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": secrets_["endpoint"],
        # infra_cdk.service: LambdaFactory's common env and this function's secrets
        "PREPKIT_STAGE": "dev",
        "PREPKIT_AUTH_MODE": "apigw",
        "PREPKIT_JWT_ISSUER": "https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_AbCdEfGhI",
        "PREPKIT_JWT_AUDIENCE": "4example0client0id0abcdefg",
        "PREPKIT_RATE_LIMIT_TABLE": "prepkit-dev-rate-limits",
        "PREPKIT_PIPELINE_STATE_MACHINE_ARN": "arn:aws:states:ap-south-1:123456789012:stateMachine:prepkit-dev-pipeline",
        "PREPKIT_PUBLIC_BASE_URL": "https://abc123defg.execute-api.ap-south-1.amazonaws.com",
        "POWERTOOLS_SERVICE_NAME": "prepkit",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        DB_SECRET_ENV: secrets_[DB_SECRET_ENV],
        DB_HOST_ENV: "127.0.0.1",
        **({APP_DB_SECRET_ENV: secrets_[APP_DB_SECRET_ENV]} if spec.database_owner else {}),
        **{env: secrets_[env] for env in spec.provider_secrets},
        **function_env(function, spec),
    }


def code_root(function: str, tmp: Path) -> Path:
    """The function's folder as its asset unzips to /var/task (no caches); nothing is written in the repo."""
    target = tmp / "task" / function
    shutil.copytree(ROOT / "functions" / function, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def probe(
    layers: Layers,
    mode: str,
    root: Path,
    env: dict[str, str],
    *,
    work: Path,
    core: Path | None = None,
    events: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Runs layer_probe.py in the isolated interpreter; its JSON report (written under `work`)."""
    report = work / f"{mode}-{root.name}-{secrets.token_hex(4)}.json"
    command = [
        layers.interpreter.path, "-I", "-S", "-B", str(PROBE), str(report), mode, str(root),
        *(arg for event in events for arg in ("--event", str(event))), *map(str, layers.paths(core)),
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 (our interpreter, our probe, paths we built)
        command, env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
    )
    if not report.exists():
        raise AssertionError(f"the probe died (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(report.read_text())
    result["stderr"] = done.stderr
    return result


def describe(failures: list[dict[str, Any]]) -> str:
    """One line per missing module (which one, and the project file that imports it), else the traceback."""
    lines = []
    for f in failures:
        if f.get("missing"):
            lines.append(
                f"- {f['where']}: missing module {f['missing']!r}, imported at {f['importer'] or '?'}"
            )
        else:
            lines.append(f"- {f['where']}: {f['error']}\n{f.get('traceback', '')}")
    return "\n".join(lines)


def assert_isolated(report: dict[str, Any], allowed: list[Path]) -> None:
    """Every module the probe loaded came from the allowed roots or the interpreter's standard library."""
    roots = [Path(p).resolve() for p in (*allowed, *report["stdlib"])]
    strays = {
        name: origin
        for name, origin in report["loaded"].items()
        if Path(origin) != PROBE and not any(Path(origin).resolve().is_relative_to(r) for r in roots)
    }
    assert not strays, f"modules loaded from outside the layers and the runtime: {strays}"
    assert not any("site-packages" in entry for entry in report["sys_path"]), report["sys_path"]


# --- the checks ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cold_starts(
    built: Layers, deployed_secrets: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Every function's cold start, two at a time (one process each, as each is its own Lambda); each HTTP
    function then serves API Gateway's GET /health through its handler, and the webhooks function the
    vendors' own webhooks with a bad credential."""
    tmp = tmp_path_factory.mktemp("cold-starts")
    events = {}
    for name, event in {"health": health_event(), "dev-token": dev_token_event(), **webhook_events()}.items():
        events[name] = tmp / f"{name}.json"
        events[name].write_text(json.dumps(event))

    def start(function: str) -> dict[str, Any]:
        root = code_root(function, tmp)
        env = lambda_env(function, deployed_secrets, built, root)
        sent = [
            n
            for n in events
            if function in FUNCTIONS and (n in ("health", "dev-token") or function == "webhooks")
        ]
        try:
            report = probe(built, "handler", root, env, work=tmp, events=tuple(events[n] for n in sent))
            report["sent"] = sent
        except (AssertionError, subprocess.TimeoutExpired) as exc:  # this function's test fails, not all
            report = {"failures": [{"where": f"functions/{function}", "error": str(exc)}]}
        report["code_root"] = str(root)
        return report

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(ALL_FUNCTIONS, pool.map(start, ALL_FUNCTIONS), strict=True))


def api_event(method: str, path: str, body: bytes | None = None, **headers: str) -> dict[str, Any]:
    """API Gateway HTTP API's (payload 2.0) event for a public route: a parsed copy of tests/events'."""
    event: dict[str, Any] = json.loads((ROOT / "tests" / "events" / "apigw_v2_get_session.json").read_text())
    event.update(routeKey=f"{method} {path}", rawPath=path)
    event.pop("pathParameters", None)
    event["requestContext"].pop("authorizer", None)  # public: no JWT claims
    event["requestContext"].update(routeKey=f"{method} {path}")
    event["requestContext"]["http"].update(method=method, path=path)
    if body is not None:
        event.update(body=body.decode("utf-8"), isBase64Encoded=False)
        event["headers"].update({"content-type": "application/json", "content-length": str(len(body))})
    event["headers"].update(headers)
    return event


def health_event() -> dict[str, Any]:
    return api_event("GET", "/health")


def dev_token_event() -> dict[str, Any]:
    """The local stage's token route: a deployed function must not have it (anyone could mint tokens)."""
    return api_event("POST", "/dev/token", json.dumps({"userId": "mallory", "groups": ["admin"]}).encode())


def webhook_events() -> dict[str, dict[str, Any]]:
    """The vendors' published webhooks (/work/shared/vendor, byte for byte) with a wrong credential."""
    vendor = Path(os.environ.get("PREPKIT_VENDOR_DIR", ROOT.parent / "shared" / "vendor"))
    razorpay = (vendor / "razorpay" / "sdk_mock_fake_payment_authorized_webhook.json").read_bytes()
    vapi = (vendor / "vapi" / "skills_status_update.json").read_bytes()
    return {
        "razorpay-bad-signature": api_event(
            "POST", "/webhooks/razorpay", razorpay,
            **{"x-razorpay-signature": "0" * 64, "x-razorpay-event-id": "evt_layer_probe_0001"},
        ),
        "vapi-unsigned": api_event("POST", "/webhooks/vapi", vapi),
    }  # fmt: skip


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_function_cold_starts_from_the_built_layers_alone(
    function: str, cold_starts: dict[str, dict[str, Any]], built: Layers
) -> None:
    report = cold_starts[function]
    assert not report["failures"], f"functions/{function} cannot start:\n{describe(report['failures'])}"
    assert report["python"].startswith(built.interpreter.version)
    assert_isolated(report, [Path(report["code_root"]), *built.paths()])
    loaded = report["loaded"]
    assert "handler" in loaded and "prepkit.settings" in loaded
    offline = sorted(m for m in loaded if m.startswith(OFFLINE_ONLY_MODULES))
    assert not offline, f"a deployed function loads local-only code: {offline}"
    if function != "migrate":  # the others build the container at cold start
        assert "prepkit.container" in loaded
    api_keys = {RAZORPAY_SECRET_ENV: "prepkit.adapters.razorpay", VAPI_SECRET_ENV: "prepkit.adapters.vapi",
                GEMINI_SECRET_ENV: "prepkit.adapters.gemini"}  # fmt: skip
    for env in SPECS[function].provider_secrets:  # the real adapter behind each API key it is given
        if env in api_keys:
            assert api_keys[env] in loaded, f"{function} has {env} but did not build {api_keys[env]}"
    # served through Mangum and Powertools, by the app of this function only
    responses = dict(zip(report["sent"], report["responses"], strict=True))
    assert set(responses) == ({"health", "dev-token"} if function in FUNCTIONS else set()) | (
        set(webhook_events()) if function == "webhooks" else set()
    )
    for name, response in responses.items():
        body = json.loads(response["body"])
        if name == "health" and function == "reads":
            assert (response["statusCode"], body) == (200, {"status": "ok", "stage": "dev"})
            continue
        assert response["statusCode"] == (404 if name in ("health", "dev-token") else 401), (name, response)
        if name == "dev-token":
            assert "token" not in body
        assert {"error", "code", "userMessage", "recoverable", "details"} <= set(body)


@pytest.fixture(scope="module")
def modules_report(
    built: Layers, deployed_secrets: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("modules")
    env = lambda_env("pipeline", deployed_secrets, built, root)  # the function given every provider key
    return probe(built, "modules", built.core, env, work=root)


def test_every_deployable_module_and_adapter_loads_from_the_built_layers_alone(
    modules_report: dict[str, Any], built: Layers
) -> None:
    report = modules_report
    assert not report["failures"], f"not loadable from the layers:\n{describe(report['failures'])}"
    assert_isolated(report, built.paths())
    every = {
        ".".join(p.relative_to(built.core).with_suffix("").parts).removesuffix(".__init__")
        for p in (built.core / "prepkit").rglob("*.py")
    }
    assert set(report["imported"]) == every
    assert report["skipped"] == []
    assert report["checked_imports"], "no import statement was checked"
    assert {name: report["adapters"].get(name) for name in REAL_ADAPTERS} == REAL_ADAPTERS
    shipped = sorted(
        p.stem for p in (ROOT / "layers" / "core" / "prepkit" / "db" / "migrations").glob("*.sql")
    )
    assert report["data"]["migrations"] == shipped
    assert report["data"]["asl_chars"] > 0 and report["data"]["question_bank_entries"] > 0


def _broken_core(core: Path, tmp: Path, module: str) -> Path:
    """A copy of the core layer whose Razorpay adapter imports `module` at the top (the original bug) and
    with a new module that imports it lazily, inside a function."""
    broken = tmp / "broken-core"
    shutil.copytree(core, broken)
    adapter = broken / "prepkit" / "adapters" / "razorpay.py"
    lines = adapter.read_text().splitlines(keepends=True)
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("from __future__")), 0)
    adapter.write_text("".join([*lines[:at], f"import {module}  # injected by the test\n", *lines[at:]]))
    (broken / "prepkit" / "adapters" / "lazy_injected.py").write_text(
        f'"""Injected by the test."""\n\n\ndef post() -> None:\n    import {module}\n\n    {module}.post("/")\n'
    )
    return broken


def test_the_check_reports_a_module_the_layers_do_not_ship(
    built: Layers, deployed_secrets: dict[str, str], tmp_path: Path
) -> None:
    # a dev-only module: installed here (so the rest of the suite imports it happily), not in the layers
    module = next(m for m in ("httpx", "pytest") if not (built.deps / m).exists())
    assert importlib.util.find_spec(module) is not None
    broken = _broken_core(built.core, tmp_path, module)

    root = code_root("payments", tmp_path)
    env = lambda_env("payments", deployed_secrets, built, root)
    cold = probe(built, "handler", root, env, work=tmp_path, core=broken)
    failures = cold["failures"]
    assert [(f["where"], f.get("missing"), (f.get("importer") or "").split(":")[0]) for f in failures] == [
        ("functions/payments/handler.py", module, "prepkit/adapters/razorpay.py")
    ], describe(cold["failures"])

    env = lambda_env("pipeline", deployed_secrets, built, tmp_path)
    scan = probe(built, "modules", broken, env, work=tmp_path, core=broken)
    reported = {(f["where"].split(":")[0], f["missing"]) for f in scan["failures"]}
    assert ("prepkit.adapters.razorpay", module) in reported  # at import
    assert ("prepkit.adapters.lazy_injected", module) in reported  # the lazy import, found by the scan
    assert ("build_container (deployed settings, real keys)", module) in reported


def test_the_probe_sees_nothing_but_the_layers(built: Layers, modules_report: dict[str, Any]) -> None:
    """The isolation itself: the dev environment's packages are not on the probe's path."""
    paths = [Path(p) for p in modules_report["sys_path"]]
    assert paths[: len(built.paths())] == built.paths()
    venv = Path(sys.prefix).resolve()
    assert not any(p.resolve().is_relative_to(venv) for p in paths), paths
    assert os.path.commonpath([built.deps, ROOT]) != str(ROOT), "the layers were built inside the repo"


def test_the_built_core_layer_holds_no_local_only_code_and_nothing_deployed_needs_it(
    modules_report: dict[str, Any], built: Layers
) -> None:
    """The local engine, the Checkout simulator route's code and the call simulator are left out of the
    core layer (infra_cdk.layers.LOCAL_ONLY); the imports of them that remain are lazy, in offline-only
    branches, and the layer cannot satisfy them, so a deployed function that reached one would fail
    loudly. Every deployed function's cold start and requests above run without them."""
    assert layer_build.local_only_modules() == LOCAL_ONLY_MODULES
    shipped = {p.relative_to(built.core).as_posix() for p in built.core.rglob("*") if p.is_file()}
    assert not {f for f in shipped if f.startswith("prepkit/local/")}, "the local package is in the layer"
    simulators = [
        f for f in shipped if f.endswith(".py") and "class Simulated" in (built.core / f).read_text()
    ]
    assert simulators == [], "a simulator is in the layer"
    assert "prepkit/settings.py" in shipped and "prepkit/db/migrations/0001_sessions.sql" in shipped
    report = modules_report
    assert report["local_only_importable"] == dict.fromkeys(LOCAL_ONLY_MODULES, False)
    assert report["local_imports"], "expected the offline branches' lazy imports to be found"
    eager = [i for i in report["local_imports"] if not i["lazy"] or i["importable"]]
    assert not eager, f"deployable code imports local-only code at module level: {eager}"


def test_a_deployed_app_has_no_dev_route(modules_report: dict[str, Any]) -> None:
    routes = modules_report["routes"]
    deployed = {f"{r.method} {r.path}" for r in ROUTES if not r.local_only}
    assert set(routes) == deployed
    assert not [r for r in routes if r.split(" ", 1)[1].startswith("/dev")]
