"""Body caps per route (prepkit.routes): the JSON API keeps a small cap, the webhooks take what their
vendors really send; a 413 is logged. Through HTTP against the app, declared and streamed sizes."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from prepkit.container import vapi_auth
from prepkit.routes import (
    JSON_MAX_BODY_BYTES,
    RAZORPAY_WEBHOOK_MAX_BODY_BYTES,
    ROUTES,
    VAPI_WEBHOOK_MAX_BODY_BYTES,
    match,
    route_for,
)
from tests.fakes import secret_of
from tests.integration.conftest import SETUP_BODY, Flow
from tests.integration.test_observability import info_logs  # noqa: F401 (a fixture)

MakeFlow = Callable[..., Flow]
KiB, MiB = 1024, 1024 * 1024
#: what the vendors send at most, that no cap may be below: Vapi's end-of-call-report is ~150 KB for a
#: 45-minute call (24 KB with only its required fields) and grows with the call; Razorpay's events are
#: a few KB (shared/vendor/razorpay)
VENDOR_MINIMUM = {"/webhooks/vapi": 1 * MiB, "/webhooks/razorpay": 64 * KiB}


# --- the table ---------------------------------------------------------------------------------


def test_webhooks_take_at_least_what_their_vendor_sends_and_the_api_keeps_a_small_cap() -> None:
    for route in ROUTES:
        if route.path in VENDOR_MINIMUM:
            for json_cap in (1024, JSON_MAX_BODY_BYTES, 1 * MiB):  # the setting's whole range
                assert route.body_limit(json_cap) >= VENDOR_MINIMUM[route.path], (route.path, json_cap)
        else:
            assert route.body_limit() == JSON_MAX_BODY_BYTES == 16 * KiB, route.path
            assert route.body_limit(4096) == 4096
    assert VAPI_WEBHOOK_MAX_BODY_BYTES <= 6 * 1000 * 1000  # Lambda's synchronous payload limit


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("POST", "/webhooks/vapi", "/webhooks/vapi"),
        ("POST", "/webhooks/vapi/", "/webhooks/vapi"),
        ("POST", "/webhooks/razorpay", "/webhooks/razorpay"),
        ("POST", "/interviews/4f1c2a9e-0000-4000-8000-000000000001/order", "/interviews/{session_id}/order"),
        ("GET", "/interviews/history", "/interviews/history"),
        ("GET", "/interviews/abc", "/interviews/{session_id}"),
        ("GET", "/webhooks/vapi", None),
        ("POST", "/webhooks/vapi/extra", None),
        ("POST", "/interviews//order", None),
        ("POST", "/nowhere", None),
    ],
)
def test_a_request_path_matches_its_template(method: str, path: str, template: str | None) -> None:
    route = match(method, path)
    assert (route.path if route else None) == template
    if template is not None:
        assert route is route_for(method, template)


# --- over HTTP ---------------------------------------------------------------------------------


def _vapi(flow: Flow, size: int) -> bytes:
    """An authenticated-to-be Vapi message of exactly `size` bytes (a transcript message, ignored)."""
    head = b'{"message": {"type": "transcript", "call": {"id": "call-x"}, "transcript": "'
    tail = b'"}}'
    return head + b"w" * (size - len(head) - len(tail)) + tail


def _post_vapi(flow: Flow, body: bytes, *, streamed: bool = False) -> Any:
    headers = {"content-type": "application/json", **vapi_auth(flow.settings).sign(body, int(time.time()))}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * KiB):
            yield body[i : i + 64 * KiB]

    return flow.client.post("/webhooks/vapi", content=chunks() if streamed else body, headers=headers)


def _post_razorpay(flow: Flow, size: int) -> Any:
    head = b'{"entity": "event", "event": "subscription.charged", "payload": {}, "pad": "'
    body = head + b"p" * (size - len(head) - 2) + b'"}'
    secret = secret_of(flow.settings.razorpay_webhook_secret)
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-razorpay-signature": signature, "x-razorpay-event-id": f"evt_{size}"}
    return flow.client.post("/webhooks/razorpay", content=body, headers=headers)


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_the_vapi_webhook_takes_megabytes_and_refuses_past_its_cap(
    make_flow: MakeFlow, streamed: bool
) -> None:
    flow = make_flow()
    r = _post_vapi(flow, _vapi(flow, 3 * MiB // 2), streamed=streamed)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "transcript ignored"
    assert _post_vapi(flow, _vapi(flow, VAPI_WEBHOOK_MAX_BODY_BYTES), streamed=streamed).status_code == 200
    r = _post_vapi(flow, _vapi(flow, VAPI_WEBHOOK_MAX_BODY_BYTES + 1), streamed=streamed)
    assert r.status_code == 413
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert r.json()["details"] == {"maxBytes": VAPI_WEBHOOK_MAX_BODY_BYTES}


def test_the_razorpay_webhook_takes_its_cap(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    r = _post_razorpay(flow, 200 * KiB)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "subscription.charged ignored"
    assert db.execute("SELECT count(*) FROM provider_events WHERE provider = 'razorpay'").fetchone() == (1,)
    r = _post_razorpay(flow, RAZORPAY_WEBHOOK_MAX_BODY_BYTES + 1)
    assert r.status_code == 413
    assert r.json()["details"] == {"maxBytes": RAZORPAY_WEBHOOK_MAX_BODY_BYTES}


def test_the_json_api_and_unknown_paths_keep_the_small_cap(make_flow: MakeFlow) -> None:
    flow = make_flow()
    big = json.dumps({**SETUP_BODY, "specificRequirements": "z" * JSON_MAX_BODY_BYTES}).encode()
    for path in ("/interviews/setup", "/nowhere", "/webhooks/vapi/extra"):
        r = flow.client.post(
            path, content=big, headers={**flow.headers("alice"), "content-type": "application/json"}
        )
        assert r.status_code == 413, path
        assert r.json()["details"] == {"maxBytes": JSON_MAX_BODY_BYTES}


def test_the_json_cap_setting_changes_the_api_only(make_flow: MakeFlow) -> None:
    flow = make_flow(max_body_bytes=2048)
    body = json.dumps({**SETUP_BODY, "specificRequirements": "z" * 3000}).encode()
    r = flow.client.post(
        "/interviews/setup",
        content=body,
        headers={**flow.headers("alice"), "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["details"] == {"maxBytes": 2048}
    assert _post_vapi(flow, _vapi(flow, 1 * MiB)).status_code == 200
    assert _post_razorpay(flow, 100 * KiB).status_code == 200


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_a_413_is_logged_with_the_route_sizes_limit_and_request_id(
    make_flow: MakeFlow,
    info_logs: io.StringIO,  # noqa: F811
    streamed: bool,
) -> None:
    flow = make_flow()
    body = _vapi(flow, VAPI_WEBHOOK_MAX_BODY_BYTES + 10)
    headers = {
        "content-type": "application/json",
        "x-request-id": "req-too-large-1",
        **vapi_auth(flow.settings).sign(body, int(time.time())),
    }
    content: Any = iter([body[:MiB], body[MiB:]]) if streamed else body
    r = flow.client.post("/webhooks/vapi", content=content, headers=headers)
    assert r.status_code == 413
    lines = _lines(info_logs)
    refused = [line for line in lines if line.get("message") == "request body too large"]
    assert len(refused) == 1
    line = refused[0]
    assert line["level"] == "WARNING"
    assert line["route"] == "/webhooks/vapi"
    assert line["method"] == "POST"
    assert line["limit_bytes"] == VAPI_WEBHOOK_MAX_BODY_BYTES
    assert line["request_id"] == line["correlation_id"] == "req-too-large-1"
    if streamed:  # no Content-Length: refused as soon as what arrived is past the cap
        assert line.get("declared_bytes") is None
        assert VAPI_WEBHOOK_MAX_BODY_BYTES < line["streamed_bytes"] <= len(body)
    else:
        assert line["declared_bytes"] == len(body)
        assert line.get("streamed_bytes") is None
    request = [line for line in lines if line.get("message") == "request" and line.get("status") == 413]
    assert len(request) == 1
    assert request[0]["route"] == "/webhooks/vapi"
    assert request[0]["correlation_id"] == "req-too-large-1"


def test_a_413_on_an_unknown_path_logs_the_raw_path(
    make_flow: MakeFlow,
    info_logs: io.StringIO,  # noqa: F811
) -> None:
    flow = make_flow()
    r = flow.client.post("/no/such/route", content=b"x" * (JSON_MAX_BODY_BYTES + 1))
    assert r.status_code == 413
    refused = [line for line in _lines(info_logs) if line.get("message") == "request body too large"]
    assert [(line["route"], line["method"], line["limit_bytes"]) for line in refused] == [
        ("/no/such/route", "POST", JSON_MAX_BODY_BYTES)
    ]
    assert refused[0]["declared_bytes"] == JSON_MAX_BODY_BYTES + 1
