"""Deployed settings from Secrets Manager, read once at cold start, before validation.

CDK gives each function only the secret ARNs it may read (PREPKIT_*_SECRET_ARN). Each secret is a JSON
object whose keys are setting names (the DB secrets are RDS's own JSON: host, port, username, password,
dbname; every function but the migrations logs in as the application role, DML only). Locally and in
tests none of these variables is set and nothing is fetched."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

#: env var with a secret ARN → the settings its JSON keys fill in. IAM grants whole secrets, so each
#: secret holds what one kind of function needs: the webhook secrets (which only verify) apart from the
#: API keys (which can refund money and create calls), so the webhooks function gets no API key.
GEMINI_SECRET_ENV = "PREPKIT_GEMINI_SECRET_ARN"  # noqa: S105 (env var names)
RAZORPAY_SECRET_ENV = "PREPKIT_RAZORPAY_SECRET_ARN"  # noqa: S105
RAZORPAY_WEBHOOK_SECRET_ENV = "PREPKIT_RAZORPAY_WEBHOOK_SECRET_ARN"  # noqa: S105
VAPI_SECRET_ENV = "PREPKIT_VAPI_SECRET_ARN"  # noqa: S105
VAPI_WEBHOOK_SECRET_ENV = "PREPKIT_VAPI_WEBHOOK_SECRET_ARN"  # noqa: S105
SECRET_ENV = {
    GEMINI_SECRET_ENV: {"apiKey": "gemini_api_key"},
    RAZORPAY_SECRET_ENV: {"keyId": "razorpay_key_id", "keySecret": "razorpay_key_secret"},
    RAZORPAY_WEBHOOK_SECRET_ENV: {"webhookSecret": "razorpay_webhook_secret"},
    VAPI_SECRET_ENV: {"apiKey": "vapi_api_key", "credentialId": "vapi_credential_id"},
    VAPI_WEBHOOK_SECRET_ENV: {"webhookSecret": "vapi_webhook_secret"},
}
#: the keys a secret is created with that we generate (the others are placeholders an operator fills)
GENERATED_KEY = "webhookSecret"
PLACEHOLDER = "REPLACE_ME"  # what the deployed secrets hold until an operator fills them in
DB_SECRET_ENV = "PREPKIT_DB_SECRET_ARN"  # noqa: S105 (an env var name): the login this function uses
DB_HOST_ENV = "PREPKIT_DB_HOST"  # the RDS Proxy endpoint
# the migration function only: the application role's secret, whose password it sets (db.migrate)
APP_DB_SECRET_ENV = "PREPKIT_APP_DB_SECRET_ARN"  # noqa: S105


def database_url(secret: dict[str, Any], host: str | None) -> str:
    user, password = quote(str(secret["username"]), safe=""), quote(str(secret["password"]), safe="")
    return (
        f"postgresql://{user}:{password}@{host or secret['host']}:{secret.get('port', 5432)}/"
        f"{secret.get('dbname', 'postgres')}?sslmode=require"
    )


def read_secret(arn: str, client: Any = None) -> dict[str, Any]:
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    value: dict[str, Any] = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
    return value


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
        secret = read_secret(env[name], client)
        if name == DB_SECRET_ENV:
            values["database_url"] = database_url(secret, env.get(DB_HOST_ENV))
            continue
        for key, setting in SECRET_ENV[name].items():
            if secret.get(key) and secret[key] != PLACEHOLDER:  # not filled in yet: as if absent
                values[setting] = secret[key]
    return values
