"""Razorpay can send anything, validly signed: every sample it publishes (shared/vendor/razorpay), mutated
on a parsed copy at every field the server reads (wrong types, NUL, lone surrogates, NaN and Infinity,
huge numbers, nesting 2,000 deep, missing fields, arrays for objects), signed with the webhook secret as
sent and POSTed to /webhooks/razorpay over HTTP, against real PostgreSQL. Never a 500: a 2xx (ignored
or applied) or a 400, and a 400 writes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import Flow
from tests.integration.test_payments import post_webhook, snapshot
from tests.integration.test_razorpay_webhooks import SAMPLES, parsed, raw
from tests.unit.test_vapi_messages import json_values

MakeFlow = Callable[..., Flow]

DEEP = "__nested_2000_deep__"  # replaced, in the serialised text, by 2,000 nested arrays
DEPTH = 2000

_ENTITY = ("payload", "payment", "entity")
_REFUND = ("payload", "refund", "entity")
#: every place the webhook handler reads (and the containers on the way there)
FIELDS: tuple[tuple[str, ...], ...] = (
    ("event",), ("payload",), ("payload", "payment"), _ENTITY, ("payload", "refund"), _REFUND,
    *((*_ENTITY, k) for k in (
        "id", "order_id", "amount", "currency", "status", "method", "error_code", "error_description",
        "captured", "notes",
    )),
    *((*_REFUND, k) for k in ("id", "payment_id", "amount", "status", "currency", "notes")),
)  # fmt: skip

_numbers = st.sampled_from(
    [10**400, -(10**400), 2**31, 2**63, -1, 0, -0.0, 1e308, 5e-324, float("nan"), float("inf"), -float("inf")]
)
_texts = st.sampled_from(
    ["\x00", "pay_\x00X", "\ud800", "order_\udfff", "", " ", "x" * 5000, "captured", "failed", "INR", "inr"]
)
#: what one field becomes
Op = tuple[str, Any]
ops: st.SearchStrategy[Op] = (
    st.tuples(st.just("set"), json_values | _numbers | _texts)
    | st.tuples(st.just("set"), st.lists(json_values, max_size=3))
    | st.just(("delete", None))
    | st.just(("listify", None))
    | st.just(("deep", None))
)


def mutate(body: dict[str, Any], changes: dict[tuple[str, ...], Op]) -> bytes:
    """The body with each change applied (the containers on a path made objects where they are not),
    serialised as Python does (NaN and Infinity as such, lone surrogates and NUL as escapes)."""
    for path, (op, value) in sorted(changes.items(), key=lambda c: len(c[0])):
        target = body
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        last = path[-1]
        if op == "delete":
            target.pop(last, None)
        elif op == "listify":
            target[last] = [target.get(last)]
        elif op == "deep":
            target[last] = DEEP
        else:
            target[last] = value
    text = json.dumps(body)
    return text.replace(json.dumps(DEEP), "[" * DEPTH + "]" * DEPTH).encode()


@dataclass
class Shop:
    """Two sessions of one user: one waiting for its payment (order `pending_order`), one paid by
    `paid_payment` (order `paid_order`). Mutated samples are pointed at them so they reach the database."""

    flow: Flow
    pending_order: str
    paid_order: str
    paid_payment: str
    amount: int
    sent: int = 0

    def post(self, body: bytes) -> Any:
        self.sent += 1
        return post_webhook(self.flow, body, event_id=f"evt_fuzz_{self.sent}")


@pytest.fixture
def shop(make_flow: MakeFlow) -> Shop:
    flow = make_flow(start_window_s=3600)  # no session expires (and is refunded) during the test
    pending = flow.setup()
    pending_order = flow.order(pending)["orderId"]
    paid = flow.setup()
    paid_order = flow.order(paid)["orderId"]
    checkout = flow.checkout(paid_order)
    r = flow.client.post("/payments/verify", json=checkout, headers=flow.headers("alice"))
    assert r.json()["status"] == "paid", r.text
    for thread in flow.container.extras.get("threads", []):
        thread.join(5)  # the simulated Checkout's own webhooks have landed: nothing else writes from here
    amount = flow.payments.orders[paid_order]["amount"]
    return Shop(flow, pending_order, paid_order, checkout["razorpay_payment_id"], amount)


def aimed(shop: Shop, name: str, target: str) -> dict[str, Any]:
    """A parsed copy of the sample whose payment (and refund) is about one of the shop's sessions."""
    body = parsed(name)
    payload = body.get("payload", {})
    if "payment" in payload:
        order = shop.pending_order if target == "pending" else shop.paid_order
        payload["payment"]["entity"].update(order_id=order, amount=shop.amount)
        if target == "paid" and "refund" in payload:
            payload["payment"]["entity"]["id"] = shop.paid_payment
    if "refund" in payload:
        payload["refund"]["entity"]["payment_id"] = shop.paid_payment
    return body


