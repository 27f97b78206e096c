"""The Spark session MATIH's Spark warehouse runs on: ``local[*]`` started in this process by default, or a
cluster's master URL (``warehouse.master`` in ``matih.yaml`` or ``MATIH_SPARK_MASTER``).

pyspark is an optional dependency (the ``spark`` extra) and needs Java 17+: both are checked here, once,
so that a workspace configured for Spark on a machine without them gets one clear error naming the fix.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import TYPE_CHECKING

from matih.exceptions import WorkspaceError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MASTER_ENV = "MATIH_SPARK_MASTER"

_LOCK = threading.Lock()
_SESSION: dict[str, SparkSession] = {}


def master_of(configured: str | None, threads: int | None) -> str:
    """The master URL: the environment wins over ``matih.yaml``, and both over ``local[threads or *]``."""
    return os.environ.get(MASTER_ENV) or configured or f"local[{threads or '*'}]"


def spark_session(master: str, *, driver_memory: str | None = None) -> SparkSession:
    """The process's session for ``master`` (started on first use; Spark allows one per process)."""
    with _LOCK:
        if master in _SESSION:
            return _SESSION[master]
        if _SESSION:
            running = next(iter(_SESSION))
            raise WorkspaceError(
                f"this process already runs Spark on {running!r}; one process drives one Spark master "
                f"(asked for {master!r})"
            )
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise WorkspaceError(
                "matih.yaml: warehouse.engine 'spark' needs pyspark: run `make setup` (it installs the "
                "'spark' extra and Java 17), or pip install 'matih[spark]'"
            ) from None
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise WorkspaceError(
                "matih.yaml: warehouse.engine 'spark' needs Java 17 or newer: run `make setup` (it installs "
                "Debian's openjdk-17-jre-headless) or set JAVA_HOME"
            )
        builder = (
            SparkSession.builder.master(master)
            .appName("matih")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # dates and timestamps mean the same instants as in DuckDB, whatever the machine's zone
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            # a laptop's tables: a few shuffle partitions, which adaptive execution coalesces further
            .config("spark.sql.shuffle.partitions", str(max(4, 2 * (os.cpu_count() or 2))))
            # ... but a large table's shuffles start from 400 partitions, coalesced to about 64 MB each:
            # with 4, the seed's SQL at 450,000 products spilled each sort over a thousand times and
            # stalled (benchmarks/RESULTS.md, "Scaling")
            .config("spark.sql.adaptive.coalescePartitions.initialPartitionNum", "400")
            .config("spark.sql.adaptive.coalescePartitions.parallelismFirst", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        if driver_memory and master.startswith("local"):
            builder = builder.config("spark.driver.memory", driver_memory)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _SESSION[master] = session
        return session


def stop_sessions() -> None:
    """Stop the process's session (tests, and processes that are done with Spark)."""
    with _LOCK:
        for session in _SESSION.values():
            session.stop()
        _SESSION.clear()
