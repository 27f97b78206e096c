"""The write journal ``writes.jsonl``: one JSON line per table write, the catalog's update times.

Each line is ``{"table": "catalog.schema.table", "mode": "overwrite"|"append", "rows": N, "at": <UTC>}``.
The catalog takes its tables' update times from it, and feature caches (serving, training) notice a changed
table by the file's modification time: its format, and its being appended after every committed write, are
part of the warehouse's interface.
"""

from __future__ import annotations

from pathlib import Path

from matih.state import append_jsonl, read_jsonl, utc_stamp
from matih.warehouse.names import TableName
from matih.warehouse.statements import WriteMode

JOURNAL_NAME = "writes.jsonl"


def journal_path(directory: Path) -> Path:
    """The write journal of the warehouse in ``directory``."""
    return directory / JOURNAL_NAME


def record_write(journal: Path, table: TableName, mode: WriteMode, rows: int) -> None:
    """Append one write of ``table`` (after it committed) to the journal."""
    append_jsonl(journal, {"table": str(table), "mode": mode, "rows": rows, "at": utc_stamp()})


def last_write(journal: Path, table: TableName) -> str | None:
    """A stamp that changes whenever ``table`` is written (``<writes so far>@<time of the last>``);
    ``None`` when the journal has no write of it."""
    wanted = str(table)
    count, last = 0, ""
    # the text filter also passes longer names that contain this one (t and t2): compare the field
    for entry in read_jsonl(journal, contains=wanted):
        if entry["table"] == wanted:
            count, last = count + 1, entry["at"]
    return f"{count}@{last}" if count else None
