"""PaymentsGateway on Razorpay's REST API (httpx, explicit timeouts, no retries inside a request), and
the offline simulator used in the local and test stages."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx

from prepkit.domain.errors import PaymentFailed

log = logging.getLogger(__name__)


class RazorpayGateway:
    def __init__(
        self, key_id: str, key_secret: str, *, api_url: str, connect_timeout_s: float, read_timeout_s: float
    ):
        self.key_id = key_id
        self._client = httpx.Client(
            base_url=api_url,
            auth=(key_id, key_secret),
            timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        )

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            response = self._client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PaymentFailed(f"razorpay unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            code = ""
            try:
                code = str(response.json().get("error", {}).get("code", ""))
            except ValueError:
                pass
            raise PaymentFailed(f"razorpay {path} answered {response.status_code} {code}".strip())
        data: dict[str, Any] = response.json()
        return data

    def create_order(self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]) -> str:
        order = self._post(
            "/orders", {"amount": amount, "currency": currency, "receipt": receipt, "notes": notes}
        )
        return str(order["id"])

    def refund(
        self, *, payment_id: str, amount: int, idempotency_key: str, notes: dict[str, str]
    ) -> tuple[str, str]:
        refund = self._post(
            f"/payments/{payment_id}/refund",
            {"amount": amount, "speed": "normal", "notes": notes},
            headers={"X-Refund-Idempotency": idempotency_key},
        )
        status = {"processed": "processed", "failed": "failed"}.get(str(refund.get("status")), "created")
        return str(refund["id"]), status


class SimulatedRazorpay:
    """Razorpay, offline: ids shaped like Razorpay's; refunds are idempotent per key like the real API.
    It records what it was asked (tests assert the server-side amounts). The checkout simulator (local
    stage) signs payments with the same key secret Razorpay would use."""

    def __init__(self, key_id: str, *, fail_orders: bool = False):
        self.key_id = key_id
        self.fail_orders = fail_orders
        self.orders: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.refund_calls = 0

    def create_order(self, *, amount: int, currency: str, receipt: str, notes: dict[str, str]) -> str:
        if self.fail_orders:
            raise PaymentFailed("simulated razorpay outage")
        if amount < 100 or len(receipt) > 40 or len(notes) > 15:
            raise PaymentFailed("razorpay would refuse this order")
        order_id = f"order_{secrets.token_hex(7)}"
        self.orders[order_id] = {"amount": amount, "currency": currency, "receipt": receipt, "notes": notes}
        return order_id

    def refund(
        self, *, payment_id: str, amount: int, idempotency_key: str, notes: dict[str, str]
    ) -> tuple[str, str]:
        self.refund_calls += 1
        if len(idempotency_key) < 10:
            raise PaymentFailed("X-Refund-Idempotency must be at least 10 characters")
        if idempotency_key not in self.refunds:
            self.refunds[idempotency_key] = {
                "id": f"rfnd_{secrets.token_hex(7)}",
                "payment_id": payment_id,
                "amount": amount,
                "notes": notes,
                "status": "processed",
            }
        refund = self.refunds[idempotency_key]
        return refund["id"], refund["status"]
