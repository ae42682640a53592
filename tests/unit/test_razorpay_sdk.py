"""The Razorpay adapter on the `razorpay` SDK, against a loopback stub of Razorpay's API answering with
the SDK's own mocks (shared/vendor/razorpay/sdk_mock_*.json, byte for byte): what it sends, the timeout
on every call, and every way the API can fail becoming PaymentFailed. Plus the SDK's signature vectors,
through our own functions and through the SDK's utility."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import razorpay
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from razorpay.errors import SignatureVerificationError

from prepkit.adapters.razorpay import RazorpayGateway
from prepkit.domain.errors import PaymentFailed
from prepkit.domain.models import PaymentStatus
from prepkit.domain.signatures import (
    checkout_signature,
    checkout_signature_valid,
    hmac_hex,
    razorpay_webhook_valid,
)

ROOT = Path(__file__).resolve().parents[2]
RAZORPAY = Path(os.environ.get("PREPKIT_VENDOR_DIR", ROOT.parent / "shared" / "vendor")) / "razorpay"


def mock(name: str) -> bytes:
    return (RAZORPAY / f"sdk_mock_{name}.json").read_bytes()


# -- the SDK's own signature vectors (razorpay-python tests/test_client_utility.py) ---------------

WEBHOOK_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"
CHECKOUT_SIGNATURE = "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89"


def test_the_sdk_webhook_vector_through_our_functions_and_the_sdk() -> None:
    body = mock("fake_payment_authorized_webhook")
    assert len(body) == 971  # the file's exact bytes, trailing newline included
    assert hmac_hex("key_secret", body) == WEBHOOK_SIGNATURE
    assert razorpay_webhook_valid("key_secret", body, WEBHOOK_SIGNATURE)
    assert not razorpay_webhook_valid("key_secret", body.rstrip(b"\n"), WEBHOOK_SIGNATURE)
    assert not razorpay_webhook_valid("other_secret", body, WEBHOOK_SIGNATURE)
    utility = razorpay.Client(auth=("key_id", "key_secret")).utility
    assert utility.verify_webhook_signature(body.decode(), WEBHOOK_SIGNATURE, "key_secret") is True
    with pytest.raises(SignatureVerificationError):
        utility.verify_webhook_signature(body.decode().rstrip("\n"), WEBHOOK_SIGNATURE, "key_secret")


def _sdk_says(body: str, signature: str, secret: str) -> bool:
    try:
        return bool(razorpay.Utility(None).verify_webhook_signature(body, signature, secret))
    except SignatureVerificationError:
        return False


@settings(max_examples=200, deadline=None, database=None)
@given(
    body=st.text(),
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    tamper=st.sampled_from(["none", "other", "flip", "empty"]),
)
def test_our_webhook_check_agrees_with_the_sdks(body: str, secret: str, tamper: str) -> None:
    """Why the check is ours and not the SDK's (which we test it against here): the SDK's
    verify_webhook_signature takes a str and re-encodes it (a raw body is bytes: TypeError), and a
    signature header with a non-ASCII character makes its hmac.compare_digest raise TypeError (a 500 on
    anyone's input). On every body and ASCII signature the two agree."""
    raw = body.encode()  # st.text() draws no lone surrogates: UTF-8, as the SDK needs
    right = hmac_hex(secret, raw)
    signature = {"none": right, "other": hmac_hex(secret + "x", raw), "flip": right[::-1], "empty": ""}[
        tamper
    ]
    assert razorpay_webhook_valid(secret, raw, signature) is _sdk_says(body, signature, secret)


def test_a_non_ascii_signature_is_refused_by_ours_where_the_sdk_raises() -> None:
    with pytest.raises(TypeError):
        razorpay.Utility(None).verify_webhook_signature("{}", "é" * 64, "key_secret")
    assert razorpay_webhook_valid("key_secret", b"{}", "é" * 64) is False


def test_the_sdk_checkout_vector_through_our_functions_and_the_sdk() -> None:
    assert checkout_signature("key_secret", "fake_order_id", "fake_payment_id") == CHECKOUT_SIGNATURE
    assert checkout_signature_valid("key_secret", "fake_order_id", "fake_payment_id", CHECKOUT_SIGNATURE)
    assert not checkout_signature_valid("key_secret", "fake_order_id", "other_payment_id", CHECKOUT_SIGNATURE)
    utility = razorpay.Client(auth=("key_id", "key_secret")).utility
    fields = {
        "razorpay_order_id": "fake_order_id",
        "razorpay_payment_id": "fake_payment_id",
        "razorpay_signature": CHECKOUT_SIGNATURE,
    }
    assert utility.verify_payment_signature(fields) is True
    with pytest.raises(SignatureVerificationError):
        utility.verify_payment_signature({**fields, "razorpay_order_id": "other_order_id"})


# -- a loopback stub of Razorpay's API ----------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    hang_s: float = 0.0


@dataclass
class Stub:
    url: str
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def stub() -> Iterator[Stub]:
    holder: dict[str, Stub] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            s = holder["stub"]
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            s.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            answer = s.answers.get((self.command, self.path.split("?")[0]))
            if answer is None:
                answer = Answer(404, b'{"error": {"code": "BAD_REQUEST_ERROR", "description": "no route"}}')
            if answer.hang_s:
                s.release.wait(answer.hang_s)
            self.send_response(answer.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["stub"] = Stub(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["stub"]
    holder["stub"].release.set()
    server.shutdown()
    server.server_close()


class RecordingSession(requests.Session):
    """A real requests session that notes the options every request was sent with."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return super().request(method, url, *args, **kwargs)


def gateway(
    stub: Stub, session: requests.Session | None = None, read_timeout_s: float = 2.0
) -> RazorpayGateway:
    return RazorpayGateway(
        "rzp_test_key",
        "stub-secret",
        api_url=stub.url,
        connect_timeout_s=0.5,
        read_timeout_s=read_timeout_s,
        session=session,
    )


def test_an_order_asks_for_automatic_capture_at_the_servers_amount(stub: Stub) -> None:
    stub.answers[("POST", "/v1/orders")] = Answer(200, mock("fake_order"))
    session = RecordingSession()
    order_id = gateway(stub, session).create_order(
        amount=14900, currency="INR", receipt="sess-1", notes={"sessionId": "sess-1", "userId": "alice"}
    )
    assert order_id == "fake_order_id"
    (sent,) = stub.requests
    assert sent["method"] == "POST" and sent["path"] == "/v1/orders"
    assert json.loads(sent["body"]) == {
        "amount": 14900,
        "currency": "INR",
        "receipt": "sess-1",
        "notes": {"sessionId": "sess-1", "userId": "alice"},
        "payment": {
            "capture": "automatic",
            "capture_options": {
                "automatic_expiry_period": 12,
                "manual_expiry_period": 7200,
                "refund_speed": "optimum",
            },
        },
    }
    assert (
        sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"rzp_test_key:stub-secret").decode()
    )
    assert sent["headers"]["Content-type"] == "application/json"
    assert [o["timeout"] for o in session.sent] == [(0.5, 2.0)]


@pytest.mark.parametrize(
    ("name", "status", "order_id"),
    [("fake_payment", PaymentStatus.CREATED, ""), ("fake_captured_payment", PaymentStatus.CAPTURED, "")],
)
def test_a_payment_is_fetched_as_razorpay_has_it(
    stub: Stub, name: str, status: PaymentStatus, order_id: str
) -> None:
    entity = json.loads(mock(name))
    stub.answers[("GET", f"/v1/payments/{entity['id']}")] = Answer(200, mock(name))
    session = RecordingSession()
    payment = gateway(stub, session).fetch_payment(entity["id"])
    assert (payment.payment_id, payment.status, payment.order_id, payment.amount, payment.currency) == (
        entity["id"], status, order_id, 500, "INR",
    )  # fmt: skip
    assert [o["timeout"] for o in session.sent] == [(0.5, 2.0)]


def test_a_refund_sends_its_idempotency_key(stub: Stub) -> None:
    stub.answers[("POST", "/v1/payments/pay_FIKOnlyii5QGNx/refund")] = Answer(200, mock("fake_refund"))
    session = RecordingSession()
    refund = gateway(stub, session).refund(
        payment_id="pay_FIKOnlyii5QGNx", amount=300100, idempotency_key="refund-session-1", notes={"k": "v"}
    )
    assert refund == ("rfnd_FP8DDKxqJif6ca", "processed")
    (sent,) = stub.requests
    assert sent["headers"]["X-Refund-Idempotency"] == "refund-session-1"
    assert json.loads(sent["body"]) == {"amount": 300100, "speed": "normal", "notes": {"k": "v"}}
    assert [o["timeout"] for o in session.sent] == [(0.5, 2.0)]


def test_a_hanging_razorpay_is_payment_failed_within_the_timeout(stub: Stub) -> None:
    stub.answers[("POST", "/v1/orders")] = Answer(200, mock("fake_order"), hang_s=10)
    started = time.monotonic()
    with pytest.raises(PaymentFailed, match="ReadTimeout"):
        gateway(stub, read_timeout_s=0.3).create_order(amount=14900, currency="INR", receipt="r", notes={})
    assert time.monotonic() - started < 2
    assert len(stub.requests) == 1  # no retry


SERVER_ERROR = b'{"error": {"code": "SERVER_ERROR", "description": "The server encountered an error."}}'
GATEWAY_ERROR = b'{"error": {"code": "GATEWAY_ERROR", "description": "Payment processing failed."}}'


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, None, "BadRequestError: The amount is invalid"),
        (502, GATEWAY_ERROR, "GatewayError"),
        (500, SERVER_ERROR, "ServerError"),
        (503, b"<html>Service Unavailable</html>", "JSONDecodeError"),
        (200, b"not json", "JSONDecodeError"),
        (200, b"[]", "not an object"),
    ],
)
def test_every_api_failure_is_payment_failed(stub: Stub, status: int, body: bytes | None, error: str) -> None:
    answer = Answer(status, body if body is not None else mock("bad_request_error"))
    stub.answers[("POST", "/v1/orders")] = answer
    stub.answers[("GET", "/v1/payments/pay_1")] = answer
    stub.answers[("POST", "/v1/payments/pay_1/refund")] = answer
    rzp = gateway(stub)
    with pytest.raises(PaymentFailed, match=error):
        rzp.create_order(amount=14900, currency="INR", receipt="r", notes={})
    with pytest.raises(PaymentFailed, match=error):
        rzp.fetch_payment("pay_1")
    with pytest.raises(PaymentFailed, match=error):
        rzp.refund(payment_id="pay_1", amount=100, idempotency_key="refund-0123456789", notes={})
    assert len(stub.requests) == 3


def test_an_unreachable_razorpay_is_payment_failed() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    rzp = RazorpayGateway(
        "k", "s", api_url=f"http://127.0.0.1:{port}", connect_timeout_s=0.5, read_timeout_s=0.5
    )
    with pytest.raises(PaymentFailed, match="ConnectionError"):
        rzp.fetch_payment("pay_1")


def test_a_fetched_payment_razorpay_cannot_describe_is_payment_failed(stub: Stub) -> None:
    stub.answers[("GET", "/v1/payments/pay_1")] = Answer(200, b'{"id": "pay_1", "status": "teleported"}')
    with pytest.raises(PaymentFailed, match="unknown payment status"):
        gateway(stub).fetch_payment("pay_1")
