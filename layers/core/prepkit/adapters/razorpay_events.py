"""Razorpay's webhook bodies and payment entities, read into domain events. The flow gets a
PaymentNotice (a PaymentEvent, a RefundEvent, or an IgnoredEvent with its reason) and never sees
Razorpay's JSON. Anything a signed body holds that no payment can (an id that is not one, an amount that
is not whole paise, a body that is not a JSON object) is ValidationFailed: a 400 that changes nothing.

Field names and states: Razorpay's webhook samples (shared/vendor/razorpay, docs_*.json) and the
Payments API entity (razorpay-python, the SDK's mocks: sdk_mock_fake_payment.json)."""

from __future__ import annotations

import json
import re
from typing import Any

from prepkit.adapters.storable import clean_text
from prepkit.domain.errors import ValidationFailed
from prepkit.domain.models import IgnoredEvent, PaymentEvent, PaymentNotice, PaymentStatus, RefundEvent

_PROVIDER_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def parse_webhook(raw: bytes) -> PaymentNotice:
    """A (verified) webhook body: refund.* events carry their refund, the payment events their payment;
    any other event is ignored."""
    body = _json_object(raw)
    event_type = str(body.get("event", ""))
    raw_payload = body.get("payload")
    payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
    if event_type.startswith("refund."):
        return PaymentNotice(event_type, _refund_event(payload))
    payment = _payment_event(event_type, payload)
    if payment is None:
        return PaymentNotice(event_type, IgnoredEvent("not an event about a payment's or a refund's state"))
    return PaymentNotice(event_type, payment)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested deeper than Python parses
        raise ValidationFailed("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object")
    return body


def _entity(payload: dict[str, Any], name: str) -> dict[str, Any] | None:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else None


#: the largest amount in paise the amount columns (PostgreSQL integer) hold
_MAX_PAISE = 2**31 - 1
_CURRENCY = re.compile(r"[A-Z]{3}")


def _razorpay_id(value: object, what: str) -> str:
    """A Razorpay id as it names things (pay_…, order_…, rfnd_…), else ValidationFailed: a NUL, a lone
    surrogate, a number or an object can neither be an id nor be looked up in the database."""
    if isinstance(value, str) and _PROVIDER_ID.fullmatch(value):
        return value
    raise ValidationFailed(f"{what} is not a Razorpay id")


def _paise(value: object, what: str) -> int:
    """An amount in paise: a JSON integer from 1 to what the database holds (not a float, NaN, bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_PAISE:
        raise ValidationFailed(f"{what} must be a whole number of paise from 1 to {_MAX_PAISE}")
    return value


def _text(value: object, limit: int) -> str | None:
    """A free-text field as it can be stored (NUL dropped, lone surrogates replaced), or None."""
    return (clean_text(value)[:limit] or None) if isinstance(value, str) else None


_PAYMENT_EVENTS = {
    "payment.captured": PaymentStatus.CAPTURED,
    "order.paid": PaymentStatus.CAPTURED,
    "payment.failed": PaymentStatus.FAILED,
    "payment.authorized": PaymentStatus.AUTHORIZED,
}


_STATES = {state.value: state for state in PaymentStatus}


def _payment_event(event_type: str, payload: dict[str, Any]) -> PaymentEvent | None:
    """None for an event that is not about a payment's state; ValidationFailed for a payment event
    without a payment entity we can read."""
    status = _PAYMENT_EVENTS.get(event_type)
    if status is None:
        return None
    p = _entity(payload, "payment")
    if p is None:
        raise ValidationFailed(f"{event_type} without a payment entity")
    return payment_from_entity(p, event_status=status)


def payment_from_entity(p: dict[str, Any], *, event_status: PaymentStatus | None = None) -> PaymentEvent:
    """A Razorpay payment entity (a webhook's payload.payment.entity, or the Payments API's answer) as a
    PaymentEvent. A webhook's status is its event's, raised to captured when the entity's status says
    captured (the SDK's payment.authorized mock carries a captured payment); the `captured` flag alone
    is not trusted (the docs' card payment.authorized sample says status authorized, captured true).
    The API's status is the entity's own. Raises ValidationFailed for an entity that is incomplete or
    holds what no payment can (an id that is not one, an amount that is not whole paise); free text
    (method, error code and description) is kept as it can be stored."""
    raw_status = p.get("status")
    stated = _STATES.get(raw_status) if isinstance(raw_status, str) else None
    if event_status is None:
        if stated is None:
            shown = raw_status[:40] if isinstance(raw_status, str) else type(raw_status).__name__
            raise ValidationFailed(f"unknown payment status {_text(shown, 40)!r}")
        status = stated
    elif event_status.rank < PaymentStatus.CAPTURED.rank and stated is PaymentStatus.CAPTURED:
        status = PaymentStatus.CAPTURED  # the entity's status, not its `captured` flag (see below)
    else:
        status = event_status
    order_id = p.get("order_id")
    currency = p.get("currency", "INR")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValidationFailed("payment currency is not an ISO 4217 code")
    return PaymentEvent(
        payment_id=_razorpay_id(p.get("id"), "payment id"),
        order_id=_razorpay_id(order_id, "payment order_id") if order_id is not None else "",
        status=status,
        amount=_paise(p.get("amount"), "payment amount"),
        currency=currency,
        method=_text(p.get("method"), 40),
        error_code=_text(p.get("error_code"), 100),
        error_description=_text(p.get("error_description"), 500),
    )


_REFUND_STATES = {"pending": "created", "created": "created", "processed": "processed", "failed": "failed"}


def _refund_event(payload: dict[str, Any]) -> RefundEvent:
    """Every refund.* event carries its refund: ValidationFailed when it is missing or unreadable."""
    r = _entity(payload, "refund")
    if r is None:
        raise ValidationFailed("refund event without a refund entity")
    status = r.get("status")
    return RefundEvent(
        _razorpay_id(r.get("id"), "refund id"),
        _razorpay_id(r.get("payment_id"), "refund payment_id"),
        _paise(r.get("amount"), "refund amount"),
        _REFUND_STATES.get(status, "created") if isinstance(status, str) else "created",
    )
