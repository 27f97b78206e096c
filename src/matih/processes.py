"""Child processes MATIH starts and leaves running (servers, background workers): a free port for them,
liveness, stopping and reaping."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

#: detached children started by this process, kept so they are reaped (not warned about) when they end
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def adopt(process: subprocess.Popen[bytes]) -> None:
    """Keep a detached child's handle so it is reaped when it exits rather than warned about."""
    _CHILDREN[process.pid] = process


def reap(pid: int) -> None:
    """Collect the exit status when ``pid`` is this process's child (else it lingers as a zombie)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs; an exited child of this process is reaped first (a zombie would
    still answer ``kill(pid, 0)``)."""
    reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate(pid: int, timeout: float = 15.0) -> None:
    """Ask ``pid`` to stop (SIGTERM), wait up to ``timeout`` seconds for it to exit, then kill it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0  # a kill is delivered, not instant
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    reap(pid)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
