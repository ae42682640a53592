"""Signature checks for Razorpay and Vapi: HMAC-SHA256, constant-time compares, raw bytes only."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _equal(expected: str, given: str | None) -> bool:
    return (
        bool(given) and given is not None and hmac.compare_digest(expected.encode(), given.strip().encode())
    )


def checkout_signature(key_secret: str, order_id: str, payment_id: str) -> str:
    """What Razorpay Checkout returns as razorpay_signature."""
    return hmac_hex(key_secret, f"{order_id}|{payment_id}".encode())


def checkout_signature_valid(key_secret: str, order_id: str, payment_id: str, signature: str) -> bool:
    if not key_secret:  # a function without the secret can verify nothing (never an empty HMAC key)
        return False
    return _equal(checkout_signature(key_secret, order_id, payment_id), signature)


def razorpay_webhook_valid(webhook_secret: str, raw_body: bytes, signature: str | None) -> bool:
    if not webhook_secret:
        return False
    return _equal(hmac_hex(webhook_secret, raw_body), signature)


@dataclass(frozen=True, slots=True)
class VapiAuth:
    """How Vapi authenticates its webhooks to us (a setting: Vapi supports several credential types)."""

    mode: Literal["secret_header", "bearer", "hmac"]
    secret: str
    secret_header: str = "x-vapi-secret"  # noqa: S105 (a header name)
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"
    signature_prefix: str = ""
    signed_payload: Literal["timestamp.body", "body"] = "timestamp.body"
    max_clock_skew_s: int = 300
    # as Vapi's HMAC credential allows (OpenAPI HMACAuthenticationPlan.algorithm / .signatureEncoding)
    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"

    def _hmac(self, message: bytes) -> str:
        digest = hmac.new(self.secret.encode(), message, self.algorithm).digest()
        return digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()

    def sign(self, raw_body: bytes, timestamp: int) -> dict[str, str]:
        """The headers Vapi would send (used by the offline call simulator and tests)."""
        if self.mode == "secret_header":
            return {self.secret_header: self.secret}
        if self.mode == "bearer":
            return {"authorization": f"Bearer {self.secret}"}
        message = f"{timestamp}.".encode() + raw_body if self.signed_payload == "timestamp.body" else raw_body
        return {
            self.signature_header: self.signature_prefix + self._hmac(message),
            self.timestamp_header: str(timestamp),
        }

    def verify(self, headers: Mapping[str, str], raw_body: bytes, now: float) -> bool:
        """`headers` must be case-insensitive (as Starlette's are)."""
        if not self.secret:
            return False
        if self.mode == "secret_header":
            return _equal(self.secret, headers.get(self.secret_header))
        if self.mode == "bearer":
            scheme, _, token = (headers.get("authorization") or "").partition(" ")
            return scheme.lower() == "bearer" and _equal(self.secret, token)
        signature = headers.get(self.signature_header)
        if signature is None or not signature.startswith(self.signature_prefix):
            return False
        timestamp = headers.get(self.timestamp_header)
        if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit()):
            return False  # "²".isdigit() is True, int("²") raises: ASCII digits only
        if self.signed_payload == "timestamp.body":
            if timestamp is None:
                return False
            message = f"{timestamp}.".encode() + raw_body
        else:
            message = raw_body
        if timestamp is not None:  # freshness whenever a timestamp is sent (seconds or milliseconds)
            sent = int(timestamp) / (1000 if len(timestamp) >= 13 else 1)
            if abs(now - sent) > self.max_clock_skew_s:
                return False
        return _equal(self._hmac(message), signature[len(self.signature_prefix) :])
