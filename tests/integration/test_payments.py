"""Orders, Checkout verification and the Razorpay webhook: signatures, dedupe, any delivery order."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from prepkit.domain.signatures import checkout_signature
from tests.fakes import RecordingMetrics, secret_of
from tests.integration.conftest import Flow

MakeFlow = Callable[..., Flow]
EVENTS = Path(__file__).resolve().parents[1] / "events"


def event(name: str, **values: str | int) -> bytes:
    text = (EVENTS / name).read_text()
    for key, value in values.items():
        if isinstance(value, int):
            text = text.replace(f'"{key}"', str(value))  # amounts: a placeholder string becomes a number
        text = text.replace(key, str(value))
    return text.encode()


def post_webhook(
    flow: Flow, body: bytes, *, event_id: str, secret: str | None = None, signature: str | None = None
) -> Any:
    secret = secret or secret_of(flow.settings.razorpay_webhook_secret)
    sig = signature if signature is not None else hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return flow.client.post(
        "/webhooks/razorpay",
        content=body,
        headers={
            "content-type": "application/json",
            "x-razorpay-signature": sig,
            "x-razorpay-event-id": event_id,
        },
    )


#: every table a webhook (Razorpay's or Vapi's) may write; of the sessions, the columns a webhook writes
#: (the pipeline, in its own threads, parks its task token on a paid session at any moment)
TABLES = {
    "interview_sessions": "(id, status, error_code, error_message, error_recoverable, paid_at,"
    " pipeline_started_at, retakes_used)",
    "payment_orders": "t",
    "payments": "t",
    "refunds": "t",
    "provider_events": "t",
    "calls": "t",
    "reports": "t",
}


def snapshot(db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Every row of every table a webhook may write, as text."""
    return {
        table: [r[0] for r in db.execute(f"SELECT {row}::text FROM {table} t ORDER BY 1").fetchall()]  # noqa: S608
        for table, row in TABLES.items()
    }


def _paid_setup(flow: Flow) -> tuple[str, str]:
    sid = flow.setup()
    return sid, flow.order(sid)["orderId"]


def _status_and_payments(db: psycopg.Connection[Any], sid: str) -> tuple[Any, ...]:
    row = db.execute(
        "SELECT s.status, array_agg(p.payment_id || ':' || p.status ORDER BY p.payment_id)"
        " FROM interview_sessions s LEFT JOIN payments p ON p.session_id = s.id WHERE s.id = %s GROUP BY s.status",
        (sid,),
    ).fetchone()
    assert row is not None
    return tuple(row)


# -- orders -------------------------------------------------------------------------------------


