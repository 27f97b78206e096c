"""A real PostgreSQL server for the sandbox: initdb in the workspace, a free port on 127.0.0.1.

PostgreSQL refuses to run as root, so when MATIH runs as root the server runs as the ``postgres`` OS
user (``runuser``); the data folder and the folders above it are made reachable for that user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from matih.exceptions import SandboxError
from matih.processes import free_port

log = logging.getLogger(__name__)
SERVER_USER = "postgres"
"""OS account the server runs as when MATIH runs as root."""


def find_binary(name: str) -> str:
    """Path of a PostgreSQL server program: on PATH, or where Debian's ``postgresql`` package puts it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise SandboxError(
        f"PostgreSQL server program {name!r} not found; install PostgreSQL (`make setup` does it with "
        "apt-get install postgresql) or put its bin folder on PATH"
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def _run(args: list[str], *, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    program = Path(args[0]).name
    if _as_root():
        args = ["runuser", "-u", SERVER_USER, "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        hint = f" (server log: {log})" if log and log.exists() else ""
        raise SandboxError(f"{program} failed: {' | '.join(detail)}{hint}")
    return result


def _reachable_for_server(folder: Path) -> None:
    """Let the server account traverse every folder above ``folder`` and own ``folder`` itself."""
    if not _as_root():
        return
    import pwd

    entry = pwd.getpwnam(SERVER_USER)
    for parent in reversed(folder.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            # execute-only: the server may pass through, not list
            log.warning("letting the %s account traverse %s (o+x) to reach %s", SERVER_USER, parent, folder)
            parent.chmod(mode | stat.S_IXOTH)
    for path in (folder, *folder.rglob("*")):
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in ``folder`` (``data/``, ``server.log``, socket)."""

    folder: Path
    port: int = 0
    superuser: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self, password: str) -> None:
        """Create the cluster with password authentication for TCP clients."""
        if self.initialised():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        pwfile = self.folder / ".pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        _reachable_for_server(self.folder)
        try:
            _run(
                [
                    find_binary("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.superuser,
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        """Start on ``port`` (a free one when 0), listening on 127.0.0.1 only."""
        if not self.initialised():
            raise SandboxError(f"no PostgreSQL cluster in {self.data_dir}; initialise it first")
        if self.running():
            self.stop()
        self.port = self.port or free_port()
        _reachable_for_server(self.folder)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c synchronous_commit=off"
        _run(
            [
                find_binary("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            log=self.log_path,
        )

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").is_file()

    def stop(self) -> None:
        """Stop the server (fast shutdown); a no-op when it is not running."""
        if not self.running():
            return
        with contextlib.suppress(SandboxError):
            _run([find_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.1)

    def dsn(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        """libpq key/value connection string for a database on this server."""
        parts = [f"host=127.0.0.1 port={self.port} dbname={database} user={user or self.superuser}"]
        if password:
            parts.append(f"password={password}")
        return " ".join(parts)
