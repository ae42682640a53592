"""Errors always in the documented shape; unknown routes 404, wrong methods 405; nothing a client can
send produces a 500."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from prepkit.domain.errors import SEED
from tests.integration.conftest import SETUP_BODY

Auth = Callable[[str], dict[str, str]]
SHAPE = {"error", "code", "userMessage", "recoverable", "details"}


@pytest.mark.parametrize("path", ["/nope", "/interviews", "/interviews/setup/extra", "/webhooks/unknown"])
def test_unknown_route_is_404_in_shape(client: TestClient, auth: Auth, path: str) -> None:
    r = client.get(path, headers=auth("alice"))
    assert r.status_code == 404
    assert set(r.json()) == SHAPE and r.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/interviews/setup"),
        ("PUT", "/interviews/setup"),
        ("DELETE", "/interviews/history"),
        ("PUT", "/health"),
        ("GET", "/dev/token"),
    ],
)
def test_wrong_method_is_405_in_shape(client: TestClient, auth: Auth, method: str, path: str) -> None:
    r = client.request(method, path, headers=auth("alice"))
    assert r.status_code == 405, r.text
    assert set(r.json()) == SHAPE and r.json()["code"] == "METHOD_NOT_ALLOWED"


def _hostile_values() -> list[object]:
    return [
        None, True, 0, -1, 2**64, 1e308, float("1e-300"), "", " ", "\u0000", "💥" * 50, "a" * 5000,
        [], [None], {}, {"$gt": ""}, ["python"] * 100, "'; DROP TABLE interview_sessions; --",
    ]  # fmt: skip


FIELDS = [
    "type", "difficulty", "duration", "focusAreas", "specificRequirements", "language", "voice", "pace",
    "followUpStyle",
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), list(itertools.product(FIELDS, _hostile_values())))
def test_no_field_value_gives_a_500(client: TestClient, auth: Auth, field: str, value: object) -> None:
    r = client.post("/interviews/setup", json={**SETUP_BODY, field: value}, headers=auth("fuzz"))
    assert r.status_code in (200, 400, 413, 429), r.text
    assert r.status_code == 200 or set(r.json()) == SHAPE


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"type=python&difficulty=easy", "application/x-www-form-urlencoded"),
        (json.dumps(SETUP_BODY).encode(), "text/plain"),
        (b"\x00\x01\x02", "application/octet-stream"),
        (b'{"type": "python", "type": "java"}', "application/json"),
        (b'{"duration": 1' + b"0" * 5000 + b"}", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"focusAreas": "' + "é".encode() * 300 + b'"}', "application/json; charset=latin-1"),
    ],
)
def test_no_body_gives_a_500(client: TestClient, auth: Auth, content: bytes, content_type: str) -> None:
    r = client.post(
        "/interviews/setup", content=content, headers={**auth("fuzz2"), "content-type": content_type}
    )
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == SHAPE


@pytest.mark.parametrize(
    "path",
    [
        "/interviews/%00",
        "/interviews/" + "a" * 3000,
        "/interviews/../../etc/passwd",
        "/interviews/history?page=99999999999999999999",
        "/interviews/history?limit=%F0%9F%92%A5",
        "/interviews/history?page=1&page=2",
    ],
)
def test_no_path_or_query_gives_a_500(client: TestClient, auth: Auth, path: str) -> None:
    r = client.get(path, headers=auth("fuzz3"))
    assert r.status_code < 500, r.text
    assert r.status_code == 200 or set(r.json()) == SHAPE


def test_an_unexpected_failure_is_a_500_in_shape_without_a_trace(client: TestClient, auth: Auth) -> None:
    """Not something a client can cause: the repository itself breaking."""
    container: Any = client.app.state.container  # type: ignore[attr-defined]

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("database exploded at /secret/path")

    container.repo.price_for = broken
    r = client.post("/interviews/setup", json=SETUP_BODY, headers=auth("alice"))
    assert r.status_code == 500
    message, user_message, recoverable = SEED["UNKNOWN_ERROR"]  # the seed's error table, verbatim
    assert r.json() == {
        "error": message,
        "code": "UNKNOWN_ERROR",
        "userMessage": user_message,
        "recoverable": recoverable,
        "details": {},
    }
    assert "exploded" not in r.text and "Traceback" not in r.text
