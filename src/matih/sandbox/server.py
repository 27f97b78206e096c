"""``matih sandbox serve``: NovaMart behind the real protocols, on 127.0.0.1.

One process runs the Shopify Admin API and the GA4 Data API (two uvicorn servers on free ports) and
owns a PostgreSQL server holding the inventory database. It writes ``.matih/sandbox/endpoints.json``
when everything answers and removes it when it stops. Credentials are made once per workspace and kept
in ``.matih/sandbox/secrets.json`` (mode 0600); sandbox-mode connectors read them from there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from matih.exceptions import SandboxError
from matih.processes import alive
from matih.sandbox.clock import SandboxClock, dated_by
from matih.sandbox.postgres import PostgresServer
from matih.sandbox.store import world_path
from matih.state import utc_stamp, write_json_atomic
from matih.workspace import Workspace

SHOP = "novamart.myshopify.com"
PROPERTY_ID = "properties/349871234"
#: environment variables the seed's source specs reference, as the sandbox answers them
SECRET_NAMES = ("SHOPIFY_API_KEY", "GA_SERVICE_ACCOUNT_JSON", "INVENTORY_DB_PASSWORD")


@dataclass
class SandboxEndpoints:
    """Where a running sandbox answers; written to ``endpoints.json`` by the serving process."""

    pid: int
    shopify_url: str
    ga_url: str
    token_uri: str
    postgres_host: str
    postgres_port: int
    postgres_database: str
    postgres_user: str
    as_of: str
    started_at: str
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> SandboxEndpoints:
        return cls(**json.loads(path.read_text()))


def endpoints_path(ws: Workspace) -> Path:
    return ws.sandbox_dir / "endpoints.json"


def running(ws: Workspace) -> SandboxEndpoints | None:
    """The endpoints of this workspace's sandbox when its process is alive, else ``None``."""
    path = endpoints_path(ws)
    if not path.is_file():
        return None
    endpoints = SandboxEndpoints.read(path)
    return endpoints if alive(endpoints.pid) else None


def sandbox_secrets(ws: Workspace, *, create: bool = False, token_uri: str | None = None) -> dict[str, str]:
    """The sandbox's credentials by environment-variable name; made on first use when ``create``."""
    path = ws.sandbox_dir / "secrets.json"
    if path.is_file():
        values: dict[str, str] = json.loads(path.read_text())
        if token_uri is None or json.loads(values["GA_SERVICE_ACCOUNT_JSON"])["token_uri"] == token_uri:
            return values
    elif not create:
        raise SandboxError(
            f"the sandbox has no credentials yet ({path}); start it with `matih sandbox serve`"
        )
    from matih.sandbox.ga_api import make_service_account

    info, public_pem = make_service_account(token_uri or "http://127.0.0.1/token")
    values = {
        "SHOPIFY_API_KEY": "shpat_" + secrets.token_hex(16),
        "GA_SERVICE_ACCOUNT_JSON": json.dumps(info),
        "INVENTORY_DB_PASSWORD": secrets.token_urlsafe(18),
    }
    write_json_atomic(path, values, indent=None, private=True)
    (ws.sandbox_dir / "ga_public_key.pem").write_text(public_pem)
    return values


def world_days(ws: Workspace) -> tuple[dt.date, dt.date]:
    """First and last day of the stored world."""
    meta = ws.sandbox_dir / "world.json"
    if not meta.is_file() or not world_path(ws.sandbox_dir).is_file():
        raise SandboxError("no NovaMart world in this workspace; run `matih sandbox generate` first")
    config = json.loads(meta.read_text())["config"]
    return dt.date.fromisoformat(config["first_day"]), dt.date.fromisoformat(config["end_date"])


def _bind() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: without, small responses wait out Nagle + delayed ACK (~40 ms)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class _Listeners:
    """The HTTP servers' sockets, bound before anything starts: the GA token URI inside the credentials
    must name the GA server's port."""

    shop: socket.socket
    ga: socket.socket

    @classmethod
    def bind(cls) -> _Listeners:
        return cls(_bind(), _bind())

    @staticmethod
    def _url(sock: socket.socket) -> str:
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    @property
    def shop_url(self) -> str:
        return self._url(self.shop)

    @property
    def ga_url(self) -> str:
        return self._url(self.ga)


