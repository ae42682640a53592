"""Razorpay's own published webhooks (shared/vendor/razorpay: every payment, order and refund sample of
its docs, and the SDK's webhook mock), sent byte for byte and signed, through POST /webhooks/razorpay
with the app over HTTP and real PostgreSQL. Sessions are created with the sample's own order id and
amount, so the bytes stay the vendor's; where a second payment or refund is needed, a parsed copy is
changed and what is sent is signed."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from prepkit.api.app import create_app
from prepkit.container import Container
from prepkit.domain.signatures import checkout_signature
from tests.fakes import RecordingMetrics, secret_of
from tests.integration.conftest import Flow
from tests.integration.test_payments import post_webhook

MakeFlow = Callable[..., Flow]
ROOT = Path(__file__).resolve().parents[2]
RAZORPAY = Path(os.environ.get("PREPKIT_VENDOR_DIR", ROOT.parent / "shared" / "vendor")) / "razorpay"
SAMPLES = [
    *sorted(p.name for p in RAZORPAY.glob("docs_*.json") if p.name != "docs_index.json"),
    "sdk_mock_fake_payment_authorized_webhook.json",
]


def raw(name: str) -> bytes:
    return (RAZORPAY / name).read_bytes()


def parsed(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(raw(name))
    return body


def payment_of(name: str) -> dict[str, Any]:
    entity: dict[str, Any] = parsed(name)["payload"]["payment"]["entity"]
    return entity


def session_for(flow: Flow, db: psycopg.Connection[Any], order_id: str, amount: int) -> str:
    """A session whose Razorpay order is the sample's own order, at the sample's amount."""
    db.execute("UPDATE pricing SET amount_paise = %s WHERE duration_minutes = 20", (amount,))
    sid = flow.setup(duration=20)
    flow.payments.next_order_ids.append(order_id)
    order = flow.order(sid)
    assert (order["orderId"], order["amount"]) == (order_id, amount)
    return sid


def paid_by_verify(flow: Flow, sid: str, order_id: str, payment_id: str) -> None:
    """Checkout completes and Razorpay (simulated) has the payment captured."""
    flow.payments.add_payment(order_id, payment_id=payment_id)
    secret = secret_of(flow.settings.razorpay_key_secret)
    body = {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment_id,
        "razorpay_signature": checkout_signature(secret, order_id, payment_id),
    }
    r = flow.client.post("/payments/verify", json=body, headers=flow.headers("alice"))
    assert r.json() == {"sessionId": sid, "status": "paid", "paymentStatus": "captured"}, r.text


def session_row(db: psycopg.Connection[Any], sid: str) -> tuple[Any, ...]:
    row = db.execute("SELECT status, error_code FROM interview_sessions WHERE id = %s", (sid,)).fetchone()
    assert row is not None
    return tuple(row)


def payments(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT payment_id, status, amount_refunded, pays_session FROM payments ORDER BY payment_id"
        ).fetchall()
    ]


def refunds(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT refund_id, payment_id, amount_paise, status FROM refunds ORDER BY refund_id"
        ).fetchall()
    ]


REFUND_PAYMENT = payment_of("docs_refund.processed_normal_refunds.json")  # 500000 paise, captured


@pytest.mark.parametrize("name", SAMPLES)
def test_every_razorpay_sample_is_accepted_and_does_what_it_says(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics, name: str
) -> None:
    flow = make_flow()
    body = parsed(name)
    event = body["event"]
    sid = None
    if event.startswith("refund."):  # the refunded payment must be ours and captured first
        payment = body["payload"]["payment"]["entity"]
        sid = session_for(flow, db, payment["order_id"], payment["amount"])
        paid_by_verify(flow, sid, payment["order_id"], payment["id"])
    elif "payment" in body["payload"]:
        payment = body["payload"]["payment"]["entity"]
        sid = session_for(flow, db, payment["order_id"], payment["amount"])

    r = post_webhook(flow, raw(name), event_id=f"evt_{name}")
    assert r.status_code == 200, r.text
    result = r.json()["result"]

    if sid is None:  # downtime events: acknowledged, recorded, ignored
        assert result == f"{event} ignored"
        assert payments(db) == []
    elif event in ("payment.captured", "order.paid") or name.startswith("sdk_mock"):
        # the SDK's mock is a payment.authorized whose entity is already captured: captured it is
        assert session_row(db, sid) == ("paid", None)
        assert payments(db) == [(payment["id"], "captured", 0, True)]
        assert flow.execution(sid, timeout_s=0)["status"] == "RUNNING"
    elif event == "payment.authorized":
        assert session_row(db, sid) == ("pending_payment", None)
        assert payments(db) == [(payment["id"], "authorized", 0, False)]
    elif event == "payment.failed":
        assert session_row(db, sid) == ("payment_failed", "PAYMENT_FAILED")
        assert payments(db) == [(payment["id"], "failed", 0, False)]
        session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
        expected = payment["error_description"] or "Your payment did not go through. Please try again."
        assert session["error"]["userMessage"] == expected  # the card sample's description is empty
    else:  # refund samples: a refund of part of the payment, recorded; the session stays paid
        refund = body["payload"]["refund"]["entity"]
        assert result == f"{event} applied"
        assert refunds(db) == [(refund["id"], payment["id"], refund["amount"], refund["status"])]
        refunded = refund["amount"] if refund["status"] == "processed" else 0
        assert payments(db) == [(payment["id"], "captured", refunded, True)]
        assert session_row(db, sid) == ("paid", None)
        assert metrics.total("RefundFailed") == (1 if refund["status"] == "failed" else 0)
    # redelivered: the same answer, nothing applied twice
    again = post_webhook(flow, raw(name), event_id=f"evt_{name}")
    assert again.status_code == 200
    assert db.execute("SELECT count(*) FROM provider_events").fetchone() == (1,)


CARD = ["payment.authorized_card", "payment.captured_card", "payment.failed_card", "order.paid_card"]


@pytest.mark.parametrize("order", list(itertools.permutations(CARD)), ids="|".join)
def test_any_delivery_order_of_one_payment_ends_paid_and_captured_with_no_error(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics, order: tuple[str, ...]
) -> None:
    """The four card samples are one payment (pay_DESp9bgForNoUd on order_DESoU0U4ikYA19): however
    Razorpay orders and repeats them, the session ends paid by it, once, with no stale error."""
    flow = make_flow()
    payment = payment_of("docs_payment.captured_card.json")
    sid = session_for(flow, db, payment["order_id"], payment["amount"])
    for name in [*order, *reversed(order)]:  # then every one again: duplicates
        r = post_webhook(flow, raw(f"docs_{name}.json"), event_id=f"evt_{name}")
        assert r.status_code == 200, r.text
    assert session_row(db, sid) == ("paid", None)
    assert payments(db) == [(payment["id"], "captured", 0, True)]
    assert metrics.total("PaymentCaptured") == 1
    assert refunds(db) == []
    assert flow.execution(sid, timeout_s=0)["status"] == "RUNNING"


def _another_payment(name: str, payment_id: str) -> bytes:
    """A parsed copy of the sample, as another payment on the same order (signed as sent)."""
    body = parsed(name)
    body["payload"]["payment"]["entity"]["id"] = payment_id
    return json.dumps(body).encode()


def test_failed_then_captured_by_a_new_payment_is_paid_with_no_error(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    failed = payment_of("docs_payment.failed_card.json")
    sid = session_for(flow, db, failed["order_id"], failed["amount"])
    assert post_webhook(flow, raw("docs_payment.failed_card.json"), event_id="evt_f").status_code == 200
    assert session_row(db, sid) == ("payment_failed", "PAYMENT_FAILED")
    retry = _another_payment("docs_payment.captured_card.json", "pay_RETRY000001")
    assert post_webhook(flow, retry, event_id="evt_c").status_code == 200
    assert session_row(db, sid) == ("paid", None)
    session = flow.client.get(f"/interviews/{sid}", headers=flow.headers("alice")).json()
    assert session["status"] == "paid" and session.get("error") is None
    assert payments(db) == [(failed["id"], "failed", 0, False), ("pay_RETRY000001", "captured", 0, True)]


def test_an_extra_captured_payment_is_refunded_once_and_the_session_refund_takes_the_paying_one(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow()
    first = payment_of("docs_payment.captured_card.json")
    sid = session_for(flow, db, first["order_id"], first["amount"])
    assert post_webhook(flow, raw("docs_payment.captured_card.json"), event_id="evt_1").status_code == 200
    extra = _another_payment("docs_order.paid_card.json", "pay_EXTRA0000001")  # a late second payment
    results = [post_webhook(flow, extra, event_id="evt_extra").json()["result"] for _ in range(2)]
    assert results == [
        "order.paid applied (extra payment refunded)",
        "order.paid duplicate",  # refunded already: nothing more to do
    ]
    assert flow.payments.refund_calls == 1
    assert metrics.total("ExtraPaymentRefunded") == 1
    (extra_refund,) = flow.payments.refunds.values()
    assert (extra_refund["payment_id"], extra_refund["amount"]) == ("pay_EXTRA0000001", first["amount"])
    assert db.execute("SELECT idempotency_key, payment_id, status FROM refunds").fetchall() == [
        ("refund-extra-pay_EXTRA0000001", "pay_EXTRA0000001", "processed")
    ]
    assert session_row(db, sid) == ("paid", None)  # the session is untouched
    assert payments(db) == [
        ("pay_DESp9bgForNoUd", "captured", 0, True),
        ("pay_EXTRA0000001", "refunded", first["amount"], False),
    ]
    # the session's own refund (the pipeline's, here after the start window) refunds the payment that paid it
    assert flow.container.flow.task_expire(sid) == "refunded"
    assert db.execute(
        "SELECT payment_id, amount_paise FROM refunds WHERE idempotency_key = %s", (f"refund-{sid}",)
    ).fetchone() == ("pay_DESp9bgForNoUd", first["amount"])
    assert flow.payments.refund_calls == 2


def test_a_second_checkout_on_a_paid_session_is_refunded_at_verify(
    make_flow: MakeFlow, db: psycopg.Connection[Any], metrics: RecordingMetrics
) -> None:
    flow = make_flow()
    sid = flow.setup()
    order_id = flow.order(sid)["orderId"]
    first = flow.checkout(order_id)
    flow.client.post("/payments/verify", json=first, headers=flow.headers("alice"))
    second = flow.checkout(order_id)  # a second tab paid the same order
    r = flow.client.post("/payments/verify", json=second, headers=flow.headers("alice"))
    assert r.json() == {"sessionId": sid, "status": "paid", "paymentStatus": "refunded"}
    for thread in flow.container.extras.get("threads", []):
        thread.join(5)  # the simulated webhooks of both payments arrive too
    # one refund at Razorpay (its idempotency key; a webhook racing verify may ask again), counted once
    assert [r["payment_id"] for r in flow.payments.refunds.values()] == [second["razorpay_payment_id"]]
    assert metrics.total("ExtraPaymentRefunded") == 1
    paying = db.execute("SELECT payment_id FROM payments WHERE pays_session").fetchall()
    assert paying == [(first["razorpay_payment_id"],)]
    assert session_row(db, sid) == ("paid", None)


def test_partial_refunds_add_up_and_only_the_whole_amount_makes_the_payment_refunded(
    make_flow: MakeFlow, db: psycopg.Connection[Any]
) -> None:
    flow = make_flow()
    p = REFUND_PAYMENT
    sid = session_for(flow, db, p["order_id"], p["amount"])
    paid_by_verify(flow, sid, p["order_id"], p["id"])
    name = "docs_refund.processed_normal_refunds.json"
    assert post_webhook(flow, raw(name), event_id="evt_r1").status_code == 200
    assert payments(db) == [(p["id"], "captured", 50000, True)]  # the docs' sample: 50000 of 500000
    assert session_row(db, sid) == ("paid", None)
    rest = parsed(name)
    rest["payload"]["refund"]["entity"].update(id="rfnd_REST00000001", amount=p["amount"] - 50000)
    assert post_webhook(flow, json.dumps(rest).encode(), event_id="evt_r2").status_code == 200
    assert payments(db) == [(p["id"], "refunded", p["amount"], True)]
    assert session_row(db, sid) == ("paid", None)  # refund webhooks never change the session


def test_an_extra_payment_seen_by_the_webhooks_function_is_refunded_by_the_reconciler(
    make_flow: MakeFlow,
    make_container: Callable[..., Container],
    db: psycopg.Connection[Any],
    metrics: RecordingMetrics,
) -> None:
    """Deployed, the webhooks function holds no Razorpay API key (it could refund): it records the extra
    payment's refund and answers 200; the reconciler (the pipeline function, which has the key) sends it,
    once, with the same idempotency key."""
    flow = make_flow(reconcile_idle_s=0)
    c = flow.container
    webhooks = make_container(
        settings_=flow.settings,
        flow_repo=c.flow_repo,
        payments=None,
        voice=c.voice,
        report_writer=c.report_writer,
        workflow=c.workflow,
    )
    webhooks_flow = Flow(
        TestClient(create_app(webhooks, function="webhooks"), raise_server_exceptions=False),
        webhooks, flow.payments, flow.voice, flow.settings, [],
    )  # fmt: skip
    first = payment_of("docs_payment.captured_card.json")
    sid = session_for(flow, db, first["order_id"], first["amount"])
    assert (
        post_webhook(webhooks_flow, raw("docs_payment.captured_card.json"), event_id="evt_1").status_code
        == 200
    )
    extra = _another_payment("docs_order.paid_card.json", "pay_EXTRA0000002")
    for _ in range(2):  # a redelivery changes nothing
        r = post_webhook(webhooks_flow, extra, event_id="evt_extra")
        assert r.status_code == 200, r.text
    assert flow.payments.refund_calls == 0
    assert metrics.total("ExtraPaymentRefundDeferred") == 2
    key = "refund-extra-pay_EXTRA0000002"
    assert db.execute("SELECT idempotency_key, refund_id, status FROM refunds").fetchall() == [
        (key, None, "requested")
    ]
    assert session_row(db, sid) == ("paid", None)

    c.flow.reconcile_all()
    c.flow.reconcile_all()  # sent already: nothing more
    assert flow.payments.refund_calls == 1
    assert list(flow.payments.refunds) == [key]
    assert metrics.total("ExtraPaymentRefunded") == 1
    assert metrics.total("ReconcilerActed", action="extra_refund") == 1
    assert db.execute("SELECT idempotency_key, status FROM refunds").fetchall() == [(key, "processed")]
    assert ("pay_EXTRA0000002", "refunded", first["amount"], False) in payments(db)
