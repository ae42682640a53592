"""Lambda entry point of the migration trigger: applies layers/core/prepkit/db/migrations at deploy."""

from typing import Any

from prepkit.db.migrate import migrate
from prepkit.observability import logger
from prepkit.settings import get_settings


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # noqa: ARG001 (the Lambda signature)
    applied = migrate(get_settings().database_url)
    logger.info("migrations applied", applied=applied)
    return {"applied": applied}
