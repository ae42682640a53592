"""Deployed settings come from Secrets Manager at cold start (here: moto's), validated with the rest; the
database login of every function but the migrations is the application role, which may only read and
write rows."""

from __future__ import annotations

import importlib.util
import json
import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from prepkit.adapters import aws
from prepkit.db.migrate import APP_ROLE, FINGERPRINT_ENV, available, fingerprint, set_app_role_password
from prepkit.local.stack import LocalStack
from prepkit.secrets import (
    APP_DB_SECRET_ENV,
    RAZORPAY_SECRET_ENV,
    RAZORPAY_WEBHOOK_SECRET_ENV,
    SECRET_ENV,
    VAPI_SECRET_ENV,
    VAPI_WEBHOOK_SECRET_ENV,
    read_secret,
    values_from_secrets,
)
from prepkit.settings import Settings, get_settings
from tests.fakes import deployed_settings

ROOT = Path(__file__).resolve().parents[2]


def _create(settings: Settings, values: dict[str, dict[str, Any]]) -> dict[str, str]:
    client = aws.client("secretsmanager", settings)
    return {
        name: client.create_secret(
            Name=f"prepkit-t-{name}-{secrets.token_hex(4)}", SecretString=json.dumps(value)
        )["ARN"]
        for name, value in values.items()
    }


def test_each_function_reads_only_the_secrets_it_is_given(settings: Settings) -> None:
    client = aws.client("secretsmanager", settings)
    arns = _create(
        settings,
        {
            "razorpay": {"keyId": "rzp_deployed_1", "keySecret": "ks-1"},
            "vapi": {"apiKey": "REPLACE_ME", "credentialId": "cred-1"},
            "vapi-webhook": {"webhookSecret": "vw-1"},
            "db": {"username": "prepkit_app", "password": "p@ss/word", "host": "db.internal", "port": 5432,
                   "dbname": "prepkit"},
        },
    )  # fmt: skip
    env = {
        RAZORPAY_SECRET_ENV: arns["razorpay"],
        VAPI_SECRET_ENV: arns["vapi"],
        VAPI_WEBHOOK_SECRET_ENV: arns["vapi-webhook"],
        "PREPKIT_DB_SECRET_ARN": arns["db"],
        "PREPKIT_DB_HOST": "proxy.internal",
    }
    values = values_from_secrets(client, env)
    assert values == {
        "razorpay_key_id": "rzp_deployed_1",
        "razorpay_key_secret": "ks-1",
        "vapi_credential_id": "cred-1",  # the placeholder apiKey is left out: not configured yet
        "vapi_webhook_secret": "vw-1",
        "database_url": "postgresql://prepkit_app:p%40ss%2Fword@proxy.internal:5432/prepkit?sslmode=require",
    }
    s = deployed_settings(
        vapi_api_key=None,
        razorpay_webhook_secret=None,  # not given: this function verifies no Razorpay webhook
        public_base_url="https://abc123defg.execute-api.ap-south-1.amazonaws.com",
        pipeline_state_machine_arn="arn:aws:states:ap-south-1:210987654321:stateMachine:prepkit-prod-pipeline",
        rate_limit_table="prepkit-prod-rate-limits",
        **values,
    )
    assert s.payments_configured
    assert not s.voice_configured
    assert s.gemini_api_key is None  # this function was given no Gemini secret
    assert s.razorpay_webhook_secret is None


def test_the_webhook_secrets_are_apart_from_the_api_keys() -> None:
    """IAM grants whole secrets: the webhooks function, given the two webhook secrets, can read no key
    that refunds money or creates calls."""
    webhook_settings = {
        setting
        for env in (RAZORPAY_WEBHOOK_SECRET_ENV, VAPI_WEBHOOK_SECRET_ENV)
        for setting in SECRET_ENV[env].values()
    }
    assert webhook_settings == {"razorpay_webhook_secret", "vapi_webhook_secret"}
    api_keys = {
        setting for env in (RAZORPAY_SECRET_ENV, VAPI_SECRET_ENV) for setting in SECRET_ENV[env].values()
    }
    assert {"razorpay_key_secret", "vapi_api_key"} <= api_keys
    assert not webhook_settings & api_keys
    every = [setting for keys in SECRET_ENV.values() for setting in keys.values()]
    assert len(every) == len(set(every)), "a setting comes from two secrets"


