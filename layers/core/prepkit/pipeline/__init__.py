"""The interview pipeline: one ASL file (Step Functions, JSONPath) and the Lambda that runs its tasks."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

ASL_FILE = "interview_pipeline.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


def asl_text() -> str:
    return (resources.files("prepkit.pipeline") / ASL_FILE).read_text(encoding="utf-8")


def placeholders(text: str | None = None) -> set[str]:
    return set(PLACEHOLDER.findall(text if text is not None else asl_text()))


def render(substitutions: dict[str, str]) -> dict[str, Any]:
    """The definition with every ${Name} replaced, as CDK's definition_substitutions would do."""
    text = asl_text()
    missing = placeholders(text) - set(substitutions)
    if missing:
        raise KeyError(f"no substitution for {sorted(missing)}")
    definition: dict[str, Any] = json.loads(PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text))
    return definition
