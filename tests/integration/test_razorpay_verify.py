"""/payments/verify as Razorpay really is: the Checkout signature proves authorization only, so the
payment is fetched from Razorpay's API (here the simulator, which behaves as the API does with automatic
capture) and only a captured payment pays the session. Over HTTP, real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from prepkit.domain.models import PaymentStatus
from prepkit.domain.signatures import checkout_signature
from prepkit.local.checkout import webhook_body
from tests.fakes import RecordingMetrics, secret_of
from tests.integration.conftest import Flow
from tests.integration.test_payments import post_webhook

MakeFlow = Callable[..., Flow]


def verify(flow: Flow, order_id: str, payment_id: str, user: str = "alice") -> Any:
    secret = secret_of(flow.settings.razorpay_key_secret)
    body = {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment_id,
        "razorpay_signature": checkout_signature(secret, order_id, payment_id),
    }
    return flow.client.post("/payments/verify", json=body, headers=flow.headers(user))


def stored(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = db.execute("SELECT payment_id, status FROM payments ORDER BY payment_id").fetchall()
    return [tuple(r) for r in rows]


def test_the_checkout_simulator_captures_like_razorpay_with_automatic_capture(make_flow: MakeFlow) -> None:
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    assert flow.payments.orders[order_id]["payment"]["capture"] == "automatic"
    paid = flow.checkout(order_id)
    fetched = flow.payments.fetch_payment(paid["razorpay_payment_id"])
    assert (fetched.status, fetched.order_id, fetched.amount) == (PaymentStatus.CAPTURED, order_id, 14900)
    for thread in flow.container.extras.get("threads", []):
        thread.join(5)
    assert flow.deliveries == [
        ("/webhooks/razorpay", 200),
        ("/webhooks/razorpay", 200),
    ]  # authorized, captured
    assert flow.status(sid) == "paid"  # the webhooks alone pay it (the candidate closed the tab)


def test_an_authorized_payment_is_recorded_and_the_capture_webhook_pays(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    payment = flow.payments.add_payment(order_id, status="authorized")
    r = verify(flow, order_id, payment["id"])
    assert r.status_code == 200
    assert r.json() == {"sessionId": sid, "status": "pending_payment", "paymentStatus": "authorized"}
    assert stored(db) == [(payment["id"], "authorized")]
    started = db.execute("SELECT pipeline_started_at FROM interview_sessions WHERE id = %s", (sid,))
    assert started.fetchone() == (None,)  # no pipeline for an authorization
    # Razorpay captures it (automatic capture) and says so
    payment.update(status="captured", captured=True)
    body = json.dumps(webhook_body("payment.captured", payment)).encode()
    assert post_webhook(flow, body, event_id="evt_cap").status_code == 200
    assert flow.status(sid) == "paid"
    assert stored(db) == [(payment["id"], "captured")]
    assert metrics.total("PaymentCaptured") == 1
    # verify again now: the same truth
    assert verify(flow, order_id, payment["id"]).json() == {
        "sessionId": sid,
        "status": "paid",
        "paymentStatus": "captured",
    }


def test_a_payment_razorpay_says_failed_fails_the_attempt(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    payment = flow.payments.add_payment(order_id, status="failed")
    r = verify(flow, order_id, payment["id"])
    assert r.json() == {"sessionId": sid, "status": "payment_failed", "paymentStatus": "failed"}
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["error"]["code"] == "PAYMENT_FAILED"
    # the next attempt succeeds and leaves no error behind
    flow.pay(sid)
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["status"] == "paid" and session.get("error") is None


def test_a_payment_not_yet_authorized_records_nothing(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    payment = flow.payments.add_payment(order_id, status="created")
    r = verify(flow, order_id, payment["id"])
    assert r.json() == {"sessionId": sid, "status": "pending_payment", "paymentStatus": "created"}
    assert stored(db) == []


@pytest.mark.parametrize("differs", ["order", "amount", "currency"])
def test_a_payment_that_does_not_match_the_stored_order_is_refused(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics, differs: str
) -> None:
    """Signed for this order, but Razorpay has the payment on another order or for another amount."""
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    other_order = flow.order(flow.setup())["orderId"]
    payment = flow.payments.add_payment(other_order if differs == "order" else order_id)
    if differs == "amount":
        payment["amount"] = 100
    elif differs == "currency":
        payment["currency"] = "USD"
    r = verify(flow, order_id, payment["id"])
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_SIGNATURE"
    assert stored(db) == []
    assert flow.status(sid) == "pending_payment"
    assert [p for p in metrics.points if p[0] == "PaymentMismatch"] == [("PaymentMismatch", 1, {})]


def test_razorpay_unreachable_at_verify_is_a_recoverable_502_that_changes_nothing(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    r = verify(flow, order_id, "pay_UNKNOWN00001")  # the simulated API answers an error for it
    assert r.status_code == 502
    assert r.json()["code"] == "PAYMENT_FAILED"
    assert r.json()["recoverable"] is True
    assert stored(db) == []
    assert flow.status(sid) == "pending_payment"
