"""The route → function table: the one place that says which Lambda function serves which route, whether
it is public and which rate-limit class it counts against. The local server serves every route of the
table; each Lambda serves only its own; the CDK stack wires API Gateway from the same table."""

from __future__ import annotations

from dataclasses import dataclass

#: Request body caps in bytes. The JSON API's bodies are small (the `max_body_bytes` setting may change
#: its cap); the vendors' webhooks are not: a real Vapi end-of-call-report echoes the whole assistant
#: (system prompt included) twice, plus the messages in two formats and the transcript (~24 KB with only
#: the required fields, ~70 KB for 20 minutes, ~150 KB for 45). API Gateway HTTP API accepts up to 10 MB,
#: Lambda's synchronous invocation 6 MB. No setting lowers a webhook's cap.
JSON_MAX_BODY_BYTES = 16 * 1024
VAPI_WEBHOOK_MAX_BODY_BYTES = 2 * 1024 * 1024
RAZORPAY_WEBHOOK_MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function: str
    public: bool = False
    rate_class: str | None = None
    local_only: bool = False  # exists only in the local and test stages
    max_body_bytes: int | None = None  # None: the JSON API's cap

    def body_limit(self, json_cap: int = JSON_MAX_BODY_BYTES) -> int:
        """This route's body cap, given the JSON API's cap (which is the floor for every route)."""
        return json_cap if self.max_body_bytes is None else max(self.max_body_bytes, json_cap)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "reads", public=True),
    Route("GET", "/ready", "reads", public=True),
    Route("POST", "/dev/token", "dev", public=True, local_only=True),
    Route("POST", "/interviews/setup", "setup", rate_class="setup"),
    Route("GET", "/interviews/history", "reads", rate_class="history"),
    Route("GET", "/interviews/stats", "reads", rate_class="stats"),
    Route("GET", "/interviews/{session_id}", "reads", rate_class="status"),
    Route("POST", "/dev/checkout", "dev", rate_class="verify", local_only=True),
    Route("POST", "/interviews/{session_id}/order", "payments", rate_class="order"),
    Route("POST", "/payments/verify", "payments", rate_class="verify"),
    Route("POST", "/interviews/{session_id}/start", "start", rate_class="start"),
    Route("GET", "/interviews/{session_id}/report", "reads", rate_class="report"),
    Route(
        "POST", "/webhooks/razorpay", "webhooks", public=True, max_body_bytes=RAZORPAY_WEBHOOK_MAX_BODY_BYTES
    ),
    Route("POST", "/webhooks/vapi", "webhooks", public=True, max_body_bytes=VAPI_WEBHOOK_MAX_BODY_BYTES),
    Route("GET", "/admin/metrics", "admin", rate_class="admin"),
)

#: functions that serve no HTTP route: the pipeline's tasks (invoked by Step Functions) and the
#: migrations (run at deploy by a CDK trigger)
NON_HTTP_FUNCTIONS: tuple[str, ...] = ("pipeline", "migrate")

#: the deployed Lambda functions, each with an entry point at functions/<name>/handler.py
FUNCTIONS: tuple[str, ...] = tuple(dict.fromkeys(r.function for r in ROUTES if not r.local_only))

_BY_KEY = {(r.method, r.path): r for r in ROUTES}


def route_for(method: str, path: str) -> Route | None:
    """The route of a path template (as FastAPI declares it), e.g. ("GET", "/interviews/{session_id}")."""
    return _BY_KEY.get((method, path))


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.strip("/").split("/")) if path.strip("/") else ()


_TEMPLATES = tuple((r, _segments(r.path)) for r in ROUTES)


def match(method: str, path: str) -> Route | None:
    """The route a request's concrete path matches (a `{param}` segment matches any one non-empty
    segment); None when no route of the table matches."""
    wanted = _segments(path)
    for route, template in _TEMPLATES:
        if route.method != method or len(template) != len(wanted):
            continue
        if all(
            t == w or (t.startswith("{") and t.endswith("}") and w)
            for t, w in zip(template, wanted, strict=True)
        ):
            return route
    return None
