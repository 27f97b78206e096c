"""The warehouse's disk fills up during a write: the old table survives, the error says what happened.

Two ways to run out of room: a real full disk (a 6 MB tmpfs the test mounts, where the machine allows
it: ENOSPC), and a file size limit on the writing process (RLIMIT_FSIZE: EFBIG), which any user can set.
Both run in a child process, so the limit and the mount touch nothing else.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

_CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from matih.exceptions import WarehouseError
    from matih.warehouse import Warehouse

    directory, limit = sys.argv[1], int(sys.argv[2])
    wh = Warehouse(directory, threads=1)
    wh.run("CREATE TABLE analytics.derived.kept AS SELECT range AS x FROM range(1000)")
    if limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        wh.run(
            "CREATE OR REPLACE TABLE analytics.derived.kept AS"
            " SELECT range AS x, md5(range::VARCHAR) AS y FROM range(3000000)"
        )
        error = None
    except WarehouseError as err:
        error = str(err)
    if limit:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    rows = Warehouse(directory, threads=1).query("SELECT count(*) AS n FROM analytics.derived.kept")
    print(json.dumps({"error": error, "rows": rows["n"][0].as_py()}))
    """
)


@contextlib.contextmanager
def _small_disk(path: Path) -> Iterator[Path]:
    path.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(path)]
    mounted = subprocess.run(mount, capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"this machine does not let the test mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _write_in_child(directory: Path, limit: int) -> dict:
    command = [sys.executable, "-c", _CHILD, str(directory), str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_refused_and_kept(outcome: dict, reason: str) -> None:
    assert outcome["rows"] == 1000  # the old table, whole
    error = outcome["error"]
    assert error is not None and reason in error
    assert "ran out of room while writing analytics.derived.kept" in error
    assert "free space on that disk" in error and "is unchanged" in error


def test_a_full_disk_during_a_write_keeps_the_old_table(tmp_path) -> None:
    with _small_disk(tmp_path / "small") as disk:
        _assert_refused_and_kept(_write_in_child(disk / "warehouse", 0), "No space left on device")


def test_a_file_size_limit_during_a_write_keeps_the_old_table(tmp_path) -> None:
    directory = tmp_path / "warehouse"
    _assert_refused_and_kept(_write_in_child(directory, 4 << 20), "File too large")