def test_order_is_created_once_at_the_server_price(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    sid = flow.setup(duration=30)
    first = flow.order(sid)
    again = flow.order(sid)
    assert first == again
    assert first["amount"] == 19900
    assert first["currency"] == "INR"
    assert first["keyId"] == flow.settings.razorpay_key_id
    assert flow.payments.orders[first["orderId"]]["amount"] == 19900
    assert flow.payments.orders[first["orderId"]]["notes"]["sessionId"] == sid
    assert db.execute("SELECT count(*) FROM payment_orders").fetchone() == (1,)


def test_order_for_someone_elses_or_a_paid_session(make_flow: MakeFlow) -> None:
    flow = make_flow()
    sid = flow.setup()
    r = flow.client.post(f"/interviews/{sid}/order", headers=flow.headers("mallory"))
    assert r.status_code == 404
    assert r.json()["code"] == "SESSION_NOT_FOUND"
    flow.pay(sid)
    r = flow.client.post(f"/interviews/{sid}/order", headers=flow.headers("alice"))
    assert r.status_code == 409
    assert r.json()["code"] == "INVALID_STATE"


def test_a_razorpay_outage_is_a_recoverable_502_and_nothing_is_stored(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    flow.payments.fail_orders = True
    sid = flow.setup()
    r = flow.client.post(f"/interviews/{sid}/order", headers=flow.headers("alice"))
    assert r.status_code == 502
    assert r.json()["code"] == "PAYMENT_FAILED"
    assert r.json()["recoverable"] is True
    assert db.execute("SELECT count(*) FROM payment_orders").fetchone() == (0,)


# -- verify -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tamper", ["signature", "payment", "order", "other-user"])
def test_verify_refuses_a_bad_signature_and_changes_nothing(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics, tamper: str
) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    secret = secret_of(flow.settings.razorpay_key_secret)
    body = {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": "pay_ABC123",
        "razorpay_signature": checkout_signature(secret, order_id, "pay_ABC123"),
    }
    user = "alice"
    if tamper == "signature":
        body["razorpay_signature"] = checkout_signature("wrong-secret", order_id, "pay_ABC123")
    elif tamper == "payment":
        body["razorpay_payment_id"] = "pay_OTHER99"
    elif tamper == "order":
        other_sid = flow.setup()
        body["razorpay_order_id"] = flow.order(other_sid)["orderId"]  # signed for another order
    else:
        user = "mallory"
    r = flow.client.post("/payments/verify", json=body, headers=flow.headers(user))
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_SIGNATURE"
    assert _status_and_payments(db, sid) == ("pending_payment", [None])
    assert flow.status(sid) == "pending_payment"


def test_verify_twice_is_harmless(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    paid = flow.checkout(order_id)
    for _ in range(3):
        r = flow.client.post("/payments/verify", json=paid, headers=flow.headers("alice"))
        assert r.json() == {"sessionId": sid, "status": "paid", "paymentStatus": "captured"}
    assert db.execute("SELECT count(*) FROM payments").fetchone() == (1,)
    assert flow.execution(sid, timeout_s=0)["status"] == "RUNNING"  # one execution, waiting for the candidate


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"razorpay_order_id": "x"},
        {"razorpay_order_id": "o", "razorpay_payment_id": "p", "razorpay_signature": "s", "amount": 1},
    ],
)
def test_verify_validates_its_body(make_flow: MakeFlow, body: dict[str, Any]) -> None:
    flow = make_flow()
    r = flow.client.post("/payments/verify", json=body, headers=flow.headers("alice"))
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"


