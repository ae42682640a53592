"""Settings refuse what would leave the machine in local/test and local shortcuts when deployed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from prepkit.settings import LOCAL_ISSUER, LOCAL_SECRETS, Settings, Stage, is_loopback_url
from tests.fakes import deployed_settings


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
    monkeypatch.setenv("PREPKIT_RATE_LIMITS", '{"setup": "2/60"}')
    s = Settings()
    assert s.limit_for("setup") == (2, 60)


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
