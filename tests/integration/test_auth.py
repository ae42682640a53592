"""Every private route needs a valid bearer token; /health, the docs and the dev token route do not."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient

from prepkit.api.app import create_app
from prepkit.container import Container
from prepkit.routes import ROUTES
from prepkit.settings import LOCAL_ISSUER, Settings
from tests.fakes import deployed_settings
from tests.integration.conftest import SETUP_BODY

PRIVATE = [r for r in ROUTES if not r.public]


def _path(template: str) -> str:
    return template.replace("{session_id}", "6f1c1a52-0000-4000-8000-000000000000")


@pytest.mark.parametrize("route", PRIVATE, ids=[f"{r.method} {r.path}" for r in PRIVATE])
@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer not-a-jwt", "bearer a.b.c"],
    ids=["none", "empty", "scheme-only", "scheme-space", "basic", "garbage", "bad-segments"],
)
def test_private_routes_need_a_token(client: TestClient, route: object, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = client.request(route.method, _path(route.path), headers=headers, json=SETUP_BODY)  # type: ignore[attr-defined]
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["code"] == "UNAUTHORIZED"
    assert set(body) == {"error", "code", "userMessage", "recoverable", "details"}


def _token(settings: Settings, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }
    secret = str(overrides.pop("secret", settings.local_jwt_secret.get_secret_value()))
    algorithm = str(overrides.pop("alg", "HS256"))
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


@pytest.mark.parametrize(
    "overrides",
    [
        {"secret": "another-secret-of-sufficient-length-123456"},
        {"exp": int(time.time()) - 10},
        {"iss": "https://evil.example"},
        {"aud": "another-api"},
        {"sub": None},
        {"exp": None},
        {"sub": ""},
    ],
    ids=[
        "bad-signature",
        "expired",
        "wrong-issuer",
        "wrong-audience",
        "no-subject",
        "no-expiry",
        "empty-subject",
    ],
)
def test_bad_tokens_are_refused(client: TestClient, settings: Settings, overrides: dict[str, object]) -> None:
    r = client.get(
        "/interviews/history", headers={"Authorization": f"Bearer {_token(settings, **overrides)}"}
    )
    assert r.status_code == 401
    assert r.json()["code"] == "UNAUTHORIZED"


def test_unsigned_token_is_refused(client: TestClient, settings: Settings) -> None:
    token = jwt.encode(
        {
            "sub": "alice",
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "exp": int(time.time()) + 60,
        },
        None,  # type: ignore[arg-type]
        algorithm="none",
    )
    r = client.get("/interviews/history", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_a_valid_token_is_accepted(client: TestClient, settings: Settings) -> None:
    r = client.get("/interviews/history", headers={"Authorization": f"Bearer {_token(settings)}"})
    assert r.status_code == 200
    assert r.json() == {"interviews": [], "total": 0, "page": 1, "totalPages": 0}


def test_dev_token_carries_user_and_groups(client: TestClient, settings: Settings) -> None:
    r = client.post("/dev/token", json={"userId": "alice", "groups": ["admin"]})
    assert r.status_code == 200
    claims = jwt.decode(
        r.json()["token"],
        settings.local_jwt_secret.get_secret_value(),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=LOCAL_ISSUER,
    )
    assert claims["sub"] == "alice"
    assert claims["cognito:groups"] == ["admin"]
    assert claims["exp"] > time.time()


@pytest.mark.parametrize(
    "body", [{}, {"userId": ""}, {"userId": "a b"}, {"userId": "x" * 129}, {"userId": "a", "groups": "admin"}]
)
def test_dev_token_validates_its_input(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/dev/token", json=body)
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"


def test_public_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "stage": "test"}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/interviews/setup" in spec["paths"]
    assert "/interviews/history" in spec["paths"]


def test_a_deployed_stage_has_no_dev_token_route_and_trusts_only_the_authorizer(
    make_container: Callable[..., Container],
) -> None:
    deployed = deployed_settings()
    client = TestClient(create_app(make_container(settings_=deployed)))
    assert client.post("/dev/token", json={"userId": "alice"}).status_code == 404
    # a locally signed token means nothing to a deployed stage: only the authorizer's claims count
    local_client_token = jwt.encode(
        {"sub": "alice", "iss": LOCAL_ISSUER, "aud": "prepkit-api", "exp": int(time.time()) + 60},
        deployed.local_jwt_secret.get_secret_value(),
        algorithm="HS256",
    )
    r = client.get("/interviews/history", headers={"Authorization": f"Bearer {local_client_token}"})
    assert r.status_code == 401
    assert client.get("/health").json()["stage"] == "prod"
