"""Who is calling. Locally the app verifies its own HS256 tokens (signature, expiry, issuer, audience);
deployed, API Gateway's JWT authorizer (Cognito) has verified the token and the claims arrive in the
event. Either way the rest of the code sees a Principal."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from prepkit.domain.errors import Unauthorized
from prepkit.settings import Settings

GROUPS_CLAIM = "cognito:groups"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    groups: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups


def issue_local_token(settings: Settings, user_id: str, groups: list[str]) -> str:
    import jwt  # local and test stages only: deployed functions never pay for the import

    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + settings.local_token_ttl_s,
        GROUPS_CLAIM: groups,
        "token_use": "access",
    }
    return jwt.encode(claims, settings.local_jwt_secret.get_secret_value(), algorithm="HS256")


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


def _verify_local(settings: Settings, token: str) -> dict[str, Any]:
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.local_jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {type(exc).__name__}") from None
    return claims


def _apigw_claims(request: Request) -> dict[str, Any]:
    event = request.scope.get("aws.event") or {}
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims")
    if not isinstance(claims, dict):
        raise Unauthorized("no verified claims from the authorizer")
    return claims


def _groups(raw: Any) -> frozenset[str]:
    # API Gateway flattens array claims to a string such as "[admin teachers]"
    if isinstance(raw, str):
        raw = raw.strip("[]").replace(",", " ").split()
    if isinstance(raw, list):
        return frozenset(str(g) for g in raw if str(g))
    return frozenset()


def authenticate(request: Request, settings: Settings) -> Principal:
    if settings.auth_mode == "apigw":
        claims = _apigw_claims(request)
    else:
        claims = _verify_local(settings, _bearer(request))
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 256 or not sub.isprintable():
        raise Unauthorized("token has no subject")
    return Principal(user_id=sub, groups=_groups(claims.get(GROUPS_CLAIM)))
