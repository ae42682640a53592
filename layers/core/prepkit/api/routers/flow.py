"""Payments, the call and the report: each route calls one InterviewFlow method."""

from __future__ import annotations

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
    """Checkout's success callback: verified against the order stored for the caller's session."""
    session_id, status = flow.verify_payment(
        user.user_id, body.razorpay_order_id, body.razorpay_payment_id, body.razorpay_signature
    )
    return VerifyOut(session_id=session_id, status=status.value)


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
    """Public. HMAC-SHA256 of the raw body with the webhook secret in X-Razorpay-Signature."""
    raw = await request.body()
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(
        container.flow.razorpay_webhook,
        raw,
        request.headers.get("x-razorpay-signature"),
        request.headers.get("x-razorpay-event-id"),
    )
    return WebhookOut(result=result)


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
        body = json.loads(raw)
        message = body["message"]
        kind = str(message["type"])
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed('body must be {"message": {"type": ...}}') from None
    return WebhookOut(result=await run_in_threadpool(_vapi_message, container, kind, message, raw))


def _vapi_message(container: Container, kind: str, message: dict[str, object], raw: bytes) -> str:
    from prepkit.adapters.vapi_messages import parse_call

    call = message.get("call")
    call_id = call.get("id") if isinstance(call, dict) else None
    if not isinstance(call_id, str) or not call_id:
        return f"{kind} without a call ignored"
    if kind == "status-update":
        return container.flow.call_status(call_id, str(message.get("status", "")))
    if kind == "end-of-call-report":
        overrides = call.get("assistantOverrides") if isinstance(call, dict) else None
        metadata = overrides.get("metadata") if isinstance(overrides, dict) else None
        hint = metadata.get("sessionId") if isinstance(metadata, dict) else None
        return container.flow.call_ended(
            parse_call(call_id, message),
            raw.decode("utf-8", "replace"),
            hint if isinstance(hint, str) else None,
        )
    return f"{kind} ignored"
