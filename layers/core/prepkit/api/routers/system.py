from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from prepkit.adapters.readiness import readiness_for
from prepkit.api.auth import issue_local_token
from prepkit.api.deps import ContainerDep, CurrentUser, SettingsDep
from prepkit.api.errors import error_body
from prepkit.api.schemas import CheckoutIn, CheckoutOut, HealthOut, TokenIn, TokenOut

health_router = APIRouter(tags=["system"])
dev_router = APIRouter(prefix="/dev", tags=["local development"])


@health_router.get("/health", response_model=HealthOut)
def health(settings: SettingsDep) -> HealthOut:
    """Liveness: the process is up and its settings are valid."""
    return HealthOut(status="ok", stage=settings.stage.value)


@health_router.get("/ready", responses={503: {"description": "a dependency cannot serve now"}})
def ready(container: ContainerDep) -> JSONResponse:
    """Readiness: the database, the rate-limit table and the state machine each answered a short probe
    (about a second at most; the answer is reused for a second). 200 when all did; otherwise 503 in the
    error shape, recoverable, with each check's outcome in `details.checks`."""
    results = readiness_for(container).check()
    checks = {
        name: {"ok": r.ok, "ms": r.ms, **({"error": r.error} if r.error else {})}
        for name, r in results.items()
    }
    if all(r.ok for r in results.values()):
        return JSONResponse({"status": "ready", "stage": container.settings.stage.value, "checks": checks})
    failing = ", ".join(name for name, r in results.items() if not r.ok)
    return JSONResponse(
        error_body(
            "NOT_READY",
            f"not ready: {failing}",
            "We are having a brief technical problem. Please try again in a few seconds.",
            recoverable=True,
            details={"checks": checks},
        ),
        status_code=503,
    )


@dev_router.post("/token", response_model=TokenOut)
def dev_token(settings: SettingsDep, body: TokenIn) -> TokenOut:
    """Local and test stages only: a signed token for any user id. This route does not exist deployed."""
    token = issue_local_token(settings, body.user_id, body.groups)
    return TokenOut(token=token, expires_in=settings.local_token_ttl_s)


@dev_router.post("/checkout", response_model=CheckoutOut)
def dev_checkout(user: CurrentUser, container: ContainerDep, body: CheckoutIn) -> CheckoutOut:
    """Local and test stages only: pay an order as Razorpay Checkout would (signed result + webhook)."""
    from prepkit.local.checkout import simulate_checkout

    return CheckoutOut(**simulate_checkout(container, user.user_id, body.order_id, body.outcome))
