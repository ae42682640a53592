"""Start and stop the local pieces. Used by `make dev`, the demo and the test suite alike."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prepkit.settings import Settings, Stage

OFFLINE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's fake credentials
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-south-1",
    "AWS_REGION": "ap-south-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF lines on the local console
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server (which, like uvicorn, sets SO_REUSEADDR) could bind 127.0.0.1:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class LocalStack:
    database_url: str
    aws_endpoint_url: str
    pg_data_dir: Path | None
    postgres: EmbeddedPostgres | None = None  # the embedded server, to stop and start (fault tests)

    def settings(self, stage: Stage = Stage.LOCAL, **overrides: Any) -> Settings:
        return Settings(
            stage=stage,
            database_url=self.database_url,
            aws_endpoint_url=self.aws_endpoint_url,
            **overrides,
        )


class EmbeddedPostgres:
    """A handle on the embedded server: the fault tests and `make chaos` stop it (as a crash would, or
    as a clean shutdown) and start it again on the same data directory and socket (same URL)."""

    def __init__(self, server: Any):
        self._server = server
        self.uri = str(server.get_uri())

    def stop(self, *, mode: str = "immediate") -> None:
        """pg_ctl stop: `immediate` is a crash (every connection dropped, recovery at the next start),
        `fast` a clean shutdown."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        assert mode in ("immediate", "fast", "smart")
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        if self._server.system_user is not None:  # as root: the server's user must reach its directory
            from pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self._server.pgdata)  # (pytest resets its tmp root to 0700)
        with self._server._lock:
            self._server.ensure_postgres_running()
        assert str(self._server.get_uri()) == self.uri, "the restarted server listens elsewhere"

    @property
    def running(self) -> bool:
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self._server.pgdata)
        return info is not None and info.is_running()


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """PostgreSQL 16 from the pgserver wheel on a unix socket in data_dir (kept between runs)."""
    with embedded_postgres_server(data_dir) as server:
        yield server.uri


@contextmanager
def embedded_postgres_server(data_dir: Path) -> Iterator[EmbeddedPostgres]:
    """embedded_postgres, as a handle that can stop and start the server."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if "XDG_RUNTIME_DIR" not in os.environ:  # pgserver keeps a lock file there
        runtime = data_dir.parent / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pgserver

    _ensure_pgserver_user(data_dir)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield EmbeddedPostgres(server)
    finally:
        server.cleanup()


def _ensure_pgserver_user(data_dir: Path) -> None:
    """As root, pgserver runs PostgreSQL as a system user it creates with `useradd` on first use. Two
    processes starting at once on a fresh machine (pytest-xdist workers) race on that and one of them
    chowns its data directory to a uid that no longer exists: create the user once, under a file lock.
    A data directory kept from an earlier user of that name (another uid) is handed to this one."""
    if os.geteuid() != 0:
        return
    import fcntl
    import shutil

    from pgserver.utils import ensure_user_exists

    with open("/tmp/prepkit-pgserver-user.lock", "w") as lock:  # noqa: S108 (a lock file, not data)
        fcntl.flock(lock, fcntl.LOCK_EX)
        user = ensure_user_exists("pgserver")
    assert user is not None
    version = data_dir / "PG_VERSION"  # pgserver chowns the directory itself, not what is in it
    if version.exists() and version.stat().st_uid != user.pw_uid:
        for path in (data_dir, *data_dir.rglob("*")):
            shutil.chown(path, user.pw_uid, user.pw_gid)


@contextmanager
def moto_server(port: int) -> Iterator[str]:
    """moto on 127.0.0.1 only (its default would be 0.0.0.0)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions engine calls back into its own server
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        # executions still waiting when the stack stops can only fail now, each with a page of moto's
        # log (its engine calls back into this server): they are not this run's news
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        server.stop()


def _wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def prepare(settings: Settings) -> list[str]:
    """Apply migrations and create the AWS resources CDK owns when deployed. Idempotent."""
    from prepkit.adapters import aws
    from prepkit.adapters.dynamo_rate_limiter import create_table
    from prepkit.db.migrate import migrate

    applied = migrate(settings.database_url)
    create_table(aws.client("dynamodb", settings), settings.rate_limit_table)
    return applied


@contextmanager
def local_stack(*, data_dir: Path, moto_port: int, database_url: str | None = None) -> Iterator[LocalStack]:
    for key, value in OFFLINE_AWS_ENV.items():
        os.environ.setdefault(key, value)
    with ExitStack() as stack:
        pg_dir, postgres = None, None
        if not database_url:
            pg_dir = data_dir / "pgdata"
            postgres = stack.enter_context(embedded_postgres_server(pg_dir))
            database_url = postgres.uri
        endpoint = stack.enter_context(moto_server(moto_port))
        yield LocalStack(database_url, endpoint, pg_dir, postgres)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