def test_nothing_is_fetched_without_secret_arns() -> None:
    class Refuse:
        def get_secret_value(self, **_: object) -> None:
            raise AssertionError("no secret should be read")

    assert values_from_secrets(Refuse(), {"PREPKIT_STAGE": "test"}) == {}


def _as_app(stack: LocalStack, password: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        make_conninfo(stack.database_url, user=APP_ROLE, password=password), autocommit=True
    )


def test_the_application_role_reads_and_writes_rows_and_changes_no_schema(
    stack: LocalStack, settings: Settings, db: psycopg.Connection[Any]
) -> None:
    """What the migration function does at deploy (functions/migrate/handler.py), then what the role
    may do: rows yes; DDL, TRUNCATE and the migrations' own table no."""
    password = secrets.token_urlsafe(24)
    (arn,) = _create(settings, {"app": {"username": APP_ROLE, "password": password}}).values()
    app_secret = read_secret(arn, aws.client("secretsmanager", settings))
    set_app_role_password(stack.database_url, app_secret["username"], app_secret["password"])
    with pytest.raises(RuntimeError, match="the migrations grant"):
        set_app_role_password(stack.database_url, "prepkit", password)  # never the owner's password

    with _as_app(stack, password) as app:
        assert app.execute("SELECT current_user").fetchone() == (APP_ROLE,)
        prices = app.execute("SELECT count(*) FROM pricing").fetchone()
        assert prices is not None and prices[0] > 0
        app.execute(
            "INSERT INTO provider_events (provider, event_id, event_type, payload, raw_body)"
            " VALUES ('vapi', 'evt_role_1', 'status-update', '{}', '{}')"
        )
        app.execute(
            "UPDATE provider_events SET event_type = 'end-of-call-report' WHERE event_id = 'evt_role_1'"
        )
        app.execute("DELETE FROM provider_events WHERE event_id = 'evt_role_1'")
        for statement in (
            "CREATE TABLE app_made (id int)",
            "DROP TABLE provider_events",
            "ALTER TABLE pricing ADD COLUMN app_made int",
            "TRUNCATE provider_events",
            "CREATE INDEX app_made_idx ON pricing (active)",
            "SELECT count(*) FROM schema_migrations",
            "DELETE FROM schema_migrations",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
    tables = db.execute(
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'app_made'"
    ).fetchone()
    assert tables == (0,)


class _LambdaContext:
    function_name = "prepkit-test-migrate"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-south-1:123456789012:function:prepkit-test-migrate"
    aws_request_id = "3f9c1d2e-0000-4000-8000-000000000001"


def _migrate_handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "migrate_handler", ROOT / "functions" / "migrate" / "handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def _stored_password(db: psycopg.Connection[Any]) -> tuple[object, ...]:
    """(can log in, the stored verifier): a new password gets a new salt, so any ALTER ROLE shows."""
    row = db.execute(
        "SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s", (APP_ROLE,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_the_migration_function_migrates_then_gives_the_app_role_its_secret_password(
    stack: LocalStack, settings: Settings, monkeypatch: pytest.MonkeyPatch, db: psycopg.Connection[Any]
) -> None:
    password = secrets.token_urlsafe(24)
    (arn,) = _create(settings, {"app": {"username": APP_ROLE, "password": password}}).values()
    for name, value in {
        "PREPKIT_STAGE": "test",
        "PREPKIT_AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",  # boto3's own client, as deployed
        "AWS_DEFAULT_REGION": settings.aws_region,
        "DATABASE_URL": stack.database_url,
        APP_DB_SECRET_ENV: arn,
        FINGERPRINT_ENV: "0" * 64,  # a layer that is not this deploy's
    }.items():
        monkeypatch.setenv(name, value)
    handler = _migrate_handler()
    before = _stored_password(db)
    get_settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="this deploy expects"):
            handler({}, _LambdaContext())
        assert _stored_password(db) == before  # refused before touching the database
        monkeypatch.setenv(FINGERPRINT_ENV, fingerprint(available()))
        assert handler({}, _LambdaContext()) == {"applied": [], "fingerprint": fingerprint(available())}
    finally:
        get_settings.cache_clear()
    after = _stored_password(db)
    assert after != before and after[0] is True and str(after[1]).startswith("SCRAM-SHA-256$")
    with _as_app(stack, password) as app:
        assert app.execute("SELECT current_user").fetchone() == (APP_ROLE,)
