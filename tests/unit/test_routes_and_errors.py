"""The route table and the error mapping, without a server."""

from __future__ import annotations

from prepkit.api.errors import status_for, validation_failure
from prepkit.domain import errors
from prepkit.routes import FUNCTIONS, ROUTES, route_for


def test_route_table_is_consistent() -> None:
    keys = [(r.method, r.path) for r in ROUTES]
    assert len(keys) == len(set(keys))
    assert route_for("POST", "/interviews/setup") is not None
    assert "dev" not in FUNCTIONS  # local-only routes have no deployed function
    assert set(FUNCTIONS) == {"reads", "setup", "payments", "start", "webhooks", "admin"}
    others = [errors.Unauthorized, errors.InvalidState, errors.PricingUnavailable, errors.PipelineUnavailable]
    assert [status_for(cls("x")) for cls in others] == [401, 409, 503, 503]


def test_validation_failure_names_the_fields() -> None:
    body = validation_failure(
        [
            {"type": "missing", "loc": ("body", "type"), "msg": "Field required"},
            {"type": "enum", "loc": ("body", "pace"), "msg": "x", "ctx": {"expected": "'relaxed' or 'fast'"}},
            {"type": "extra_forbidden", "loc": ("body", "price"), "msg": "x"},
            {
                "type": "too_long",
                "loc": ("body", "focusAreas", 0),
                "msg": "String should have at most 60 characters",
            },
        ]
    )
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"] == (
        "type is required; pace must be one of 'relaxed' or 'fast'; price is not an accepted field; "
        "focusAreas.0: string should have at most 60 characters"
    )
    assert [f["field"] for f in body["details"]["fields"]] == ["type", "pace", "price", "focusAreas.0"]
