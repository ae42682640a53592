"""`make dev`: the whole product on this machine. PostgreSQL (embedded unless DATABASE_URL is set), moto
on 127.0.0.1, migrations, then the API on http://127.0.0.1:$PORT. Ctrl-C stops everything; the data
directory (.local/) is kept, so a restart finds its state again."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prepkit.local.stack import local_stack, log, port_is_free, prepare


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    moto_port = int(os.environ.get("PREPKIT_MOTO_PORT", "4566"))
    data_dir = Path(os.environ.get("PREPKIT_LOCAL_DIR", ".local")).resolve()
    for name, p in (("API", port), ("moto", moto_port)):
        if not port_is_free(p):
            log(
                f"port {p} ({name}) is taken on 127.0.0.1: stop what runs there or set "
                f"{'PORT' if name == 'API' else 'PREPKIT_MOTO_PORT'}"
            )
            return 1

    import uvicorn

    from prepkit.api.app import create_app
    from prepkit.container import build_container
    from prepkit.local.engine import deploy_pipeline
    from prepkit.pipeline.entry import make_pipeline_handler

    log("starting PostgreSQL and moto ...")
    with local_stack(
        data_dir=data_dir, moto_port=moto_port, database_url=os.environ.get("DATABASE_URL")
    ) as stack:
        base = f"http://127.0.0.1:{port}"
        settings = stack.settings(public_base_url=base)
        applied = prepare(settings)
        container = build_container(settings)
        deploy_pipeline(settings, make_pipeline_handler(container))
        app = create_app(container)
        log(
            "\nPrepKit Interviews is running (stage: local, offline providers)\n"
            f"  API        {base}\n"
            f"  docs       {base}/docs   (OpenAPI: {base}/openapi.json)\n"
            f"  database   {_redact(stack.database_url)}"
            + (f"   data: {stack.pg_data_dir}" if stack.pg_data_dir else "")
            + f"\n  migrations {'applied ' + ', '.join(applied) if applied else 'up to date'}\n"
            f"  moto (AWS) {stack.aws_endpoint_url}   (DynamoDB {settings.rate_limit_table}, "
            f"Step Functions {settings.pipeline_state_machine_arn.rsplit(':', 1)[1]})\n"
            f"  providers  offline: simulated Razorpay Checkout, simulated Vapi call "
            f"({settings.simulated_candidate} candidate), {'Gemini' if settings.llm_configured else 'offline scorer'}\n"
            f"  token      curl -s -X POST {base}/dev/token -H 'content-type: application/json' "
            '-d \'{"userId": "alice"}\'\n'
            "  stop       Ctrl-C (data is kept in .local/)\n"
        )
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        log("stopping ...")
        container.close()
    log("stopped")
    return 0


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    sys.exit(main())