@dataclass
class _Credentials:
    """The sandbox's secrets, and the GA service account they hold (with its public key to verify)."""

    values: dict[str, str]
    service_account: dict[str, Any]
    public_pem: str

    @classmethod
    def of(cls, ws: Workspace, ga_url: str) -> _Credentials:
        values = sandbox_secrets(ws, create=True, token_uri=f"{ga_url}/token")
        public_pem = (ws.sandbox_dir / "ga_public_key.pem").read_text()
        return cls(values, json.loads(values["GA_SERVICE_ACCOUNT_JSON"]), public_pem)


def _claim_day(ws: Workspace, as_of: dt.date | None) -> dt.date:
    """The day to serve (``as_of`` or the world's last), once no other sandbox runs for ``ws``."""
    if (other := running(ws)) is not None and other.pid != os.getpid():
        raise SandboxError(f"the sandbox already runs for this workspace (pid {other.pid}); stop it first")
    first, last = world_days(ws)
    as_of = as_of or last
    if not first <= as_of <= last:
        raise SandboxError(f"--as-of {as_of} is outside the world ({first} .. {last})")
    return as_of


def _start_postgres(ws: Workspace) -> PostgresServer:
    pg = PostgresServer(ws.sandbox_dir / "postgres")
    # a throwaway superuser password (only read on first init): the sandbox administers through the
    # trusted local socket, and connectors log in over TCP as the reader role
    pg.init(secrets.token_urlsafe(18))
    pg.start()
    return pg


def _http_apps(
    ws: Workspace, clock: SandboxClock, credentials: _Credentials, *, rate_limit: float, bucket: int
) -> tuple[Any, Any]:
    """The Shopify and GA4 applications (ASGI) over the stored world."""
    # imported here: the CLI imports this module for `running`/`start`, which need neither app
    from matih.sandbox.ga_api import GoogleAnalyticsSandbox
    from matih.sandbox.shopify_api import ShopifySandbox
    from matih.sandbox.shopify_world import UPDATE_LAG, ShopifyWorld

    world = world_path(ws.sandbox_dir)
    shop = ShopifySandbox(
        ShopifyWorld.load(world),
        shop=SHOP,
        access_token=credentials.values["SHOPIFY_API_KEY"],
        clock=clock,
        rate_limit=rate_limit,
        bucket=bucket,
    )
    info = credentials.service_account
    ga = GoogleAnalyticsSandbox(
        world_db=world,
        property_id=PROPERTY_ID,
        client_email=info["client_email"],
        public_key_pem=credentials.public_pem,
        clock=clock,
        token_uri=info["token_uri"],
    )
    # both tell the sandbox clock's time; Shopify's a minute on, so every updated_at shown is before it
    return dated_by(shop.app, clock, lead=UPDATE_LAG), dated_by(ga.app, clock)


def _run_until_signal(
    ws: Workspace, apps: list[tuple[Any, socket.socket]], endpoints: SandboxEndpoints
) -> None:
    """Serve each app on its socket; write ``endpoints.json`` once all have started; return after
    SIGTERM or SIGINT, when every server has shut down."""
    import uvicorn

    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_keep_alive=30,
                date_header=False,  # the apps date their answers by the sandbox clock (dated_by)
            )
        )
        for app, _sock in apps
    ]

    async def main() -> None:
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, (_app, sock) in zip(servers, apps, strict=True)
        ]
        # endpoints.json is the readiness signal `start` waits for: only once every server listens
        while not all(server.started for server in servers):
            await asyncio.sleep(0.02)
        write_json_atomic(endpoints_path(ws), asdict(endpoints))
        loop = asyncio.get_running_loop()

        def shutdown() -> None:
            for s in servers:
                s.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown)
        await asyncio.gather(*tasks)

    asyncio.run(main())


def _remove_endpoints(ws: Workspace) -> None:
    """Remove ``endpoints.json`` if this process wrote it (a newer sandbox may have replaced it)."""
    with contextlib.suppress(FileNotFoundError):
        if SandboxEndpoints.read(endpoints_path(ws)).pid == os.getpid():
            endpoints_path(ws).unlink()


