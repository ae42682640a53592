"""Deployed settings come from Secrets Manager at cold start (here: moto's), validated with the rest."""

from __future__ import annotations

import json

from prepkit.adapters import aws
from prepkit.secrets import values_from_secrets
from prepkit.settings import Settings
from tests.fakes import deployed_settings


def test_each_function_reads_only_the_secrets_it_is_given(settings: Settings) -> None:
    client = aws.client("secretsmanager", settings)
    arns = {
        name: client.create_secret(Name=f"prepkit-t-{name}-{settings.rate_limit_table}", SecretString=json.dumps(value))["ARN"]
        for name, value in {
            "razorpay": {"keyId": "rzp_deployed_1", "keySecret": "ks-1", "webhookSecret": "wh-1"},
            "vapi": {"apiKey": "REPLACE_ME", "webhookSecret": "vw-1"},
            "db": {"username": "prepkit", "password": "p@ss/word", "host": "db.internal", "port": 5432, "dbname": "prepkit"},
        }.items()
    }  # fmt: skip
    env = {
        "PREPKIT_RAZORPAY_SECRET_ARN": arns["razorpay"],
        "PREPKIT_VAPI_SECRET_ARN": arns["vapi"],
        "PREPKIT_DB_SECRET_ARN": arns["db"],
        "PREPKIT_DB_HOST": "proxy.internal",
    }
    values = values_from_secrets(client, env)
    assert values == {
        "razorpay_key_id": "rzp_deployed_1",
        "razorpay_key_secret": "ks-1",
        "razorpay_webhook_secret": "wh-1",
        "vapi_webhook_secret": "vw-1",  # the placeholder apiKey is left out: not configured yet
        "database_url": "postgresql://prepkit:p%40ss%2Fword@proxy.internal:5432/prepkit?sslmode=require",
    }
    s = deployed_settings(vapi_api_key=None, **values)
    assert s.payments_configured
    assert not s.voice_configured
    assert s.gemini_api_key is None  # this function was given no Gemini secret


def test_nothing_is_fetched_without_secret_arns() -> None:
    class Refuse:
        def get_secret_value(self, **_: object) -> None:
            raise AssertionError("no secret should be read")

    assert values_from_secrets(Refuse(), {"PREPKIT_STAGE": "test"}) == {}
