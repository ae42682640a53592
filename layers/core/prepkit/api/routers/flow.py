"""Payments, the call and the report: each route calls one InterviewFlow method."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from prepkit.api.deps import ContainerDep, CurrentUser
from prepkit.api.schemas import (
    ErrorOut,
    OrderOut,
    ReportOut,
    StartOut,
    UsageOut,
    VerifyIn,
    VerifyOut,
    WebhookOut,
)
from prepkit.container import Container, vapi_auth
from prepkit.domain.errors import ValidationFailed, WebhookUnauthorized
from prepkit.domain.flow import InterviewFlow

log = logging.getLogger(__name__)

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 404, 409, 429, 502, 503)
}


def get_flow(container: ContainerDep) -> InterviewFlow:
    return container.flow


FlowDep = Annotated[InterviewFlow, Depends(get_flow)]

router = APIRouter(tags=["payments and calls"], responses=_ERRORS)
webhooks = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/interviews/{session_id}/order", response_model=OrderOut)
def create_order(user: CurrentUser, flow: FlowDep, session_id: str) -> OrderOut:
    """Create (or return the still-open) Razorpay order for the session, at the server's price."""
    o = flow.create_order(user.user_id, session_id)
    return OrderOut(
        order_id=o.order_id, amount=o.amount, currency=o.currency, key_id=o.key_id, session_id=o.session_id
    )


@router.post("/payments/verify", response_model=VerifyOut)
def verify_payment(user: CurrentUser, flow: FlowDep, body: VerifyIn) -> VerifyOut:
    """Checkout's success callback: verified against the order stored for the caller's session, then
    the payment as Razorpay has it. `paid` once it is captured; `authorized` is paid when Razorpay
    captures it (the webhook completes it: poll the session)."""
    outcome = flow.verify_payment(
        user.user_id, body.razorpay_order_id, body.razorpay_payment_id, body.razorpay_signature
    )
    return VerifyOut(
        session_id=outcome.session_id,
        status=outcome.status.value,
        payment_status=outcome.payment_status.value,
    )


@router.post("/interviews/{session_id}/start", response_model=StartOut)
def start_interview(user: CurrentUser, flow: FlowDep, session_id: str) -> StartOut:
    """Create the voice call for a paid session (the same call again if it is already running)."""
    call = flow.start_call(user.user_id, session_id)
    return StartOut(call_id=call.call_id, web_call_url=call.web_call_url)


@router.get("/interviews/{session_id}/report", response_model=ReportOut, responses={202: {"model": ErrorOut}})
def get_report(user: CurrentUser, flow: FlowDep, session_id: str) -> ReportOut:
    """The report, once written; 202 with TRANSCRIPT_MISSING while the interview is not done."""
    r = flow.report(user.user_id, session_id)
    return ReportOut(
        session_id=session_id,
        source=r.source.value,
        model=r.model,
        prompt_version=r.prompt_version,
        usage=UsageOut(input_tokens=r.input_tokens, output_tokens=r.output_tokens, cost_usd=r.cost_usd),
        report=r.content,
    )


@webhooks.post("/razorpay", response_model=WebhookOut)
async def razorpay_webhook(request: Request, container: ContainerDep) -> WebhookOut:
    """Public. HMAC-SHA256 of the raw body with the webhook secret in X-Razorpay-Signature. A signed body
    we cannot read is a 400 and one we do not act on a 200 (`… ignored`); either way the reason is logged."""
    raw = await request.body()
    from starlette.concurrency import run_in_threadpool

    from prepkit.adapters.storable import clean_text

    event_id = request.headers.get("x-razorpay-event-id")
    try:
        result = await run_in_threadpool(
            _razorpay_webhook, container.flow, raw, request.headers.get("x-razorpay-signature"), event_id
        )
    except ValidationFailed as exc:
        log.warning("razorpay webhook refused: %s (event %s)", exc.message, clean_text(event_id or "")[:128])
        raise
    result = clean_text(result)[:300]  # the event type is the sender's: printable, storable, bounded
    log.info("razorpay webhook %s: %s", clean_text(event_id or "")[:128], result)
    return WebhookOut(result=result)


def _razorpay_webhook(flow: InterviewFlow, raw: bytes, signature: str | None, event_id: str | None) -> str:
    """The signature first, then the body is read (by the adapter), then the flow acts on the event."""
    from prepkit.adapters.razorpay_events import parse_webhook

    verified = flow.verify_razorpay_webhook(raw, signature, event_id)
    return flow.razorpay_webhook(verified, parse_webhook(verified.raw_body))


@webhooks.post("/vapi", response_model=WebhookOut)
async def vapi_webhook(request: Request, container: ContainerDep) -> WebhookOut:
    """Public. Authenticated per the configured Vapi credential (secret header, bearer or HMAC)."""
    import json
    import time

    from starlette.concurrency import run_in_threadpool

    raw = await request.body()
    if not vapi_auth(container.settings).verify(request.headers, raw, time.time()):
        container.metrics.count("WebhookSignatureInvalid", provider="vapi")
        raise WebhookUnauthorized("bad vapi credential")
    try:
        body = json.loads(raw.decode("utf-8"))  # JSON between systems is UTF-8 (RFC 8259)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested deeper than Python parses
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict) or "type" not in message:
        raise ValidationFailed('body must be {"message": {"type": ...}}')
    return WebhookOut(result=await run_in_threadpool(_vapi_message, container, message, raw))


def _vapi_message(container: Container, message: dict[str, object], raw: bytes) -> str:
    from prepkit.adapters import vapi_messages as vapi
    from prepkit.adapters.storable import clean_text

    kind = clean_text(message["type"])[:100] if isinstance(message["type"], str) else "untyped message"
    call_id = vapi.call_id_of(message)
    if call_id is None:
        return f"{kind} without a call ignored"
    if kind == "status-update":
        raw_status = message.get("status")
        status = clean_text(raw_status)[:100] if isinstance(raw_status, str) else ""
        if status == "in-progress":  # Vapi's ServerMessageStatusUpdate.status (vendor/vapi/openapi.json)
            container.flow.call_in_progress(call_id)
        return f"status {status}"
    if kind == "end-of-call-report":
        record = vapi.parse_call(call_id, message)
        return container.flow.call_ended(
            record, raw.decode("utf-8", "replace"), vapi.session_hint_of(message)
        )
    return f"{kind} ignored"