def serve(
    ws: Workspace,
    *,
    as_of: dt.date | None = None,
    rate_limit: float = 0.0,
    bucket: int = 40,
) -> None:
    """Serve until SIGTERM or SIGINT (blocking). See the module docstring."""
    from matih.sandbox.inventory_db import DATABASE, READER_ROLE, create_inventory_db

    as_of = _claim_day(ws, as_of)
    clock = SandboxClock(ws.sandbox_dir / "clock.json")
    clock.set(as_of)
    listeners = _Listeners.bind()
    credentials = _Credentials.of(ws, listeners.ga_url)
    pg = _start_postgres(ws)
    try:
        reader_password = credentials.values["INVENTORY_DB_PASSWORD"]
        create_inventory_db(pg, world_path(ws.sandbox_dir), as_of, reader_password)
        shop_app, ga_app = _http_apps(ws, clock, credentials, rate_limit=rate_limit, bucket=bucket)
        endpoints = SandboxEndpoints(
            pid=os.getpid(),
            shopify_url=listeners.shop_url,
            ga_url=listeners.ga_url,
            token_uri=credentials.service_account["token_uri"],
            postgres_host="127.0.0.1",
            postgres_port=pg.port,
            postgres_database=DATABASE,
            postgres_user=READER_ROLE,
            as_of=as_of.isoformat(),
            started_at=utc_stamp(),
            extra={"postgres_folder": str(pg.folder), "rate_limit": rate_limit, "bucket": bucket},
        )
        _run_until_signal(ws, [(shop_app, listeners.shop), (ga_app, listeners.ga)], endpoints)
    finally:
        _remove_endpoints(ws)
        pg.stop()


@dataclass
class SandboxProcess:
    """A sandbox served by a child process; stop it with :meth:`stop` or use it as a context manager."""

    workspace: Workspace
    process: subprocess.Popen[bytes]
    endpoints: SandboxEndpoints

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start(
    ws: Workspace,
    *,
    as_of: dt.date | None = None,
    rate_limit: float = 0.0,
    bucket: int = 40,
    timeout: float = 180.0,
) -> SandboxProcess:
    """Start ``matih sandbox serve`` as a child process and wait until every server answers."""
    if (other := running(ws)) is not None:
        raise SandboxError(f"the sandbox already runs for this workspace (pid {other.pid}); stop it first")
    world_days(ws)
    log = ws.sandbox_dir / "server.log"
    args = [sys.executable, "-m", "matih.sandbox.server", "--workspace", str(ws.root)]
    if as_of:
        args += ["--as-of", as_of.isoformat()]
    args += ["--rate-limit", str(rate_limit), "--bucket", str(bucket)]
    with log.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-8:]
            raise SandboxError("the sandbox stopped while starting:\n  " + "\n  ".join(tail))
        endpoints = running(ws)
        if endpoints is not None and endpoints.pid == process.pid:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{endpoints.shopify_url}/healthz", timeout=5).status_code == 200:
                    return SandboxProcess(ws, process, endpoints)
        time.sleep(0.1)
    process.kill()
    raise SandboxError(f"the sandbox did not start within {timeout:.0f} s; see {log}")


def stop(ws: Workspace, timeout: float = 30.0) -> bool:
    """Stop this workspace's sandbox process if one runs; True when one was stopped."""
    endpoints = running(ws)
    if endpoints is None:
        return False
    os.kill(endpoints.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(endpoints.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def advance(ws: Workspace, days: int = 1) -> dict[str, Any]:
    """Move the running sandbox's clock on ``days`` days: new and edited orders, stock and shipments."""
    from matih.sandbox.inventory_db import advance_inventory_db

    endpoints = running(ws)
    if endpoints is None:
        raise SandboxError("the sandbox is not running; start it with `matih sandbox serve`")
    _, last = world_days(ws)
    clock = SandboxClock(ws.sandbox_dir / "clock.json")
    if clock.as_of + dt.timedelta(days=days) > last:
        raise SandboxError(
            f"the world ends on {last} and the clock shows {clock.as_of}: generate a longer world or serve"
            " with an earlier --as-of"
        )
    pg = PostgresServer(Path(endpoints.extra["postgres_folder"]), port=endpoints.postgres_port)
    changes: dict[str, Any] = {}
    for _ in range(days):
        day = clock.as_of + dt.timedelta(days=1)
        changes[day.isoformat()] = advance_inventory_db(pg, world_path(ws.sandbox_dir), day)
        clock.set(day)
    return {"as_of": clock.as_of.isoformat(), "changes": changes}


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m matih.sandbox.server")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--as-of", type=dt.date.fromisoformat)
    parser.add_argument("--rate-limit", type=float, default=0.0)
    parser.add_argument("--bucket", type=int, default=40)
    args = parser.parse_args(argv)
    serve(Workspace.find(args.workspace), as_of=args.as_of, rate_limit=args.rate_limit, bucket=args.bucket)


if __name__ == "__main__":
    _main()
