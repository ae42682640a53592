"""Values PostgreSQL can hold. A vendor's JSON may carry what its text and jsonb types refuse: a NUL
character (\\u0000), a lone surrogate, NaN or Infinity (Python's json accepts them). These clean such values
and nothing else, so that a validly signed webhook is stored instead of failing with a 500."""

from __future__ import annotations

import math
from typing import Any


def clean_text(value: str) -> str:
    """`value` without NUL characters and with lone surrogates replaced: storable as UTF-8 text."""
    if value.isascii():
        return value.replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def jsonb_safe(value: Any) -> Any:
    """`value` with every string (keys too) cleaned and every non-finite number replaced by None."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [jsonb_safe(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): jsonb_safe(v) for k, v in value.items()}
    return value