#: the samples about a payment or a refund three times as often as the (ignored) downtime ones
WEIGHTED = [n for n in SAMPLES if "downtime" not in n] * 3 + [n for n in SAMPLES if "downtime" in n]

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(
    name=st.sampled_from(WEIGHTED),
    target=st.sampled_from(["pending", "paid"]),
    changes=st.dictionaries(st.sampled_from(FIELDS), ops, min_size=1, max_size=4),
)
def test_any_signed_mutation_of_a_razorpay_sample_is_a_2xx_or_a_400_that_writes_nothing(
    shop: Shop,
    db: psycopg.Connection[Any],
    name: str,
    target: str,
    changes: dict[tuple[str, ...], Op],
) -> None:
    body = mutate(aimed(shop, name, target), changes)
    before = snapshot(db)
    r = shop.post(body)
    assert r.status_code in (200, 400), (r.status_code, r.text, body[:500])
    answer = r.json()
    event(f"{r.status_code} {answer.get('result', answer.get('error', ''))}"[:60])
    if r.status_code == 400:
        assert answer["code"] == "VALIDATION_ERROR", answer
        assert set(answer) == {"error", "code", "userMessage", "recoverable", "details"}
        assert snapshot(db) == before
    else:
        assert answer["ok"] is True
        assert isinstance(answer["result"], str)
        assert answer["result"].encode("utf-8")  # storable and printable: no lone surrogate
    # whatever it was, a redelivery answers the same and changes nothing more
    after = snapshot(db)
    again = post_webhook(shop.flow, body, event_id=f"evt_fuzz_{shop.sent}")
    assert again.status_code == r.status_code
    if r.status_code == 400:
        assert snapshot(db) == after


def _refund_body(shop: Shop, **refund: Any) -> bytes:
    body = aimed(shop, "docs_refund.processed_normal_refunds.json", "paid")
    body["payload"]["refund"]["entity"].update(refund)
    return json.dumps(body).encode()


def _captured_body(shop: Shop, target: str = "pending", **payment: Any) -> bytes:
    body = aimed(shop, "docs_payment.captured_card.json", target)
    body["payload"]["payment"]["entity"].update(payment)
    return json.dumps(body).encode()


