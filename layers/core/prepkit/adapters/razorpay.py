"""PaymentsGateway on Razorpay's own SDK (`razorpay`, on `requests`): an explicit (connect, read)
timeout on every call, no SDK retries. Its offline stand-in is prepkit.local.razorpay_simulator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prepkit.adapters.razorpay_events import payment_from_entity
from prepkit.domain.errors import PaymentFailed, ValidationFailed
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
