"""Deployed settings from Secrets Manager, read once at cold start, before validation.

CDK gives each function only the secret ARNs it may read (PREPKIT_*_SECRET_ARN). Each secret is a JSON
object whose keys are setting names (the DB secret is RDS's own JSON: host, port, username, password,
dbname). Locally and in tests none of these variables is set and nothing is fetched."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

#: env var with a secret ARN → the settings its JSON keys fill in
SECRET_ENV = {
    "PREPKIT_GEMINI_SECRET_ARN": {"apiKey": "gemini_api_key"},
    "PREPKIT_RAZORPAY_SECRET_ARN": {
        "keyId": "razorpay_key_id",
        "keySecret": "razorpay_key_secret",
        "webhookSecret": "razorpay_webhook_secret",
    },
    "PREPKIT_VAPI_SECRET_ARN": {
        "apiKey": "vapi_api_key",
        "webhookSecret": "vapi_webhook_secret",
        "credentialId": "vapi_credential_id",
    },
}
PLACEHOLDER = "REPLACE_ME"  # what the deployed secrets hold until an operator fills them in
DB_SECRET_ENV = "PREPKIT_DB_SECRET_ARN"  # noqa: S105 (an env var name)
DB_HOST_ENV = "PREPKIT_DB_HOST"  # the RDS Proxy endpoint


def database_url(secret: dict[str, Any], host: str | None) -> str:
    user, password = quote(str(secret["username"]), safe=""), quote(str(secret["password"]), safe="")
    return (
        f"postgresql://{user}:{password}@{host or secret['host']}:{secret.get('port', 5432)}/"
        f"{secret.get('dbname', 'postgres')}?sslmode=require"
    )


def values_from_secrets(client: Any = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ) if env is None else env
    wanted = [name for name in (*SECRET_ENV, DB_SECRET_ENV) if env.get(name)]
    if not wanted:
        return {}
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    values: dict[str, Any] = {}
    for name in wanted:
        secret = json.loads(client.get_secret_value(SecretId=env[name])["SecretString"])
        if name == DB_SECRET_ENV:
            values["database_url"] = database_url(secret, env.get(DB_HOST_ENV))
            continue
        for key, setting in SECRET_ENV[name].items():
            if secret.get(key) and secret[key] != PLACEHOLDER:  # not filled in yet: as if absent
                values[setting] = secret[key]
    return values
