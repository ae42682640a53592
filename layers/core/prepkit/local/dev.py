"""`make dev`: the whole product on this machine. PostgreSQL (embedded unless DATABASE_URL is set), moto
on 127.0.0.1, migrations, then the API on http://127.0.0.1:$PORT. Ctrl-C stops everything; the data
directory (.local/) is kept, so a restart finds its state again."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from prepkit.local.stack import local_stack, log, port_is_free, prepare

if TYPE_CHECKING:
    from prepkit.container import Container


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
        stop_reconciler = start_reconciler(container, settings.reconcile_every_s)
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
            f"  reconciler every {settings.reconcile_every_s:g} s (deployed: an EventBridge schedule, every 5 minutes)\n"
            f"  token      curl -s -X POST {base}/dev/token -H 'content-type: application/json' "
            '-d \'{"userId": "alice"}\'\n'
            "  stop       Ctrl-C (data is kept in .local/)\n"
        )
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        log("stopping ...")
        stop_reconciler()
        container.close()
    log("stopped")
    return 0


def start_reconciler(container: Container, every_s: float) -> Callable[[], None]:
    """The reconciler's schedule, locally: a background thread running InterviewFlow.reconcile_all every
    `every_s` (PREPKIT_RECONCILE_EVERY_S). Returns the function that stops it."""
    stopped = threading.Event()

    def loop() -> None:
        while not stopped.wait(every_s):
            try:
                acted = {k: v for k, v in container.flow.reconcile_all().items() if k != "none"}
            except Exception as exc:  # the database may be down: the next run tries again
                log(f"reconciler: run failed ({type(exc).__name__}), next in {every_s:g} s")
                continue
            if acted:
                log(f"reconciler: {acted}")

    thread = threading.Thread(target=loop, name="reconciler", daemon=True)
    thread.start()

    def stop() -> None:
        stopped.set()
        thread.join(10)

    return stop


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    sys.exit(main())
