"""Response headers and error bodies a client may rely on: every response says `nosniff`; every response
that may carry personal data (under /interviews, /payments, /admin, /dev) says `Cache-Control: no-store`,
errors included; no error body names a library's exception class (the log does)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from prepkit.adapters import aws
from prepkit.adapters.postgres_flow import PostgresFlowRepository
from prepkit.adapters.razorpay import RazorpayGateway
from prepkit.adapters.workflow import StepFunctionsWorkflow
from prepkit.api.app import create_app
from prepkit.api.middleware import PERSONAL_DATA_PREFIXES
from prepkit.container import Container
from prepkit.domain.errors import SEED
from prepkit.domain.scoring import OfflineReportWriter
from prepkit.local.stack import free_port
from prepkit.routes import ROUTES
from tests.integration.conftest import SETUP_BODY

Auth = Callable[[str], dict[str, str]]
SESSION = "6f1c1a52-0000-4000-8000-000000000000"


def _personal(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PERSONAL_DATA_PREFIXES)


def test_the_personal_data_prefixes_are_the_private_api() -> None:
    """Every route that needs a signed-in user is under one of the prefixes (so none is missed)."""
    assert PERSONAL_DATA_PREFIXES == ("/interviews", "/payments", "/admin", "/dev")
    assert all(_personal(r.path) for r in ROUTES if not r.public)
    assert not [r.path for r in ROUTES if _personal(r.path) and r.path.startswith("/webhooks")]


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
def test_every_route_says_nosniff_and_personal_ones_no_store(
    client: TestClient, auth: Auth, route: Any, signed_in: bool
) -> None:
    headers = auth("alice") if signed_in else {}
    r = client.request(route.method, route.path.replace("{session_id}", SESSION), headers=headers, json={})
    assert r.headers["X-Content-Type-Options"] == "nosniff", r.status_code
    if _personal(route.path):
        assert r.headers["Cache-Control"] == "no-store", r.status_code


def test_personal_data_and_its_errors_are_never_stored(client: TestClient, auth: Auth) -> None:
    token = client.post("/dev/token", json={"userId": "alice"})
    setup = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("alice"))
    sid = setup.json()["sessionId"]
    responses = {
        "token": token,
        "setup": setup,
        "status": client.get(f"/interviews/{sid}", headers=auth("alice")),
        "history": client.get("/interviews/history", headers=auth("alice")),
        "someone else's session": client.get(f"/interviews/{sid}", headers=auth("mallory")),
        "unknown path": client.get("/interviews/a/b/c", headers=auth("alice")),
        "too large": client.post(
            "/interviews/setup",
            content=b"x" * 200_000,
            headers={**auth("alice"), "content-type": "text/plain"},
        ),
        "admin refused": client.get("/admin/metrics", headers=auth("alice")),
    }
    assert [r.status_code for r in responses.values()] == [200, 200, 200, 200, 404, 404, 413, 403]
    for name, r in responses.items():
        assert r.headers.get("Cache-Control") == "no-store", name
        assert r.headers.get("X-Content-Type-Options") == "nosniff", name
    health = client.get("/health")
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in health.headers.get("Cache-Control", "")  # nothing personal in it


def test_an_unhandled_error_says_nosniff_and_no_store(client: TestClient, auth: Auth) -> None:
    container: Any = client.app.state.container  # type: ignore[attr-defined]

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("exploded")

    container.repo.price_for = broken
    r = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("alice"))
    assert r.status_code == 500
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Request-Id"]


def test_a_refused_token_does_not_name_the_jwt_librarys_exception(client: TestClient) -> None:
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."):
        r = client.get("/interviews/history", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.json()["error"] == "invalid token"
        assert "Error" not in r.text


def test_an_unreachable_payment_provider_is_a_502_that_names_no_exception(
    make_container: Callable[..., Container],
    settings: Any,
    pool: ConnectionPool,
    auth: Auth,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real Razorpay adapter against a closed loopback port: requests' ConnectionError becomes
    PaymentFailed; the body says what failed in fixed words, the log keeps the class name."""
    gateway = RazorpayGateway(
        "rzp_test_k",
        "s",
        api_url=f"http://127.0.0.1:{free_port()}",
        connect_timeout_s=0.5,
        read_timeout_s=0.5,
    )
    container = make_container(
        flow_repo=PostgresFlowRepository(pool),
        payments=gateway,
        report_writer=OfflineReportWriter(),
        workflow=StepFunctionsWorkflow(
            aws.client("stepfunctions", settings), settings.pipeline_state_machine_arn
        ),
    )
    client = TestClient(create_app(container), raise_server_exceptions=False)
    headers = {
        "Authorization": f"Bearer {client.post('/dev/token', json={'userId': 'alice'}).json()['token']}"
    }
    sid = client.post("/interviews/setup", json=SETUP_BODY, headers=headers).json()["sessionId"]
    with caplog.at_level(logging.ERROR, logger="prepkit"):
        r = client.post(f"/interviews/{sid}/order", headers=headers)
    assert r.status_code == 502
    message, user_message, recoverable = SEED["PAYMENT_FAILED"]
    assert r.json() == {
        "error": message,
        "code": "PAYMENT_FAILED",
        "userMessage": user_message,
        "recoverable": recoverable,
        "details": {},
    }
    assert "ConnectionError" not in r.text and "127.0.0.1" not in r.text
    assert any("ConnectionError" in rec.getMessage() for rec in caplog.records)  # the log says what
