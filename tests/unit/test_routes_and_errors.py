"""The route table and the error mapping, without a server."""

from __future__ import annotations

from prepkit.api.errors import STATUS_BY_CODE, validation_failure
from prepkit.domain import errors
from prepkit.routes import FUNCTIONS, ROUTES, route_for


def test_route_table_is_consistent() -> None:
    keys = [(r.method, r.path) for r in ROUTES]
    assert len(keys) == len(set(keys))
    assert route_for("POST", "/interviews/setup") is not None
    assert "dev" not in FUNCTIONS  # local-only routes have no deployed function
    assert all(r.rate_class for r in ROUTES if not r.public)
    assert all(r.rate_class is None for r in ROUTES if r.public)


def test_every_domain_error_code_has_a_status() -> None:
    codes = {cls.code for cls in errors.DomainError.__subclasses__()} | {errors.DomainError.code}
    assert codes <= set(STATUS_BY_CODE)
    assert STATUS_BY_CODE["SESSION_NOT_FOUND"] == 404
    assert STATUS_BY_CODE["VALIDATION_ERROR"] == 400


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
