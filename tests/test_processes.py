"""Stopping the child processes MATIH leaves running."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from matih.processes import adopt, alive, terminate

pytestmark = pytest.mark.server  # starts child processes


def _child(code: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", code])
    adopt(process)
    time.sleep(0.5)  # its signal handler is in place
    return process


def test_terminate_waits_for_a_process_that_takes_its_time_to_exit():
    process = _child(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1.0), sys.exit(0)))\n"
        "time.sleep(60)\n"
    )
    terminate(process.pid, timeout=10)
    assert not alive(process.pid)
    assert process.returncode == 0  # it exited by itself, not killed


def test_terminate_kills_a_process_that_ignores_the_request():
    process = _child("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n")
    started = time.monotonic()
    terminate(process.pid, timeout=0.5)
    assert not alive(process.pid)
    assert process.returncode == -9 and time.monotonic() - started < 5
