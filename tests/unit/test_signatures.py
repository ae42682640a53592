"""Razorpay and Vapi signature checks: HMAC-SHA256 over the exact bytes, every credential mode of Vapi,
freshness of signed timestamps, case-insensitive header lookup."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Literal

import pytest
from starlette.datastructures import Headers

from prepkit.domain.signatures import (
    VapiAuth,
    checkout_signature,
    checkout_signature_valid,
    razorpay_webhook_valid,
)

KEY_SECRET = "rzp_test_key_secret"
WEBHOOK_SECRET = "rzp_webhook_secret"
ORDER = "order_PqR123abc"
PAYMENT = "pay_XyZ987def"
VAPI_SECRET = "vapi-webhook-secret"
BODY = json.dumps(
    {"message": {"type": "end-of-call-report", "call": {"id": "call-1"}}}, separators=(",", ":")
).encode()
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


def expected_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def as_headers(raw: dict[str, str]) -> Headers:
    """What Starlette gives a route: case-insensitive."""
    return Headers(headers=raw)


def upper(raw: dict[str, str]) -> dict[str, str]:
    """The same headers with their names spelled as another client might."""
    return {"-".join(part.capitalize() for part in name.split("-")): value for name, value in raw.items()}


# --- Razorpay ----------------------------------------------------------------------------------


def test_checkout_signature_is_hmac_of_order_and_payment() -> None:
    hand = hmac.new(KEY_SECRET.encode(), f"{ORDER}|{PAYMENT}".encode(), hashlib.sha256).hexdigest()
    assert checkout_signature(KEY_SECRET, ORDER, PAYMENT) == hand
    assert checkout_signature_valid(KEY_SECRET, ORDER, PAYMENT, hand)


@pytest.mark.parametrize(
    ("secret", "order", "payment"),
    [
        ("another_secret", ORDER, PAYMENT),
        (KEY_SECRET, PAYMENT, ORDER),  # swapped
        (KEY_SECRET, "order_other", PAYMENT),
        (KEY_SECRET, ORDER, "pay_other"),
    ],
)
def test_checkout_signature_for_anything_else_is_refused(secret: str, order: str, payment: str) -> None:
    signature = checkout_signature(secret, order, payment)
    assert not checkout_signature_valid(KEY_SECRET, ORDER, PAYMENT, signature)


def test_checkout_signature_garbage_is_refused() -> None:
    good = checkout_signature(KEY_SECRET, ORDER, PAYMENT)
    assert not checkout_signature_valid(KEY_SECRET, ORDER, PAYMENT, "")
    assert not checkout_signature_valid(KEY_SECRET, ORDER, PAYMENT, good[:-1])
    assert not checkout_signature_valid(
        KEY_SECRET, ORDER, PAYMENT, good[:-1] + ("0" if good[-1] != "0" else "1")
    )


def test_webhook_signature_is_over_the_raw_bytes() -> None:
    raw = b'{"event":"payment.captured","payload":{"payment":{"entity":{"id":"pay_1","amount":14900}}}}'
    signature = expected_hex(WEBHOOK_SECRET, raw)
    assert razorpay_webhook_valid(WEBHOOK_SECRET, raw, signature)
    reserialised = json.dumps(json.loads(raw)).encode()  # same JSON, different whitespace
    assert reserialised != raw
    assert json.loads(reserialised) == json.loads(raw)
    assert not razorpay_webhook_valid(WEBHOOK_SECRET, reserialised, signature)


def test_webhook_signature_with_wrong_secret_or_none_is_refused() -> None:
    raw = b'{"event":"refund.processed"}'
    assert not razorpay_webhook_valid(WEBHOOK_SECRET, raw, expected_hex("other-secret", raw))
    assert not razorpay_webhook_valid(WEBHOOK_SECRET, raw, None)
    assert not razorpay_webhook_valid(WEBHOOK_SECRET, raw, "")


# --- Vapi: static credentials ------------------------------------------------------------------


def test_secret_header_mode() -> None:
    auth = VapiAuth(mode="secret_header", secret=VAPI_SECRET)
    signed = auth.sign(BODY, NOW)
    assert signed == {"x-vapi-secret": VAPI_SECRET}
    assert auth.verify(as_headers(signed), BODY, NOW)
    assert auth.verify(as_headers(upper(signed)), BODY, NOW)
    assert auth.verify(as_headers({"X-VAPI-SECRET": VAPI_SECRET}), BODY, NOW)
    assert not auth.verify(as_headers({"x-vapi-secret": "wrong"}), BODY, NOW)
    assert not auth.verify(as_headers({}), BODY, NOW)
    assert not auth.verify(as_headers({"authorization": f"Bearer {VAPI_SECRET}"}), BODY, NOW)


def test_secret_header_mode_with_a_custom_header_name() -> None:
    auth = VapiAuth(mode="secret_header", secret=VAPI_SECRET, secret_header="X-Custom-Token")
    assert auth.verify(as_headers(auth.sign(BODY, NOW)), BODY, NOW)
    assert auth.verify(as_headers({"x-custom-token": VAPI_SECRET}), BODY, NOW)
    assert not auth.verify(as_headers({"x-vapi-secret": VAPI_SECRET}), BODY, NOW)


def test_bearer_mode() -> None:
    auth = VapiAuth(mode="bearer", secret=VAPI_SECRET)
    signed = auth.sign(BODY, NOW)
    assert signed == {"authorization": f"Bearer {VAPI_SECRET}"}
    assert auth.verify(as_headers(signed), BODY, NOW)
    assert auth.verify(as_headers({"Authorization": f"bearer {VAPI_SECRET}"}), BODY, NOW)
    assert not auth.verify(as_headers({"Authorization": "Bearer wrong"}), BODY, NOW)
    assert not auth.verify(as_headers({"Authorization": f"Basic {VAPI_SECRET}"}), BODY, NOW)
    assert not auth.verify(as_headers({"Authorization": VAPI_SECRET}), BODY, NOW)
    assert not auth.verify(as_headers({}), BODY, NOW)


# --- Vapi: HMAC --------------------------------------------------------------------------------

HMAC_MODES = [
    VapiAuth(mode="hmac", secret=VAPI_SECRET),
    VapiAuth(mode="hmac", secret=VAPI_SECRET, signature_prefix="sha256="),
    VapiAuth(mode="hmac", secret=VAPI_SECRET, signed_payload="body"),
    VapiAuth(mode="hmac", secret=VAPI_SECRET, signed_payload="body", signature_prefix="sha256="),
]
HMAC_IDS = ["timestamp.body", "timestamp.body+prefix", "body", "body+prefix"]


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_sign_is_the_documented_hmac(auth: VapiAuth) -> None:
    signed = auth.sign(BODY, NOW)
    message = f"{NOW}.".encode() + BODY if auth.signed_payload == "timestamp.body" else BODY
    assert signed == {
        "x-signature": auth.signature_prefix + expected_hex(VAPI_SECRET, message),
        "x-timestamp": str(NOW),
    }


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_sign_verifies(auth: VapiAuth) -> None:
    signed = auth.sign(BODY, NOW)
    assert auth.verify(as_headers(signed), BODY, NOW)
    assert auth.verify(as_headers(upper(signed)), BODY, NOW + 10)


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_tampered_body_fails(auth: VapiAuth) -> None:
    signed = auth.sign(BODY, NOW)
    tampered = BODY.replace(b"call-1", b"call-2")
    assert tampered != BODY
    assert not auth.verify(as_headers(signed), tampered, NOW)
    assert not auth.verify(as_headers(signed), json.dumps(json.loads(BODY)).encode(), NOW)


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_wrong_secret_fails(auth: VapiAuth) -> None:
    forger = VapiAuth(
        mode="hmac",
        secret="not-the-secret",
        signature_prefix=auth.signature_prefix,
        signed_payload=auth.signed_payload,
    )
    assert not auth.verify(as_headers(forger.sign(BODY, NOW)), BODY, NOW)


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_missing_signature_fails(auth: VapiAuth) -> None:
    signed = auth.sign(BODY, NOW)
    assert not auth.verify(as_headers({"x-timestamp": signed["x-timestamp"]}), BODY, NOW)
    assert not auth.verify(as_headers({}), BODY, NOW)


def test_hmac_over_timestamp_and_body_needs_the_timestamp() -> None:
    auth = VapiAuth(mode="hmac", secret=VAPI_SECRET)
    signed = auth.sign(BODY, NOW)
    assert not auth.verify(as_headers({"x-signature": signed["x-signature"]}), BODY, NOW)
    # the timestamp is signed: moving it invalidates the signature even within the allowed skew
    moved = {**signed, "x-timestamp": str(NOW + 1)}
    assert not auth.verify(as_headers(moved), BODY, NOW)
    assert not auth.verify(as_headers({**signed, "x-timestamp": "soon"}), BODY, NOW)


def test_hmac_over_body_alone_accepts_no_timestamp() -> None:
    auth = VapiAuth(mode="hmac", secret=VAPI_SECRET, signed_payload="body")
    signed = auth.sign(BODY, NOW)
    assert auth.verify(as_headers({"x-signature": signed["x-signature"]}), BODY, NOW)
    # a timestamp that is sent is still checked for freshness and form
    assert not auth.verify(as_headers({**signed, "x-timestamp": "yesterday"}), BODY, NOW)


def test_hmac_prefix_is_required_when_configured() -> None:
    auth = VapiAuth(mode="hmac", secret=VAPI_SECRET, signature_prefix="sha256=")
    signed = auth.sign(BODY, NOW)
    assert signed["x-signature"].startswith("sha256=")
    bare = {**signed, "x-signature": signed["x-signature"].removeprefix("sha256=")}
    assert not auth.verify(as_headers(bare), BODY, NOW)
    unprefixed = VapiAuth(mode="hmac", secret=VAPI_SECRET)
    assert not unprefixed.verify(as_headers(signed), BODY, NOW)


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_stale_timestamp_fails(auth: VapiAuth) -> None:
    signed = auth.sign(BODY, NOW)
    assert auth.verify(as_headers(signed), BODY, NOW + auth.max_clock_skew_s)
    assert auth.verify(as_headers(signed), BODY, NOW - auth.max_clock_skew_s)
    assert not auth.verify(as_headers(signed), BODY, NOW + auth.max_clock_skew_s + 1)
    assert not auth.verify(as_headers(signed), BODY, NOW - auth.max_clock_skew_s - 1)


def test_hmac_custom_skew() -> None:
    auth = VapiAuth(mode="hmac", secret=VAPI_SECRET, max_clock_skew_s=5)
    signed = auth.sign(BODY, NOW)
    assert auth.verify(as_headers(signed), BODY, NOW + 5)
    assert not auth.verify(as_headers(signed), BODY, NOW + 6)


@pytest.mark.parametrize("auth", HMAC_MODES, ids=HMAC_IDS)
def test_hmac_millisecond_timestamp(auth: VapiAuth) -> None:
    millis = NOW * 1000 + 250
    signed = auth.sign(BODY, millis)
    assert signed["x-timestamp"] == str(millis)
    assert auth.verify(as_headers(signed), BODY, NOW + 30.5)
    assert not auth.verify(as_headers(signed), BODY, NOW + auth.max_clock_skew_s + 2)


def test_hmac_custom_header_names_are_case_insensitive() -> None:
    auth = VapiAuth(
        mode="hmac",
        secret=VAPI_SECRET,
        signature_header="X-Vapi-Signature",
        timestamp_header="X-Vapi-Timestamp",
    )
    signed = auth.sign(BODY, NOW)
    assert set(signed) == {"X-Vapi-Signature", "X-Vapi-Timestamp"}
    lower = {name.lower(): value for name, value in signed.items()}
    assert auth.verify(as_headers(lower), BODY, NOW)
    assert auth.verify(as_headers({name.upper(): value for name, value in signed.items()}), BODY, NOW)
    assert not auth.verify(
        as_headers({"x-signature": lower["x-vapi-signature"], "x-timestamp": str(NOW)}), BODY, NOW
    )


def test_hmac_non_ascii_digit_timestamp_is_refused_not_an_error() -> None:
    """Header bytes are decoded as latin-1: b"\\xb2" arrives as "²", which str.isdigit() accepts
    but int() does not. A malformed credential must be refused (401), never raise (500)."""
    auth = VapiAuth(mode="hmac", secret=VAPI_SECRET)
    signed = auth.sign(BODY, NOW)
    headers = Headers(raw=[(b"x-signature", signed["x-signature"].encode()), (b"x-timestamp", b"\xb2")])
    assert headers["x-timestamp"] == "\u00b2"
    assert auth.verify(headers, BODY, NOW) is False


# --- Vapi: HMAC algorithm and encoding (Vapi's HMACAuthenticationPlan: sha256|sha512|sha1, hex|base64) --

Algorithm = Literal["sha256", "sha512", "sha1"]
Encoding = Literal["hex", "base64"]
Payload = Literal["timestamp.body", "body"]
ALGORITHMS: tuple[Algorithm, ...] = ("sha256", "sha512", "sha1")
ENCODINGS: tuple[Encoding, ...] = ("hex", "base64")


def expected_digest(algorithm: str, encoding: str, message: bytes) -> str:
    digest = hmac.new(VAPI_SECRET.encode(), message, getattr(hashlib, algorithm)).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def hmac_auth(
    algorithm: Algorithm, encoding: Encoding, payload: Payload, secret: str = VAPI_SECRET
) -> VapiAuth:
    return VapiAuth(
        mode="hmac", secret=secret, algorithm=algorithm, encoding=encoding, signed_payload=payload
    )


@pytest.mark.parametrize("payload", ["timestamp.body", "body"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hmac_every_algorithm_and_encoding_signs_verifies_and_refuses_tampering(
    algorithm: Algorithm, encoding: Encoding, payload: Payload
) -> None:
    auth = hmac_auth(algorithm, encoding, payload)
    signed = auth.sign(BODY, NOW)
    message = f"{NOW}.".encode() + BODY if payload == "timestamp.body" else BODY
    assert signed["x-signature"] == expected_digest(algorithm, encoding, message)
    assert auth.verify(as_headers(signed), BODY, NOW)
    assert not auth.verify(as_headers(signed), BODY.replace(b"call-1", b"call-2"), NOW)
    forged = hmac_auth(algorithm, encoding, payload, secret="not-the-secret")
    assert not auth.verify(as_headers(forged.sign(BODY, NOW)), BODY, NOW)
    for other_algorithm in ALGORITHMS:  # a signature made another way is refused
        for other_encoding in ENCODINGS:
            if (other_algorithm, other_encoding) != (algorithm, encoding):
                other = hmac_auth(other_algorithm, other_encoding, payload)
                assert not auth.verify(as_headers(other.sign(BODY, NOW)), BODY, NOW)


def test_hmac_base64_with_a_prefix_and_the_default_stays_sha256_hex() -> None:
    auth = VapiAuth(
        mode="hmac", secret=VAPI_SECRET, encoding="base64", signature_prefix="sha512=", algorithm="sha512"
    )
    signed = auth.sign(BODY, NOW)
    assert signed["x-signature"].startswith("sha512=")
    assert auth.verify(as_headers(signed), BODY, NOW)
    default = VapiAuth(mode="hmac", secret=VAPI_SECRET)
    assert (default.algorithm, default.encoding) == ("sha256", "hex")
    assert default.sign(BODY, NOW)["x-signature"] == expected_hex(VAPI_SECRET, f"{NOW}.".encode() + BODY)
