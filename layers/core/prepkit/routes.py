"""The route → function table: the one place that says which Lambda function serves which route, whether
it is public and which rate-limit class it counts against. The local server serves every route of the
table; each Lambda serves only its own; the CDK stack wires API Gateway from the same table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function: str
    public: bool = False
    rate_class: str | None = None
    local_only: bool = False  # exists only in the local and test stages


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "reads", public=True),
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
    Route("POST", "/webhooks/razorpay", "webhooks", public=True),
    Route("POST", "/webhooks/vapi", "webhooks", public=True),
    Route("GET", "/admin/metrics", "admin", rate_class="admin"),
)

#: functions that serve no HTTP route: the pipeline's tasks (invoked by Step Functions) and the
#: migrations (run at deploy by a CDK trigger)
NON_HTTP_FUNCTIONS: tuple[str, ...] = ("pipeline", "migrate")

#: the deployed Lambda functions, each with an entry point at functions/<name>/handler.py
FUNCTIONS: tuple[str, ...] = tuple(dict.fromkeys(r.function for r in ROUTES if not r.local_only))

_BY_KEY = {(r.method, r.path): r for r in ROUTES}


def route_for(method: str, path: str) -> Route | None:
    return _BY_KEY.get((method, path))
