"""PaymentsGateway on Razorpay's own SDK (`razorpay`, on `requests`): an explicit (connect, read)
timeout on every call, no SDK retries; and the offline simulator used in the local and test stages."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from prepkit.domain.errors import PaymentFailed, ValidationFailed
from prepkit.domain.flow import payment_from_entity
from prepkit.domain.models import PaymentEvent

log = logging.getLogger(__name__)

#: Orders ask Razorpay to capture automatically: a payment authorized within 12 minutes is captured,
#: a later one stays authorized until 7200 minutes, then is refunded (optimum speed). Shape from
#: razorpay/razorpay-python documents/payment.md, "Payment capture settings API".
AUTOMATIC_CAPTURE: dict[str, Any] = {
    "capture": "automatic",
    "capture_options": {
        "automatic_expiry_period": 12,
        "manual_expiry_period": 7200,
        "refund_speed": "optimum",
    },
}
_REFUND_STATES = {"processed": "processed", "failed": "failed"}  # Razorpay's `pending` is our `created`


class RazorpayGateway:
    def __init__(
        self,
        key_id: str,
        key_secret: str,
        *,
        api_url: str,
        connect_timeout_s: float,
        read_timeout_s: float,
        session: Any | None = None,
    ):
        import razorpay  # the SDK and requests load only where real payments are made

        self.key_id = key_id
        # never client.enable_retry(): its retries sleep (up to 60 s) and print
        self._client = razorpay.Client(session=session, auth=(key_id, key_secret), base_url=api_url)
        self._timeout = (connect_timeout_s, read_timeout_s)

    def _call(self, what: str, call: Callable[..., Any], *args: Any, **options: Any) -> dict[str, Any]:
        import requests
        from razorpay.errors import BadRequestError, GatewayError, ServerError

        try:
            answer = call(*args, timeout=self._timeout, **options)
        except (BadRequestError, GatewayError, ServerError) as exc:
            raise PaymentFailed(f"razorpay {what}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        except (requests.RequestException, ValueError) as exc:  # unreachable, timed out, a non-JSON body
            raise PaymentFailed(f"razorpay {what} failed: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise PaymentFailed(f"razorpay {what} answered {type(answer).__name__}, not an object")
        return answer

    def create_order(self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]) -> str:
        body = {
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": notes,
            "payment": AUTOMATIC_CAPTURE,
        }
        order_id = self._call("create order", self._client.order.create, body).get("id")
        if not isinstance(order_id, str):
            raise PaymentFailed("razorpay create order answered without an id")
        return order_id

    def fetch_payment(self, payment_id: str) -> PaymentEvent:
        entity = self._call("fetch payment", self._client.payment.fetch, payment_id)
        try:
            return payment_from_entity(entity)
        except ValidationFailed as exc:
            raise PaymentFailed(f"razorpay fetch payment: {exc.message}") from exc

    def refund(
        self, *, payment_id: str, amount: int, idempotency_key: str, notes: dict[str, str]
    ) -> tuple[str, str]:
        refund = self._call(
            "refund",
            self._client.payment.refund,
            payment_id,  # Payment.refund(payment_id, data): the later of the SDK's two definitions
            {"amount": amount, "speed": "normal", "notes": notes},
            headers={"X-Refund-Idempotency": idempotency_key},
        )
        refund_id = refund.get("id")
        if not isinstance(refund_id, str):
            raise PaymentFailed("razorpay refund answered without an id")
        return refund_id, _REFUND_STATES.get(str(refund.get("status")), "created")


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
