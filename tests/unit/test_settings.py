"""Settings refuse what would leave the machine in local/test and local shortcuts when deployed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from prepkit.routes import ROUTES
from prepkit.settings import (
    DEFAULT_RATE_LIMITS,
    LOCAL_ISSUER,
    LOCAL_RAZORPAY_KEY_ID,
    LOCAL_SECRETS,
    LOCAL_STATE_MACHINE_ARN,
    Settings,
    Stage,
    is_loopback_url,
)
from tests.fakes import deployed_settings as _deployed_settings

#: what CDK sets in every deployed function (infra_cdk.service: LambdaFactory's env)
DEPLOYED_ENV: dict[str, object] = {
    "public_base_url": "https://abc123defg.execute-api.ap-south-1.amazonaws.com",
    "pipeline_state_machine_arn": "arn:aws:states:ap-south-1:210987654321:stateMachine:prepkit-prod-pipeline",
    "rate_limit_table": "PrepKit-prod-Stateful-RateLimitsTable1A2B3C-XYZ",
}


def deployed_settings(**overrides: object) -> Settings:
    return _deployed_settings(**{**DEPLOYED_ENV, **overrides})


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:4566", "http://localhost:5000", "http://[::1]:4566", "http://127.8.9.10"],
)
def test_loopback_endpoints_are_accepted_locally(url: str) -> None:
    assert Settings(stage=Stage.TEST, aws_endpoint_url=url).aws_endpoint_url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://dynamodb.ap-south-1.amazonaws.com",
        "http://10.0.0.5:4566",
        "http://169.254.169.254",
        "http://0.0.0.0:4566",
        "http://localhost.evil.example",
        "not a url",
    ],
)
def test_non_loopback_endpoints_are_refused_locally(url: str) -> None:
    with pytest.raises(ValidationError, match="loopback"):
        Settings(stage=Stage.LOCAL, aws_endpoint_url=url)


def test_offline_stages_need_an_endpoint() -> None:
    with pytest.raises(ValidationError, match="PREPKIT_AWS_ENDPOINT_URL"):
        Settings(stage=Stage.TEST)


def test_deployed_stage_refuses_local_shortcuts() -> None:
    with pytest.raises(ValidationError, match="local token issuer"):
        deployed_settings(jwt_issuer=LOCAL_ISSUER)
    with pytest.raises(ValidationError, match="auth_mode=apigw"):
        deployed_settings(auth_mode="local")
    with pytest.raises(ValidationError, match="real AWS endpoints"):
        deployed_settings(stage=Stage.DEV, aws_endpoint_url="http://127.0.0.1:1")
    for secret, local in LOCAL_SECRETS.items():
        for value in (local, ""):
            with pytest.raises(ValidationError, match="refuses the local or empty"):
                deployed_settings(**{secret: SecretStr(value)})
    ok = deployed_settings()
    assert ok.aws_endpoint_url is None
    assert ok.payments_configured
    assert ok.voice_configured
    # a function given no Razorpay secret has none: it never falls back to the local simulator's
    reads = deployed_settings(razorpay_key_secret=None, razorpay_webhook_secret=None)
    assert reads.razorpay_key_secret is None
    assert not reads.payments_configured


def test_offline_stages_get_the_simulators_secrets() -> None:
    s = Settings(stage=Stage.TEST, aws_endpoint_url="http://127.0.0.1:1")
    assert {name: getattr(s, name).get_secret_value() for name in LOCAL_SECRETS} == LOCAL_SECRETS


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREPKIT_STAGE", "test")
    monkeypatch.setenv("PREPKIT_AWS_ENDPOINT_URL", "http://127.0.0.1:1234")
    monkeypatch.setenv("PREPKIT_RATE_LIMITS", '{"setup": "2/60"}')  # as the README writes it
    s = Settings()
    assert s.stage is Stage.TEST and s.aws_endpoint_url == "http://127.0.0.1:1234"
    assert s.limit_for("setup") == (2, 60)
    # a partial value changes only what it names: every other class keeps its default
    assert s.rate_limits == {**DEFAULT_RATE_LIMITS, "setup": "2/60"}
    assert s.limit_for("history") == (100, 3600)


def test_every_route_class_of_the_route_table_has_a_limit_by_default() -> None:
    s = Settings(stage=Stage.TEST, aws_endpoint_url="http://127.0.0.1:1")
    for route in ROUTES:
        if route.rate_class is not None:
            count, window = s.limit_for(route.rate_class)
            assert count >= 1 and window >= 1, route


@pytest.mark.parametrize("limits", ['{"setpu": "20/3600"}', '{"setup": "20/3600", "exports": "1/60"}'])
def test_a_rate_limit_for_a_class_the_route_table_lacks_is_refused(
    monkeypatch: pytest.MonkeyPatch, limits: str
) -> None:
    monkeypatch.setenv("PREPKIT_RATE_LIMITS", limits)
    with pytest.raises(ValidationError, match="route classes the route table does not have"):
        Settings(stage=Stage.TEST, aws_endpoint_url="http://127.0.0.1:1")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("public_base_url", "http://127.0.0.1:8000", "PREPKIT_PUBLIC_BASE_URL"),  # the local default
        ("public_base_url", "https://localhost", "PREPKIT_PUBLIC_BASE_URL"),
        ("public_base_url", "https://[::1]:8443", "PREPKIT_PUBLIC_BASE_URL"),
        (
            "public_base_url",
            "http://abc123defg.execute-api.ap-south-1.amazonaws.com",
            "PREPKIT_PUBLIC_BASE_URL",
        ),
        ("public_base_url", "", "PREPKIT_PUBLIC_BASE_URL"),
        ("pipeline_state_machine_arn", LOCAL_STATE_MACHINE_ARN, "PREPKIT_PIPELINE_STATE_MACHINE_ARN"),
        ("pipeline_state_machine_arn", "prepkit-pipeline", "PREPKIT_PIPELINE_STATE_MACHINE_ARN"),
        ("rate_limit_table", "prepkit-rate-limits", "PREPKIT_RATE_LIMIT_TABLE"),
        ("razorpay_key_id", LOCAL_RAZORPAY_KEY_ID, "PREPKIT_RAZORPAY_KEY_ID"),
        ("razorpay_key_id", "", "PREPKIT_RAZORPAY_KEY_ID"),
        ("razorpay_api_url", "http://127.0.0.1:9000", "PREPKIT_RAZORPAY_API_URL"),
        ("vapi_api_url", "http://api.vapi.ai", "PREPKIT_VAPI_API_URL"),
    ],
)
def test_deployed_stage_refuses_local_defaults_and_loopback_values(
    setting: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        deployed_settings(**{setting: value})


def test_deployed_stage_refuses_the_local_defaults_cdk_would_have_replaced() -> None:
    """A deployed function whose CDK environment lacks a variable starts with the local default: refused."""
    for setting in DEPLOYED_ENV:
        values = {k: v for k, v in DEPLOYED_ENV.items() if k != setting}
        with pytest.raises(ValidationError, match="a deployed stage"):
            _deployed_settings(**values, **{setting: Settings.model_fields[setting].default})
    # a function given no Razorpay key (reads, setup) never uses the key id: its default is fine there
    reads = deployed_settings(
        razorpay_key_id=LOCAL_RAZORPAY_KEY_ID, razorpay_key_secret=None, razorpay_webhook_secret=None
    )
    assert reads.razorpay_key_id == LOCAL_RAZORPAY_KEY_ID and not reads.payments_configured


@pytest.mark.parametrize(
    ("function", "timeout_s", "overrides", "call"),
    [
        ("start", 29, {"vapi_timeout_s": 20.0}, "vapi_start"),  # 3 + 20 + 2 x (3 + 3) + 2 > 29
        ("payments", 29, {"razorpay_read_timeout_s": 15.0}, "razorpay"),  # 2 x (3 + 15) + 2 > 29
        ("pipeline", 100, {}, "gemini_report"),  # 2 x 60 + 2 > 100
        ("setup", 20, {"gemini_api_key": SecretStr("AIza-key")}, "gemini_questions"),  # 2 x 10 + 2 > 20
        ("reconciler", 20, {}, "razorpay"),  # not in FUNCTION_CALLS: every provider it has a key for
    ],
)
def test_provider_timeouts_times_attempts_must_fit_the_function_timeout(
    function: str, timeout_s: int, overrides: dict[str, object], call: str
) -> None:
    with pytest.raises(ValidationError, match=f"{call} calls may take"):
        deployed_settings(function=function, function_timeout_s=timeout_s, **overrides)


def test_the_default_provider_timeouts_fit_the_functions_they_run_in() -> None:
    gemini = {"gemini_api_key": SecretStr("AIza-key")}
    for function, timeout_s in (("setup", 29), ("payments", 29), ("start", 29), ("webhooks", 10)):
        assert (
            deployed_settings(function=function, function_timeout_s=timeout_s, **gemini).function == function
        )
    pipeline = deployed_settings(function="pipeline", function_timeout_s=150, **gemini)
    assert pipeline.call_budgets_s()["gemini_report"] + 2 <= 150
    # the webhooks function makes no provider call: a short timeout is fine with any provider timeout
    assert (
        deployed_settings(function="webhooks", function_timeout_s=3, vapi_timeout_s=60).function_timeout_s
        == 3
    )


def test_timeout_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREPKIT_FUNCTION", "start")
    monkeypatch.setenv("PREPKIT_FUNCTION_TIMEOUT_S", "29")
    monkeypatch.setenv("PREPKIT_VAPI_TIMEOUT_S", "25")
    with pytest.raises(ValidationError, match="function start times out after 29 s"):
        Settings(stage=Stage.TEST, aws_endpoint_url="http://127.0.0.1:1")


@pytest.mark.parametrize("spec", ["5", "5/0", "a/b", "-1/60"])
def test_bad_rate_limit_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(stage=Stage.TEST, aws_endpoint_url="http://127.0.0.1:1", rate_limits={"setup": spec})


def test_is_loopback_url() -> None:
    assert is_loopback_url("http://127.0.0.1")
    assert not is_loopback_url("http://example.com")


def test_gemini_key_is_secret() -> None:
    s = Settings(
        stage=Stage.TEST, aws_endpoint_url="http://127.0.0.1:1", gemini_api_key=SecretStr("AIza-real-looking")
    )
    assert s.llm_configured
    assert "AIza-real-looking" not in repr(s)
