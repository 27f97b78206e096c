"""``source-file``: CSV, Parquet or JSON-lines files from a path or glob, for data users bring themselves.

Files are read by DuckDB (``read_csv`` sniffs delimiters, headers and types) and handed to dlt as
Arrow. Every stream reads the configured files into its own table (``config.table`` renames a single
stream). ``full_refresh`` replaces the table; ``incremental`` reads only files changed since the last
sync (by modification time) and merges on the stream's ``primary_key`` (appends without one).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from matih.exceptions import SourceError
from matih.sources.connector import Connector, StreamInfo, SyncContext

_READERS = {"csv": "read_csv", "parquet": "read_parquet", "jsonl": "read_json"}


def _files(ctx: SyncContext) -> list[Path]:
    pattern = ctx.config["path"]
    if not os.path.isabs(pattern):
        pattern = str(ctx.workspace.root / pattern)
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not found:
        raise SourceError(
            f"no file matches {ctx.config['path']!r} (looked in {ctx.workspace.root}); check config.path",
            source=ctx.source,
        )
    return found


def _read(path: Path, fmt: str) -> pa.Table:
    reader = _READERS[fmt]
    extra = ", format = 'newline_delimited'" if fmt == "jsonl" else ""
    try:
        with duckdb.connect() as con:
            return con.execute(f"SELECT * FROM {reader}(?{extra})", [str(path)]).to_arrow_table()
    except duckdb.Error as err:
        raise SourceError(f"cannot read {path.name} as {fmt}: {err}") from None


def _resources(ctx: SyncContext) -> list[Any]:
    fmt = ctx.config["format"]
    resources = []
    for stream in ctx.streams:
        table = ctx.config.get("table") if len(ctx.streams) == 1 else None
        incremental = stream.sync_mode == "incremental"

        resources.append(_file_resource(ctx, fmt, table or stream.name, stream.primary_key, incremental))
    return resources


def _file_resource(
    ctx: SyncContext, fmt: str, name: str, primary_key: list[str] | None, incremental: bool
) -> Any:
    import dlt

    def rows() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        since = float(state.get("cursor_mtime", 0)) if incremental else 0.0
        newest = since
        for path in _files(ctx):
            mtime = path.stat().st_mtime
            if mtime <= since:
                continue
            newest = max(newest, mtime)
            data = _read(path, fmt)
            if data.num_rows:
                yield data
        if incremental:
            state["cursor_mtime"] = newest
            state["cursor"] = f"files modified up to {newest:.0f}"

    if incremental:
        write: Any = "merge" if primary_key else "append"
    else:
        write = "replace"
    return dlt.resource(rows, name=name, primary_key=primary_key or (), write_disposition=write)


CONNECTOR = Connector(
    name="source-file",
    streams={"*": StreamInfo(("*",))},
    destination=lambda _spec, name: ("files", name.replace("-", "_")),
    resources=_resources,
)

__all__ = ["CONNECTOR"]
