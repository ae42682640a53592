"""Settings refuse what would leave the machine in local/test and local shortcuts when deployed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from prepkit.settings import Settings, Stage, is_loopback_url


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


def test_deployed_stage_refuses_the_local_issuer_and_local_auth() -> None:
    with pytest.raises(ValidationError, match="local token issuer"):
        Settings(stage=Stage.PROD, auth_mode="apigw")
    with pytest.raises(ValidationError, match="auth_mode=apigw"):
        Settings(stage=Stage.PROD, jwt_issuer="https://cognito-idp.example/pool")
    with pytest.raises(ValidationError, match="real AWS endpoints"):
        Settings(
            stage=Stage.DEV,
            auth_mode="apigw",
            jwt_issuer="https://issuer",
            aws_endpoint_url="http://127.0.0.1:1",
        )
    ok = Settings(stage=Stage.PROD, auth_mode="apigw", jwt_issuer="https://cognito-idp.example/pool")
    assert ok.aws_endpoint_url is None


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
