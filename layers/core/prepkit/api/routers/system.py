from __future__ import annotations

from fastapi import APIRouter

from prepkit.api.auth import issue_local_token
from prepkit.api.deps import ContainerDep, CurrentUser, SettingsDep
from prepkit.api.schemas import CheckoutIn, CheckoutOut, HealthOut, TokenIn, TokenOut

health_router = APIRouter(tags=["system"])
dev_router = APIRouter(prefix="/dev", tags=["local development"])


@health_router.get("/health", response_model=HealthOut)
def health(settings: SettingsDep) -> HealthOut:
    """Liveness: the process is up and its settings are valid."""
    return HealthOut(status="ok", stage=settings.stage.value)


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
