"""Why a call ended, as the voice provider says it (Vapi's `endedReason`), sorted into what can be scored.

Two classes only. ASSESSABLE: the interview ran and ended the way an interview ends (the candidate or the
interviewer hung up, time ran out, the candidate went silent); whether enough was said is decided
afterwards from the duration and the transcript. TECHNICAL: everything else: every error and fault value
(the ~550 `*error*` / `*fault*` values: `pipeline-error-*`, `call.start.error-*`,
`call.in-progress.error-vapifault-*` / `-providerfault-*`, ...), the ends that mean no interview took place
(no microphone permission, worker shutdown, cancelled, voicemail, phone-only outcomes), our own
`reconcile-failed`, a missing reason, and any value the provider adds later. Unknown is technical on
purpose: a call is never scored, and kept as paid, on a reason nobody has read.
"""

from __future__ import annotations

import re
from enum import StrEnum


class EndClass(StrEnum):
    ASSESSABLE = "assessable"
    TECHNICAL = "technical"


#: the reasons an interview ends normally (each is a value of Vapi's endedReason enum)
ASSESSABLE_END_REASONS: frozenset[str] = frozenset(
    {
        "customer-ended-call",  # the candidate hung up
        "assistant-ended-call",  # the interviewer ended it (the endCall tool)
        "assistant-ended-call-after-message-spoken",
        "assistant-ended-call-with-hangup-task",
        "assistant-said-end-call-phrase",  # the interviewer said an endCallPhrases phrase
        "exceeded-max-duration",  # time ran out (maxDurationSeconds)
        "silence-timed-out",  # the candidate stopped answering: the transcript decides
    }
)

#: the rule for a fault: any value that names an error or a fault (vapifault, providerfault, ...)
FAULT = re.compile(r"error|fault", re.IGNORECASE)

#: our own value when GET /call could not tell how a call ended (the report was lost)
RECONCILE_FAILED = "reconcile-failed"


def is_fault(reason: str) -> bool:
    return FAULT.search(reason) is not None


def classify(reason: str | None) -> EndClass:
    """ASSESSABLE only for a known normal end; a fault, a non-interview end, None or a value we have not
    seen is TECHNICAL."""
    if reason is None:
        return EndClass.TECHNICAL
    normalized = reason.strip()
    if normalized in ASSESSABLE_END_REASONS:
        return EndClass.ASSESSABLE
    return EndClass.TECHNICAL
