"""Lambda entry point of the migration trigger: applies layers/core/prepkit/db/migrations at deploy, as the
database owner, then gives the application role (DML only) its login and its secret's password."""

import os
from typing import Any

from prepkit.db.migrate import FINGERPRINT_ENV, available, fingerprint, migrate, set_app_role_password
from prepkit.observability import logger
from prepkit.secrets import APP_DB_SECRET_ENV, read_secret
from prepkit.settings import get_settings


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001 (the Lambda signature)
    shipped = fingerprint(available())
    expected = os.environ.get(FINGERPRINT_ENV)
    if expected and expected != shipped:  # the layer is not the one this deploy's trigger hashed
        raise RuntimeError(f"the core layer's migrations are {shipped}, this deploy expects {expected}")
    database_url = get_settings().database_url
    applied = migrate(database_url)
    app_secret_arn = os.environ.get(APP_DB_SECRET_ENV)
    if app_secret_arn:
        app = read_secret(app_secret_arn)
        set_app_role_password(database_url, str(app.get("username")), str(app.get("password") or ""))
    logger.info("migrations applied", applied=applied, fingerprint=shipped)
    return {"applied": applied, "fingerprint": shipped}