# the shapes the issue measured as 500s, each pinned: what the server must answer, and that it writes nothing
CASES: dict[str, tuple[Callable[[Shop], bytes], int]] = {
    "body nested 2000 deep": (lambda _: b'{"event": ' * DEPTH + b"1" + b"}" * DEPTH, 400),
    "a field nested 2000 deep": (
        lambda s: _captured_body(s, notes=DEEP).replace(
            json.dumps(DEEP).encode(), b"[" * DEPTH + b"]" * DEPTH
        ),
        400,
    ),
    "NUL in the payment id": (lambda s: _captured_body(s, id="pay_\x00A"), 400),
    "lone surrogate in the payment id": (lambda s: _captured_body(s, id="pay_\ud800"), 400),
    "NUL in the order id": (lambda s: _captured_body(s, order_id="order_\x00A"), 400),
    "payment id an object": (lambda s: _captured_body(s, id={"a": 1}), 400),
    "amount NaN": (lambda s: _captured_body(s, amount=float("nan")), 400),
    "amount Infinity": (lambda s: _captured_body(s, amount=float("inf")), 400),
    "amount a float": (lambda s: _captured_body(s, amount=14900.0), 400),
    "amount 10**400": (lambda s: _captured_body(s, amount=10**400), 400),
    "entity a list": (
        lambda _: json.dumps({"event": "payment.captured", "payload": {"payment": []}}).encode(),
        400,
    ),
    "refund amount Infinity": (lambda s: _refund_body(s, amount=float("inf")), 400),
    "refund amount 10**400": (lambda s: _refund_body(s, amount=10**400), 400),
    "refund amount 2**63": (lambda s: _refund_body(s, amount=2**63), 400),
    "refund amount negative": (lambda s: _refund_body(s, amount=-1), 400),
    "refund amount a string": (lambda s: _refund_body(s, amount="50000"), 400),
    "refund id with a NUL": (lambda s: _refund_body(s, id="rfnd_\x00"), 400),
    "refund payment id a list": (lambda s: _refund_body(s, payment_id=["pay_X"]), 400),
    "event type with a lone surrogate": (
        lambda _: json.dumps({"event": "payment.\ud800", "payload": {}}).encode(),
        200,
    ),
    "event type an object": (lambda _: json.dumps({"event": {"a": [1]}, "payload": {}}).encode(), 200),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_body_that_once_was_a_500_has_a_clear_answer_and_a_400_writes_nothing(
    shop: Shop, db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture, case: str
) -> None:
    build, expected = CASES[case]
    before = snapshot(db)
    with caplog.at_level(logging.INFO, logger="prepkit"):
        r = shop.post(build(shop))
    assert r.status_code == expected, r.text
    if expected == 400:
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert snapshot(db) == before
        refused = [rec for rec in caplog.records if "razorpay webhook refused" in rec.getMessage()]
        assert refused, "a refused webhook is logged with its reason"
        assert r.json()["error"] in refused[0].getMessage()
    else:
        assert r.json()["result"].endswith("ignored")


def test_a_text_field_with_nul_or_a_lone_surrogate_is_stored_cleaned(
    shop: Shop, db: psycopg.Connection[Any]
) -> None:
    """A payment.failed whose description carries a NUL and a lone surrogate fails the attempt: the
    session's error and the payment row hold the text without them."""
    body = aimed(shop, "docs_payment.failed_card.json", "pending")
    body["payload"]["payment"]["entity"].update(
        error_description="Bank\x00 declined \ud800it", error_code="BAD\x00_REQUEST", method="card\x00"
    )
    r = shop.post(json.dumps(body).encode())
    assert r.status_code == 200, r.text
    assert db.execute(
        "SELECT status, method, error_code, error_description FROM payments WHERE order_id = %s",
        (shop.pending_order,),
    ).fetchone() == ("failed", "card", "BAD_REQUEST", "Bank declined ?it")
    assert db.execute(
        "SELECT s.status, s.error_message FROM interview_sessions s JOIN payment_orders o ON o.session_id = s.id"
        " WHERE o.order_id = %s",
        (shop.pending_order,),
    ).fetchone() == ("payment_failed", "Bank declined ?it")


def test_every_sample_as_published_still_reaches_the_database(
    shop: Shop, db: psycopg.Connection[Any]
) -> None:
    """The fuzz's base bodies are understood: each aimed sample is applied, not refused or ignored."""
    for name in SAMPLES:
        assert json.loads(raw(name))  # the vendor's bytes parse
        body = aimed(shop, name, "pending")
        r = shop.post(json.dumps(body).encode())
        assert r.status_code == 200, (name, r.text)
        event = body["event"]
        if "downtime" in event:
            assert r.json()["result"] == f"{event} ignored"
        else:
            assert r.json()["result"].startswith(f"{event} applied"), (name, r.json())
