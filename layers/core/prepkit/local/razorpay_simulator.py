"""Razorpay offline (local and test stages only; not in the deployed layer): orders, payments with
automatic capture, and idempotent refunds, shaped like Razorpay's API answers."""

from __future__ import annotations

import secrets
import time
from typing import Any

from prepkit.adapters.razorpay import AUTOMATIC_CAPTURE
from prepkit.adapters.razorpay_events import payment_from_entity
from prepkit.domain.errors import PaymentFailed
from prepkit.domain.models import PaymentEvent


class SimulatedRazorpay:
    """Razorpay, offline, with automatic capture: ids shaped like Razorpay's; a successful Checkout
    creates a captured payment that fetch_payment returns; refunds are idempotent per key like the real
    API and add up on the payment. It records what it was asked (tests assert the server-side amounts).
    `next_order_ids` (tests) makes the next orders take given ids, e.g. those of Razorpay's samples."""

    def __init__(self, key_id: str, *, fail_orders: bool = False):
        self.key_id = key_id
        self.fail_orders = fail_orders
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_calls = 0
        self.next_order_ids: list[str] = []

    def create_order(self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]) -> str:
        if self.fail_orders:
            raise PaymentFailed("simulated razorpay outage")
        if amount < 100 or len(receipt) > 40 or len(notes) > 15:
            raise PaymentFailed("razorpay would refuse this order")
        order_id = self.next_order_ids.pop(0) if self.next_order_ids else f"order_{secrets.token_hex(7)}"
        self.orders[order_id] = {
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": notes,
            "payment": AUTOMATIC_CAPTURE,
        }
        return order_id

    def add_payment(
        self, order_id: str, *, status: str = "captured", payment_id: str | None = None
    ) -> dict[str, Any]:
        """A Checkout attempt on an order: the payment entity as Razorpay's API would return it."""
        order = self.orders[order_id]
        failed = status == "failed"
        entity: dict[str, Any] = {
            "id": payment_id or f"pay_{secrets.token_hex(7)}",
            "entity": "payment",
            "amount": order["amount"],
            "currency": order["currency"],
            "status": status,
            "order_id": order_id,
            "method": "upi",
            "amount_refunded": 0,
            "refund_status": None,
            "captured": status == "captured",
            "vpa": "candidate@okaxis",
            "email": "candidate@example.com",
            "contact": "+919900000000",
            "notes": [],
            "error_code": "BAD_REQUEST_ERROR" if failed else None,
            "error_description": "Payment was declined by the bank." if failed else None,
            "error_reason": "payment_declined" if failed else None,
            "created_at": int(time.time()),
        }
        self.payments[entity["id"]] = entity
        return entity

    def fetch_payment(self, payment_id: str) -> PaymentEvent:
        entity = self.payments.get(payment_id)
        if entity is None:
            raise PaymentFailed("razorpay fetch payment: BadRequestError: The id provided does not exist")
        return payment_from_entity(entity)

    def refund(
        self, *, payment_id: str, amount: int, idempotency_key: str, notes: dict[str, str]
    ) -> tuple[str, str]:
        self.refund_calls += 1
        if len(idempotency_key) < 10:
            raise PaymentFailed("X-Refund-Idempotency must be at least 10 characters")
        if idempotency_key not in self.refunds:
            payment = self.payments.get(payment_id)
            if payment is not None:
                if payment["amount_refunded"] + amount > payment["amount"]:
                    raise PaymentFailed("razorpay refund: BadRequestError: The refund amount is invalid")
                payment["amount_refunded"] += amount
                full = payment["amount_refunded"] >= payment["amount"]
                payment["status"] = "refunded" if full else payment["status"]
                payment["refund_status"] = "full" if full else "partial"
            self.refunds[idempotency_key] = {
                "id": f"rfnd_{secrets.token_hex(7)}",
                "payment_id": payment_id,
                "amount": amount,
                "notes": notes,
                "status": "processed",
            }
        refund = self.refunds[idempotency_key]
        return refund["id"], refund["status"]
