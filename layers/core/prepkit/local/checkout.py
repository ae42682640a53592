"""The Checkout simulator (local and test stages only): completes a payment as Razorpay Checkout would
with the order's automatic capture (a successful payment is captured; the simulated Razorpay API returns
it), returning a correctly signed result for /payments/verify, and delivers the matching signed webhooks
(payment.authorized then payment.captured, or payment.failed) to /webhooks/razorpay shortly after,
racing the verify call."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

from prepkit.container import Container, Deliver
from prepkit.domain.errors import SessionNotFound
from prepkit.domain.signatures import checkout_signature, hmac_hex
from prepkit.local.razorpay_simulator import SimulatedRazorpay

WEBHOOK_PATH = "/webhooks/razorpay"


def webhook_body(event: str, entity: dict[str, Any]) -> dict[str, Any]:
    """A webhook body shaped like Razorpay's (entity/event/contains/payload.payment.entity)."""
    return {
        "entity": "event",
        "account_id": "acc_simulated",
        "event": event,
        "contains": ["payment"],
        "payload": {"payment": {"entity": entity}},
        "created_at": int(time.time()),
    }


def payment_webhook(
    event: str, *, payment_id: str, order_id: str, amount: int, currency: str = "INR", failed: bool = False
) -> dict[str, Any]:
    """A payment webhook for a payment the simulated API does not know (benchmarks, tests)."""
    simulated = SimulatedRazorpay("rzp_test_local")
    simulated.orders[order_id] = {"amount": amount, "currency": currency}
    status = "failed" if failed else "captured"
    return webhook_body(event, simulated.add_payment(order_id, status=status, payment_id=payment_id))


def signed_delivery(
    deliver: Deliver, webhook_secret: str, body: dict[str, Any] | list[dict[str, Any]], delay_s: float
) -> threading.Thread:
    """Delivers the body (or the bodies, one after the other) signed, each with its own event id."""
    bodies = body if isinstance(body, list) else [body]
    raws = [json.dumps(b).encode() for b in bodies]

    def send() -> None:
        time.sleep(delay_s)
        for raw in raws:
            headers = {
                "content-type": "application/json",
                "x-razorpay-signature": hmac_hex(webhook_secret, raw),
                "x-razorpay-event-id": f"evt_{secrets.token_hex(7)}",
            }
            try:
                deliver(WEBHOOK_PATH, raw, headers)
            except Exception:  # noqa: S110  (Razorpay would retry; the verify call covers the demo)
                pass

    thread = threading.Thread(target=send, daemon=True, name="razorpay-webhook")
    thread.start()
    return thread


def simulate_checkout(container: Container, user_id: str, order_id: str, outcome: str) -> dict[str, Any]:
    s = container.settings
    assert s.stage.is_offline and container.flow_repo is not None
    razorpay = container.payments
    assert isinstance(razorpay, SimulatedRazorpay), "the Checkout simulator needs the simulated Razorpay"
    with container.flow_repo.transaction() as tx:
        found = tx.get_order(order_id)
    if found is None or found[1] != user_id or order_id not in razorpay.orders:
        raise SessionNotFound("no such order")
    failed = outcome != "success"
    if failed:
        bodies = [webhook_body("payment.failed", razorpay.add_payment(order_id, status="failed"))]
    else:  # automatic capture: authorized, then captured at once
        payment = razorpay.add_payment(order_id, status="captured")
        authorized = {**payment, "status": "authorized", "captured": False}
        bodies = [webhook_body("payment.authorized", authorized), webhook_body("payment.captured", payment)]
    assert s.razorpay_webhook_secret is not None and s.razorpay_key_secret is not None
    thread = signed_delivery(
        container.extras["deliver"], s.razorpay_webhook_secret.get_secret_value(), bodies, delay_s=0.2
    )
    container.extras.setdefault("threads", []).append(thread)
    payment_id = bodies[-1]["payload"]["payment"]["entity"]["id"]
    signature = (
        None if failed else checkout_signature(s.razorpay_key_secret.get_secret_value(), order_id, payment_id)
    )
    return {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}
