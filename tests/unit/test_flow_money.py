"""The money rules of InterviewFlow over in-memory fakes (tests/unit/flow_fakes.py): payments by verify and
by webhook in any order, dedupe, extra payments, refunds (once, partial, retried, never while a call is
live), the call of the current attempt only, start against expiry, retried tasks, the reconciler.
No database, no threads: the whole module runs in milliseconds."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import pytest

from prepkit.domain.errors import (
    InvalidSignature,
    InvalidState,
    PaymentFailed,
    PipelineUnavailable,
    SessionNotFound,
    ValidationFailed,
    VoiceUnavailable,
    WebhookUnauthorized,
)
from prepkit.domain.lifecycle import TRANSITIONS
from prepkit.domain.models import PaymentStatus, SessionStatus
from prepkit.domain.signatures import hmac_hex
from tests.unit.conftest import WEBHOOK_SECRET, World, good_call, short_call
from tests.unit.flow_fakes import InMemoryFlowRepository, StoredCall, UniqueViolation

S = SessionStatus


def payment_status(w: World, payment_id: str) -> PaymentStatus:
    return w.repo.data.payments[payment_id].status


# == payments ======================================================================================


def test_verify_of_a_captured_payment_pays_and_starts_the_pipeline_once(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    assert world.order(sid) == order_id  # a second click reuses the open order
    assert len(world.payments.orders) == 1
    payment_id = world.payment(order_id)
    first = world.verify(order_id, payment_id)
    again = world.verify(order_id, payment_id)
    assert (first.status, first.payment_status, again.status) == (S.PAID, PaymentStatus.CAPTURED, S.PAID)
    assert world.workflow.executions == {sid: "running"}
    assert world.workflow.payloads[sid]["timeouts"] == {
        "startWindowSeconds": 900,
        "callEndSeconds": 20 * 60 + 120,
    }
    assert world.session(sid).pipeline_started
    assert world.metrics.total("PaymentCaptured") == 1
    assert world.repo.data.orders[order_id][0].status == "paid"


def test_verify_of_an_authorized_payment_records_it_and_the_capture_webhook_pays(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    payment_id = world.payment(order_id, PaymentStatus.AUTHORIZED)
    outcome = world.verify(order_id, payment_id)
    assert (outcome.status, outcome.payment_status) == (S.PENDING_PAYMENT, PaymentStatus.AUTHORIZED)
    assert world.workflow.executions == {}
    assert world.webhook("payment.captured", payment_id, order_id) == "payment.captured applied"
    assert world.status(sid) == "paid"
    assert world.workflow.executions == {sid: "running"}


def test_verify_refuses_a_bad_signature_another_users_order_and_a_mismatched_payment(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    payment_id = world.payment(order_id)
    with pytest.raises(InvalidSignature):
        world.flow.verify_payment("alice", order_id, payment_id, "0" * 64)
    with pytest.raises(InvalidSignature):
        world.verify(order_id, payment_id, user="mallory")
    cheap = world.payment(order_id, amount=100)
    with pytest.raises(InvalidSignature):
        world.verify(order_id, cheap)
    assert world.status(sid) == "pending_payment"
    assert world.repo.data.payments == {}
    assert world.metrics.total("PaymentSignatureInvalid") == 1
    assert world.metrics.total("PaymentMismatch") == 1


ORDERS = list(
    itertools.permutations(["payment.authorized", "payment.failed", "payment.captured", "order.paid"])
)


@pytest.mark.parametrize("events", ORDERS, ids=["-".join(e.split(".")[1][:4] for e in o) for o in ORDERS])
def test_webhooks_in_any_order_end_with_the_session_paid_once(events: tuple[str, ...]) -> None:
    w = World()
    sid = w.setup()
    order_id = w.order(sid)
    payment_id = w.payment(order_id)
    for event in events:
        w.webhook(event, payment_id, order_id)
    assert w.status(sid) == "paid"
    assert payment_status(w, payment_id) is PaymentStatus.CAPTURED  # a late failure never undoes it
    assert w.session(sid).error is None  # a failed attempt before the capture leaves no error
    assert w.workflow.executions == {sid: "running"}
    assert w.metrics.total("PaymentCaptured") == 1
    assert w.payments.refunds == {}


def test_a_failed_payment_fails_the_attempt_and_a_new_payment_pays(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    failed = world.payment(order_id, PaymentStatus.FAILED)
    world.webhook("payment.failed", failed, order_id)
    assert world.status(sid) == "payment_failed"
    error = world.session(sid).error
    assert error is not None and (error.code, error.recoverable) == ("PAYMENT_FAILED", True)
    assert world.order(sid) == order_id  # the order is still open: the candidate pays it again
    second = world.payment(order_id)
    world.webhook("payment.captured", second, order_id)
    assert world.status(sid) == "paid" and world.session(sid).error is None


def test_a_duplicate_delivery_is_recorded_once_and_applied_again(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    payment_id = world.payment(order_id)
    raw = world.payment_body("payment.captured", payment_id, order_id)
    world.workflow.fail_start.append(RuntimeError("states unavailable"))
    with pytest.raises(PipelineUnavailable):  # a 503: Razorpay delivers it again
        world.deliver(raw, "evt_dup")
    assert world.status(sid) == "paid"  # the payment was committed before the start failed
    assert world.workflow.executions == {}
    assert world.deliver(raw, "evt_dup") == "payment.captured duplicate"
    assert world.workflow.executions == {sid: "running"}  # the duplicate retried the start
    assert len(world.repo.data.events) == 1
    assert world.metrics.total("PaymentCaptured") == 1
    assert world.metrics.total("PipelineStartFailed") == 1


def test_a_webhook_with_a_bad_signature_or_no_event_id_changes_nothing(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    raw = world.payment_body("payment.captured", world.payment(order_id), order_id)
    with pytest.raises(WebhookUnauthorized):
        world.deliver(raw, "evt_1", signature="bad")
    with pytest.raises(WebhookUnauthorized):
        world.deliver(raw + b" ", "evt_1", signature=hmac_hex(WEBHOOK_SECRET, raw))
    with pytest.raises(ValidationFailed):
        world.flow.verify_razorpay_webhook(raw, hmac_hex(WEBHOOK_SECRET, raw), None)  # no event id
    assert world.repo.data.events == {} and world.repo.data.payments == {}
    assert world.status(sid) == "pending_payment"
    assert world.metrics.total("WebhookSignatureInvalid", provider="razorpay") == 2


def test_a_payment_that_does_not_match_its_order_is_refused_and_counted_once(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    payment_id = world.payment(order_id, amount=100)
    raw = world.payment_body("payment.captured", payment_id, order_id, amount=100)
    assert world.deliver(raw, "evt_cheap") == "payment.captured amount mismatch"
    assert world.deliver(raw, "evt_cheap") == "payment.captured amount mismatch"
    assert world.status(sid) == "pending_payment"
    assert world.repo.data.payments == {}
    assert world.metrics.total("PaymentMismatch") == 1  # the duplicate is not counted again


def test_a_webhook_for_an_unknown_order_is_ignored(world: World) -> None:
    assert world.webhook("payment.captured", "pay_unknown", "order_unknown") == (
        "payment.captured for an unknown order ignored"
    )
    assert world.repo.data.payments == {}


def test_a_database_outage_during_a_webhook_leaves_nothing_half_written(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    raw = world.payment_body("payment.captured", world.payment(order_id), order_id)
    world.repo.fail_next.append(ConnectionError("database unavailable"))
    with pytest.raises(ConnectionError):
        world.deliver(raw, "evt_outage")
    assert world.repo.data.events == {} and world.status(sid) == "pending_payment"
    assert world.deliver(raw, "evt_outage") == "payment.captured applied"  # Razorpay's redelivery
    assert world.status(sid) == "paid"


# == extra payments ================================================================================


def test_a_second_captured_payment_is_refunded_once_and_the_session_keeps_the_first(world: World) -> None:
    sid, first = world.paid()
    order_id = world.repo.data.payments[first].order_id
    extra = world.payment(order_id)
    raw = world.payment_body("payment.captured", extra, order_id)
    assert world.deliver(raw, "evt_extra") == "payment.captured applied (extra payment refunded)"
    assert world.deliver(raw, "evt_extra") == "payment.captured duplicate"  # refunded now: nothing to do
    assert world.payments.refunds == {f"refund-extra-{extra}": ("rfnd_00000000000002", extra, 14900)}
    assert world.payments.refund_calls == 1
    assert payment_status(world, extra) is PaymentStatus.REFUNDED
    assert payment_status(world, first) is PaymentStatus.CAPTURED
    assert world.repo.data.payments[first].pays_session and not world.repo.data.payments[extra].pays_session
    assert world.status(sid) == "paid"
    assert world.metrics.total("ExtraPaymentRefunded") == 1
    assert list(world.workflow.executions) == [sid]


def test_an_extra_payment_seen_by_the_webhooks_function_is_refunded_by_the_reconciler(world: World) -> None:
    sid, first = world.paid()
    order_id = world.repo.data.payments[first].order_id
    extra = world.payment(order_id)
    world.webhook_key = False  # the webhooks function holds no refund key
    assert world.webhook("payment.captured", extra, order_id).endswith("(extra payment refunded)")
    assert world.payments.refund_calls == 0
    assert world.metrics.total("ExtraPaymentRefundDeferred") == 1
    world.webhook_key = True
    assert world.flow.reconcile_all() == {}  # too recent: nothing sent yet
    assert world.payments.refund_calls == 0
    world.repo.now += 121
    done = world.flow.reconcile_all()
    assert done.get("extra_refund") == 1
    assert world.flow.reconcile_all().get("extra_refund") is None  # sent once
    assert world.payments.refund_calls == 1
    assert payment_status(world, extra) is PaymentStatus.REFUNDED
    assert world.status(sid) == "paid"


# == refunds =======================================================================================


def expired(world: World) -> tuple[str, str]:
    sid, payment_id = world.paid()
    world.await_candidate(sid)
    return sid, payment_id


def test_a_refund_is_sent_once_with_the_sessions_key(world: World) -> None:
    sid, payment_id = expired(world)
    assert world.flow.task_expire(sid) == "refunded"
    assert world.flow.task_expire(sid) == "already refunded"  # a retried task
    assert world.flow.refund(sid, reason="again") == "already refunded"
    assert world.payments.refunds == {f"refund-{sid}": ("rfnd_00000000000002", payment_id, 14900)}
    assert world.payments.refund_calls == 1
    assert world.status(sid) == "refunded" and payment_status(world, payment_id) is PaymentStatus.REFUNDED
    assert world.metrics.total("Refunded") == 1


def test_a_refund_that_could_not_be_sent_is_sent_again_under_the_same_key(world: World) -> None:
    sid, _ = expired(world)
    world.payments.fail.append(PaymentFailed("razorpay 502"))
    with pytest.raises(PaymentFailed):
        world.flow.task_expire(sid)
    assert world.status(sid) == "expired"
    assert world.repo.data.refunds[f"refund-{sid}"].status == "requested"
    assert world.flow.task_expire(sid) == "refunded"
    assert list(world.payments.refunds) == [f"refund-{sid}"] and world.payments.refund_calls == 2
    assert world.status(sid) == "refunded"


def test_a_pending_refund_becomes_processed_by_its_webhook(world: World) -> None:
    sid, payment_id = expired(world)
    world.payments.refund_status = "created"
    world.flow.task_expire(sid)
    assert payment_status(world, payment_id) is PaymentStatus.CAPTURED  # not refunded until processed
    refund_id = world.repo.data.refunds[f"refund-{sid}"].refund_id
    assert refund_id is not None
    world.deliver(world.refund_body("refund.processed", refund_id, payment_id, 14900))
    assert payment_status(world, payment_id) is PaymentStatus.REFUNDED
    assert world.repo.data.payments[payment_id].amount_refunded == 14900


def test_a_partial_refund_outside_the_pipeline_leaves_only_the_rest_to_refund(world: World) -> None:
    sid, payment_id = expired(world)
    raw = world.refund_body("refund.processed", "rfnd_dashboard01", payment_id, 5000)
    assert world.deliver(raw, "evt_partial") == "refund.processed applied"
    assert world.deliver(raw, "evt_partial") == "refund.processed duplicate"
    assert world.repo.data.payments[payment_id].amount_refunded == 5000
    assert payment_status(world, payment_id) is PaymentStatus.CAPTURED  # partial: still captured
    assert world.flow.task_expire(sid) == "refunded"
    assert world.payments.refunds[f"refund-{sid}"][2] == 9900  # the rest, never the whole again
    assert world.repo.data.payments[payment_id].amount_refunded == 14900
    assert payment_status(world, payment_id) is PaymentStatus.REFUNDED


def test_a_session_refunded_in_full_outside_the_pipeline_sends_nothing(world: World) -> None:
    sid, payment_id = expired(world)
    world.deliver(world.refund_body("refund.processed", "rfnd_dashboard02", payment_id, 14900))
    assert world.flow.task_expire(sid) == "refunded"
    assert world.payments.refund_calls == 0
    assert world.status(sid) == "refunded"


def test_a_failed_refund_webhook_is_counted_for_a_person(world: World) -> None:
    sid, payment_id = expired(world)
    world.payments.refund_status = "created"
    world.flow.task_expire(sid)
    refund_id = world.repo.data.refunds[f"refund-{sid}"].refund_id
    assert refund_id is not None
    world.deliver(world.refund_body("refund.failed", refund_id, payment_id, 14900))
    assert world.metrics.total("RefundFailed") == 1
    assert world.repo.data.refunds[f"refund-{sid}"].status == "failed"


def test_no_refund_while_a_call_is_live_and_a_failed_pipeline_ends_the_call_first(world: World) -> None:
    sid, _, call_id = world.in_call()
    assert world.flow.refund(sid, reason="try") == "not refunded: the session is in_call"
    assert world.payments.refund_calls == 0
    assert world.flow.task_mark_failed(sid, "States.Timeout", "the task timed out") == "refunded"
    assert world.voice.ended == [call_id]  # ended before the refund
    assert world.status(sid) == "refunded" and world.payments.refund_calls == 1
    assert world.flow.task_mark_failed(sid, "States.Timeout", "again") == "already refunded"
    assert world.payments.refund_calls == 1


def test_a_transient_failure_leaves_a_healthy_interview_for_the_reconciler(world: World) -> None:
    sid, _, _ = world.in_call()
    assert world.flow.task_mark_failed(sid, "DatabaseUnavailable", "pool timeout", transient=True) == (
        "left to the reconciler"
    )
    assert world.status(sid) == "in_call" and world.voice.ended == [] and world.payments.refunds == {}


def test_a_completed_interview_is_never_refunded(world: World) -> None:
    sid = complete(world)
    assert world.flow.refund(sid, reason="no") == "not refunded: the session is completed"
    assert world.flow.task_mark_failed(sid, "X", "late") == "not refunded: the session is completed"
    assert world.payments.refunds == {}


# == the call ======================================================================================


def complete(world: World) -> str:
    sid, _, call_id = world.in_call()
    world.await_call_end(sid)
    world.end_call(good_call(call_id))
    assert world.flow.task_review_call(sid) == "assess"
    world.flow.task_generate_report(sid)
    assert world.flow.task_complete(sid) == "completed"
    return sid


def test_the_happy_path_ends_completed_with_one_report_whatever_is_retried(world: World) -> None:
    sid = complete(world)
    assert world.flow.task_review_call(sid) == "assess"
    source = world.repo.data.reports[sid].source.value
    assert world.flow.task_generate_report(sid) == source  # stored already: not written again
    assert world.flow.task_fallback_report(sid) == source
    assert world.metrics.total("ReportFallback") == 0
    assert world.flow.task_complete(sid) == "completed"
    assert world.reports.calls == 1
    assert world.status(sid) == "completed" and world.metrics.total("InterviewCompleted") == 1
    assert world.flow.report("alice", sid) == world.repo.data.reports[sid]
    assert world.payments.refunds == {}


def test_start_call_resumes_the_waiting_pipeline_once_and_a_repeat_returns_the_same_call(
    world: World,
) -> None:
    sid, _ = world.paid()
    token = world.await_candidate(sid)
    call = world.flow.start_call("alice", sid)
    assert world.flow.start_call("alice", sid) == call  # a second click
    assert world.voice.created == [call.call_id]
    assert world.workflow.resumed == [(token, {"callId": call.call_id})]
    assert world.status(sid) == "in_call" and world.session(sid).pipeline_token is None
    with pytest.raises(SessionNotFound):
        world.flow.start_call("mallory", sid)


def test_a_call_that_cannot_be_stored_is_ended(world: World) -> None:
    sid, _ = world.paid()
    world.await_candidate(sid)
    world.repo.data.calls["call-1"] = StoredCall("call-1", sid, 1, "ended", None)  # the insert fails
    with pytest.raises(UniqueViolation):
        world.flow.start_call("alice", sid)
    assert world.voice.ended == ["call-1"] and world.status(sid) == "paid"
    assert world.metrics.total("CallAbandoned") == 1


def test_the_report_of_an_earlier_attempt_resumes_nothing(world: World) -> None:
    sid, _, first = world.in_call()
    first_wait = world.await_call_end(sid)
    world.end_call(short_call(first))
    assert [t for t, _ in world.workflow.resumed][-1] == first_wait
    assert world.flow.task_review_call(sid) == "retake"
    assert world.status(sid) == "paid" and world.session(sid).retakes_used == 1
    world.await_candidate(sid)
    second = world.flow.start_call("alice", sid).call_id
    second_wait = world.await_call_end(sid)
    assert world.end_call(short_call(first)) == "call end duplicate"  # late, repeated
    assert world.end_call(good_call(first)) == "call end duplicate"
    assert second_wait in world.workflow.open_tokens  # the retake's wait goes on
    assert world.session(sid).pipeline_token == second_wait
    assert world.status(sid) == "in_call"
    assert world.end_call(good_call(second)) == "call end stored"
    assert world.workflow.resumed[-1] == (second_wait, {"callId": second})
    assert world.flow.task_review_call(sid) == "assess"


def test_a_report_before_the_wait_task_resumes_it_at_once(world: World) -> None:
    sid, _, call_id = world.in_call()
    world.end_call(good_call(call_id))
    token = world.await_call_end(sid)
    assert world.workflow.resumed[-1] == (token, {"callId": call_id})


def test_a_report_for_an_unknown_call_is_ignored(world: World) -> None:
    assert world.end_call(good_call("call-nobody")) == "unknown call ignored"
    assert world.repo.data.events == {}


def test_a_lost_report_is_asked_for_and_a_vapi_outage_counts_as_technical(world: World) -> None:
    sid, _, _ = world.in_call()
    world.voice.fail_get = True
    assert world.flow.task_reconcile(sid) == "reconcile-failed"
    assert world.flow.task_reconcile(sid) == "already ended"
    assert world.flow.task_review_call(sid) == "retake"  # a technical end: a free retake
    assert world.metrics.total("CallReconcileFailed") == 1


def test_the_verdicts_of_review_and_their_repeats(world: World) -> None:
    sid, payment_id, first = world.in_call()
    world.end_call(short_call(first))
    assert world.flow.task_review_call(sid) == "retake"
    assert world.flow.task_review_call(sid) == "retake"  # repeated: the same verdict, one retake
    assert world.session(sid).retakes_used == 1
    world.await_candidate(sid)
    second = world.flow.start_call("alice", sid).call_id
    assert world.flow.task_review_call(sid) == "retake"  # a retried review while the retake is live
    assert world.status(sid) == "in_call"
    world.end_call(short_call(second))
    assert world.flow.task_review_call(sid) == "refund"  # no retake left
    assert world.flow.task_review_call(sid) == "refund"
    assert world.status(sid) == "call_failed" and world.payments.refunds == {}
    assert world.flow.refund(sid, reason="call failed") == "refunded"
    assert world.payments.refunds[f"refund-{sid}"][1:] == (payment_id, 14900)


# == start against expiry ==========================================================================


def test_expiry_first_then_start_creates_no_call(world: World) -> None:
    sid, _ = expired(world)
    assert world.flow.task_expire(sid) == "refunded"
    with pytest.raises(InvalidState):
        world.flow.start_call("alice", sid)
    assert world.voice.created == [] and world.status(sid) == "refunded"


def test_start_first_then_expiry_refunds_nothing(world: World) -> None:
    sid, _ = expired(world)
    call = world.flow.start_call("alice", sid)
    assert world.flow.task_expire(sid) == "call started"
    assert world.status(sid) == "in_call" and world.payments.refunds == {}
    assert world.voice.live() == [call.call_id]


def test_a_call_the_provider_cannot_create_changes_nothing(world: World) -> None:
    sid, _ = expired(world)
    world.voice.fail_create = True
    with pytest.raises(VoiceUnavailable):
        world.flow.start_call("alice", sid)
    assert world.status(sid) == "paid" and world.repo.data.calls == {}
    assert world.session(sid).pipeline_token is not None  # still waiting for the candidate


# == retried tasks =================================================================================


def test_await_candidate_retried_after_the_start_goes_on_at_once(world: World) -> None:
    sid, _, call_id = world.in_call()
    token = world.await_candidate(sid)
    assert world.workflow.resumed[-1] == (token, {"callId": call_id, "status": "in_call"})
    assert world.session(sid).pipeline_token is None


# == the reconciler ================================================================================


def test_a_paid_session_whose_pipeline_never_started_is_started_by_the_reconciler(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    world.workflow.fail_start.append(RuntimeError("throttled"))
    assert world.verify(order_id, world.payment(order_id)).status is S.PAID  # paid all the same
    assert world.workflow.executions == {}
    assert world.flow.reconcile_all() == {}  # changed too recently
    world.repo.now += 121
    assert world.flow.reconcile_all() == {"start": 1}
    assert world.workflow.executions == {sid: "running"}
    assert world.workflow.payloads[sid]["timeouts"]["startWindowSeconds"] == 900 - 121  # type: ignore[index]
    world.repo.now += 121
    assert world.flow.reconcile_all() == {"none": 1}  # running: nothing to do
    assert world.metrics.total("ReconcilerActed", action="start") == 1


def test_an_ended_pipeline_is_restarted_under_a_new_name_then_given_up(world: World) -> None:
    sid, _, call_id = world.in_call()
    for n in (1, 2):
        world.workflow.executions[sid if n == 1 else f"{sid}-r{n - 1}"] = "ended"
        world.repo.now += 121
        assert world.flow.reconcile_all() == {"restart": 1}
        assert world.workflow.executions[f"{sid}-r{n}"] == "running"
        assert world.session(sid).pipeline_restarts == n
    world.workflow.executions[f"{sid}-r2"] = "ended"
    world.repo.now += 121
    assert world.flow.reconcile_all() == {"give_up": 1}
    assert world.voice.ended == [call_id] and world.status(sid) == "refunded"
    assert world.payments.refund_calls == 1


def test_an_unstarted_session_past_its_window_is_expired_and_refunded(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    world.workflow.fail_start.append(RuntimeError("throttled"))
    world.verify(order_id, world.payment(order_id))
    world.repo.now += 901
    assert world.flow.reconcile_all() == {"expire": 1}
    assert world.status(sid) == "refunded" and world.workflow.executions == {}


def test_a_session_left_expired_by_a_failed_refund_is_refunded_by_the_reconciler(world: World) -> None:
    sid, _ = expired(world)
    world.payments.fail.append(PaymentFailed("razorpay 502"))
    with pytest.raises(PaymentFailed):
        world.flow.task_expire(sid)
    world.workflow.executions[sid] = "ended"  # the execution's own retries ran out
    world.repo.now += 121
    assert world.flow.reconcile_all() == {"refund": 1}
    assert world.status(sid) == "refunded"
    world.repo.now += 121
    assert world.flow.reconcile_all() == {}  # final: no longer looked at


def test_ensure_pipeline_hands_a_burned_name_to_the_reconciler_at_once(world: World) -> None:
    sid = world.setup()
    order_id = world.order(sid)
    world.workflow.executions[sid] = "ended"  # an earlier execution of this name ended
    world.verify(order_id, world.payment(order_id))
    assert world.workflow.executions[f"{sid}-r1"] == "running"
    assert world.session(sid).pipeline_started and world.session(sid).pipeline_restarts == 1


# == every transition ==============================================================================


def test_every_transition_of_the_lifecycle_is_made_and_no_other() -> None:
    """Runs the scenarios above on one repository and checks the status changes they commit: every edge
    of lifecycle.TRANSITIONS is taken, and nothing else is (a free retake is committed as in_call → paid,
    through call_failed in check_transition)."""
    seen: set[tuple[S, S]] = set()

    def world() -> World:
        return World(repo=InMemoryFlowRepository())

    def run(scenario: Callable[[World], object]) -> None:
        w = world()
        scenario(w)
        seen.update(w.repo.transitions)

    run(complete)
    run(test_a_failed_payment_fails_the_attempt_and_a_new_payment_pays)
    run(test_the_verdicts_of_review_and_their_repeats)
    run(test_a_refund_is_sent_once_with_the_sessions_key)
    run(test_no_refund_while_a_call_is_live_and_a_failed_pipeline_ends_the_call_first)

    def failed_while_paid(w: World) -> None:
        sid, _ = w.paid()
        w.flow.task_mark_failed(sid, "X", "y")

    def failed_while_processing(w: World) -> None:
        sid, _, call_id = w.in_call()
        w.end_call(good_call(call_id))
        w.flow.task_review_call(sid)
        w.flow.task_mark_failed(sid, "ReportFailed", "y")

    def failed_after_call_failed(w: World) -> None:
        sid, _, call_id = w.in_call()
        w.policy = replace(w.policy, max_retakes=0)
        w.end_call(short_call(call_id))
        assert w.flow.task_review_call(sid) == "refund"
        w.flow.task_mark_failed(sid, "X", "y")

    for scenario in (failed_while_paid, failed_while_processing, failed_after_call_failed):
        run(scenario)
    edges = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    retake = (S.IN_CALL, S.PAID)
    assert seen - {retake} <= edges
    covered = seen | ({(S.IN_CALL, S.CALL_FAILED), (S.CALL_FAILED, S.PAID)} if retake in seen else set())
    assert edges - covered == set()
