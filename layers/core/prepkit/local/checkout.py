"""The Checkout simulator (local and test stages only): completes a payment as Razorpay Checkout would,
returning a correctly signed result for /payments/verify, and delivers the matching signed webhook
(payment.captured or payment.failed) to /webhooks/razorpay shortly after, racing the verify call."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

from prepkit.container import Container, Deliver
from prepkit.domain.errors import SessionNotFound
from prepkit.domain.signatures import checkout_signature, hmac_hex

WEBHOOK_PATH = "/webhooks/razorpay"


def payment_webhook(
    event: str, *, payment_id: str, order_id: str, amount: int, currency: str = "INR", failed: bool = False
) -> dict[str, Any]:
    """A webhook body shaped like Razorpay's (entity/event/contains/payload.payment.entity)."""
    entity: dict[str, Any] = {
        "id": payment_id,
        "entity": "payment",
        "amount": amount,
        "currency": currency,
        "status": "failed" if failed else "captured",
        "order_id": order_id,
        "method": "upi",
        "captured": not failed,
        "vpa": "candidate@okaxis",
        "email": "candidate@example.com",
        "contact": "+919900000000",
        "notes": [],
        "error_code": "BAD_REQUEST_ERROR" if failed else None,
        "error_description": "Payment was declined by the bank." if failed else None,
        "error_reason": "payment_declined" if failed else None,
        "amount_refunded": 0,
        "created_at": int(time.time()),
    }
    return {
        "entity": "event",
        "account_id": "acc_simulated",
        "event": event,
        "contains": ["payment"],
        "payload": {"payment": {"entity": entity}},
        "created_at": int(time.time()),
    }


def signed_delivery(
    deliver: Deliver, webhook_secret: str, body: dict[str, Any], delay_s: float
) -> threading.Thread:
    raw = json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-razorpay-signature": hmac_hex(webhook_secret, raw),
        "x-razorpay-event-id": f"evt_{secrets.token_hex(7)}",
    }

    def send() -> None:
        time.sleep(delay_s)
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
    with container.flow_repo.transaction() as tx:
        found = tx.get_order(order_id)
    if found is None or found[1] != user_id:
        raise SessionNotFound("no such order")
    order = found[0]
    payment_id = f"pay_{secrets.token_hex(7)}"
    failed = outcome != "success"
    event = "payment.failed" if failed else "payment.captured"
    body = payment_webhook(
        event, payment_id=payment_id, order_id=order_id, amount=order.amount, failed=failed
    )
    assert s.razorpay_webhook_secret is not None and s.razorpay_key_secret is not None
    thread = signed_delivery(
        container.extras["deliver"], s.razorpay_webhook_secret.get_secret_value(), body, delay_s=0.2
    )
    container.extras.setdefault("threads", []).append(thread)
    signature = (
        None if failed else checkout_signature(s.razorpay_key_secret.get_secret_value(), order_id, payment_id)
    )
    return {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id, "razorpay_signature": signature}