# -- the webhook --------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["", "0" * 64, "garbage", None])
def test_webhook_with_a_bad_signature_is_401_and_writes_nothing(
    make_flow: MakeFlow, db: psycopg.Connection[Any], signature: str | None
) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_W1")
    headers = {"content-type": "application/json", "x-razorpay-event-id": "evt_1"}
    if signature is not None:
        headers["x-razorpay-signature"] = signature
    r = flow.client.post("/webhooks/razorpay", content=body, headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "INVALID_SIGNATURE"
    assert db.execute("SELECT count(*) FROM provider_events").fetchone() == (0,)
    assert _status_and_payments(db, sid) == ("pending_payment", [None])


def test_webhook_signed_with_the_key_secret_instead_of_the_webhook_secret_is_refused(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    _, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_W1")
    before = snapshot(db)
    r = post_webhook(flow, body, event_id="evt_k", secret=secret_of(flow.settings.razorpay_key_secret))
    assert r.status_code == 401
    assert snapshot(db) == before


def test_a_reserialised_body_fails_the_signature(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    _, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_W1")
    sig = hmac.new(
        secret_of(flow.settings.razorpay_webhook_secret).encode(), body, hashlib.sha256
    ).hexdigest()
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    before = snapshot(db)
    assert post_webhook(flow, compact, event_id="evt_c", signature=sig).status_code == 401
    assert snapshot(db) == before


def test_a_captured_webhook_alone_pays_and_starts_the_pipeline(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    """The candidate closed the browser: verify never comes."""
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_CLOSED1")
    r = post_webhook(flow, body, event_id="evt_captured_1")
    assert r.status_code == 200
    assert _status_and_payments(db, sid) == ("paid", ["pay_CLOSED1:captured"])
    assert flow.execution(sid, timeout_s=0)["status"] == "RUNNING"
    raw = db.execute("SELECT raw_body FROM provider_events WHERE event_id = 'evt_captured_1'").fetchone()
    assert raw == (body.decode(),)  # kept exactly as signed


def test_order_paid_also_pays(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    body = event("razorpay_order_paid.json", ORDER_ID=order_id, PAYMENT_ID="pay_OP1", SESSION_ID=sid)
    assert post_webhook(flow, body, event_id="evt_op").status_code == 200
    assert _status_and_payments(db, sid) == ("paid", ["pay_OP1:captured"])


def test_duplicate_deliveries_are_applied_once(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_DUP1")
    results = [post_webhook(flow, body, event_id="evt_dup").json()["result"] for _ in range(3)]
    assert results == ["payment.captured applied", "payment.captured duplicate", "payment.captured duplicate"]
    assert db.execute("SELECT count(*) FROM provider_events").fetchone() == (1,)
    assert _status_and_payments(db, sid) == ("paid", ["pay_DUP1:captured"])


ORDERS = {
    "failed then captured": ["failed", "captured"],
    "captured then failed": ["captured", "failed"],
    "captured, failed, captured again": ["captured", "failed", "captured"],
}


@pytest.mark.parametrize("sequence", list(ORDERS.values()), ids=list(ORDERS))
def test_any_delivery_order_ends_paid(
    make_flow: MakeFlow, db: psycopg.Connection[Any], sequence: list[str]
) -> None:
    """A payment.failed can come before or after the capture of the same payment: paid wins."""
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    for i, kind in enumerate(sequence):
        body = event(f"razorpay_payment_{kind}.json", ORDER_ID=order_id, PAYMENT_ID="pay_ORD1")
        assert post_webhook(flow, body, event_id=f"evt_{kind}_{i}").status_code == 200
    assert _status_and_payments(db, sid) == ("paid", ["pay_ORD1:captured"])


def test_a_failed_payment_marks_the_attempt_and_allows_another(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    body = event("razorpay_payment_failed.json", ORDER_ID=order_id, PAYMENT_ID="pay_F1")
    assert post_webhook(flow, body, event_id="evt_f1").status_code == 200
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["status"] == "payment_failed"
    assert session["error"]["code"] == "PAYMENT_FAILED"
    assert "UPI PIN" in session["error"]["userMessage"]
    # a new attempt on the same open order succeeds
    flow.pay(sid)
    assert flow.status(sid) == "paid"
    assert "pay_F1:failed" in _status_and_payments(db, sid)[1]


def test_a_payment_for_a_different_amount_does_not_pay(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow()
    sid, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_LOW").replace(
        b"14900", b"100"
    )
    assert post_webhook(flow, body, event_id="evt_low").status_code == 200
    assert post_webhook(flow, body, event_id="evt_low").status_code == 200  # a redelivery counts once
    assert flow.status(sid) == "pending_payment"
    assert metrics.total("PaymentMismatch") == 1
    assert db.execute("SELECT count(*) FROM payments").fetchone() == (0,)


def test_unknown_orders_and_event_types_are_acknowledged_and_ignored(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    body = event("razorpay_payment_captured.json", ORDER_ID="order_NOT_OURS", PAYMENT_ID="pay_X")
    assert post_webhook(flow, body, event_id="evt_x").json()["result"].endswith("unknown order ignored")
    other = json.dumps({"entity": "event", "event": "subscription.charged", "payload": {}}).encode()
    assert post_webhook(flow, other, event_id="evt_sub").json()["result"] == "subscription.charged ignored"
    assert db.execute("SELECT count(*) FROM payments").fetchone() == (0,)


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"event": "payment.captured", "payload": {"payment": {"entity": {}}}}']
)
def test_malformed_but_signed_bodies_are_a_400(
    make_flow: MakeFlow, db: psycopg.Connection[Any], body: bytes
) -> None:
    flow = make_flow()
    _paid_setup(flow)
    before = snapshot(db)
    r = post_webhook(flow, body, event_id="evt_bad")
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert snapshot(db) == before


def test_missing_event_id_is_a_400(make_flow: MakeFlow, db: psycopg.Connection[Any]) -> None:
    flow = make_flow()
    _, order_id = _paid_setup(flow)
    body = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID="pay_NOID1")
    sig = hmac.new(
        secret_of(flow.settings.razorpay_webhook_secret).encode(), body, hashlib.sha256
    ).hexdigest()
    before = snapshot(db)
    r = flow.client.post("/webhooks/razorpay", content=body, headers={"x-razorpay-signature": sig})
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert snapshot(db) == before  # a capture without its event id is not applied: Razorpay sends it again


def _race(*calls: Callable[[], int]) -> list[int]:
    results: list[int] = []
    threads = [threading.Thread(target=lambda c=c: results.append(c())) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_verify_and_webhook_racing_end_in_one_payment_and_one_pipeline(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    for attempt in range(3):
        sid, order_id = _paid_setup(flow)
        payment_id = f"pay_RACE{attempt}"
        flow.payments.add_payment(order_id, payment_id=payment_id)  # captured at Razorpay
        secret = secret_of(flow.settings.razorpay_key_secret)
        verify_body = {
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": checkout_signature(secret, order_id, payment_id),
        }
        hook = event("razorpay_payment_captured.json", ORDER_ID=order_id, PAYMENT_ID=payment_id)
        results = _race(
            lambda: (
                flow.client.post(
                    "/payments/verify", json=verify_body, headers=flow.headers("alice")
                ).status_code
            ),
            lambda: post_webhook(flow, hook, event_id=f"evt_race_{payment_id}").status_code,
        )
        assert sorted(results) == [200, 200]
        assert _status_and_payments(db, sid) == ("paid", [f"{payment_id}:captured"])
        assert flow.execution(sid, timeout_s=0)["status"] == "RUNNING"


def test_refund_webhooks_record_the_final_state_in_any_order(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow(start_window_s=1)
    sid = flow.setup()
    flow.pay(sid)
    flow.wait_for(sid, "refunded", timeout_s=20)
    refund_id, payment_id = db.execute(
        "SELECT refund_id, payment_id FROM refunds WHERE session_id = %s", (sid,)
    ).fetchone()  # type: ignore[misc]
    body = event("razorpay_refund_processed.json", REFUND_ID=refund_id, PAYMENT_ID=payment_id, SESSION_ID=sid)
    assert post_webhook(flow, body, event_id="evt_rf").status_code == 200
    created = body.replace(b'"status": "processed"', b'"status": "created"').replace(
        b"refund.processed", b"refund.created"
    )
    assert post_webhook(flow, created, event_id="evt_rc").status_code == 200  # late: must not go back
    assert db.execute("SELECT status FROM refunds WHERE refund_id = %s", (refund_id,)).fetchone() == (
        "processed",
    )
    assert db.execute("SELECT status FROM payments WHERE payment_id = %s", (payment_id,)).fetchone() == (
        "refunded",
    )


def test_a_failed_refund_is_recorded_and_raises_the_alarm_metric(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow(start_window_s=1)
    sid = flow.setup()
    flow.pay(sid)
    flow.wait_for(sid, "refunded", timeout_s=20)
    row = db.execute("SELECT refund_id, payment_id FROM refunds WHERE session_id = %s", (sid,)).fetchone()
    assert row is not None
    refund_id, payment_id = row
    db.execute("UPDATE refunds SET status = 'created' WHERE refund_id = %s", (refund_id,))
    body = event("razorpay_refund_processed.json", REFUND_ID=refund_id, PAYMENT_ID=payment_id, SESSION_ID=sid)
    failed = body.replace(b'"status": "processed"', b'"status": "failed"').replace(
        b"refund.processed", b"refund.failed"
    )
    assert post_webhook(flow, failed, event_id="evt_rfail").status_code == 200
    assert db.execute("SELECT status FROM refunds WHERE refund_id = %s", (refund_id,)).fetchone() == (
        "failed",
    )
    assert metrics.total("RefundFailed") == 1
