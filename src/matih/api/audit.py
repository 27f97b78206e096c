"""The audit log of writes through the API: who, what, when, and the outcome.

One JSON line per write in ``.matih/audit/api.jsonl``, refused and failed ones included. A write is
recorded with its caller's name (``key:NAME`` or ``local:HOST``, never a key's value) and what it did:
for SQL, the statement kinds, the tables written and the statement text with every literal masked
(``'?'``), so a password in a ``CREATE SECRET`` or a customer's e-mail in an ``UPDATE`` never reaches
the log; a SHA-256 of the exact text still ties the entry to the request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlglot
from fastapi import HTTPException
from sqlglot import exp

from matih.api.auth import Principal
from matih.state import append_jsonl, read_jsonl, utc_now
from matih.workspace import Workspace

__all__ = ["audit_path", "audited", "entries", "sql_summary"]


def audit_path(ws: Workspace) -> Path:
    return ws.state / "audit" / "api.jsonl"


def entries(ws: Workspace) -> list[dict[str, Any]]:
    """Every recorded write, oldest first."""
    return list(read_jsonl(audit_path(ws)))


def sql_summary(sql: str, dialect: str) -> dict[str, Any]:
    """What a SQL request does, without its values: statement kinds, tables written, masked text."""
    digest = hashlib.sha256(sql.encode()).hexdigest()
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except sqlglot.errors.SqlglotError:
        return {"sql_sha256": digest, "statements": ["unparsed"]}
    kinds, targets, masked = [], [], []
    for tree in trees:
        kinds.append(tree.key.upper())
        target = tree.args.get("this")
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table):
            targets.append(".".join(p.name for p in target.parts))
        blank = tree.transform(
            lambda node: exp.Literal.string("?") if isinstance(node, exp.Literal) else node
        )
        masked.append(blank.sql(dialect=dialect))
    return {"sql_sha256": digest, "statements": kinds, "tables": targets, "sql": ";\n".join(masked)[:4000]}


@contextmanager
def audited(ws: Workspace, caller: Principal, action: str, what: dict[str, Any]) -> Iterator[None]:
    """Record the write done inside the block: ``ok``, ``refused`` (an HTTP 4xx raised in it) or
    ``failed`` (any other error), with the status and the error's message."""
    entry: dict[str, Any] = {"at": utc_now().isoformat(), "who": caller.who, "role": caller.role}
    entry.update(action=action, **what)
    started = time.perf_counter()
    try:
        yield
    except HTTPException as err:
        entry.update(outcome="refused" if err.status_code < 500 else "failed", status=err.status_code)
        entry["error"] = str(err.detail)
        raise
    except Exception as err:
        entry.update(outcome="failed", status=400, error=str(err)[:2000])
        raise
    else:
        entry.update(outcome="ok", status=200)
    finally:
        entry["seconds"] = round(time.perf_counter() - started, 4)
        append_jsonl(audit_path(ws), entry, durable=True)
