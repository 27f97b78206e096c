"""Labels on statements, so that one caller's statement can be interrupted without touching the others'."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LABEL: ContextVar[str | None] = ContextVar("matih_statement_label", default=None)


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Statements run in this block (this thread or task) can be interrupted by ``label``: the HTTP API
    labels each query with the id its caller chose, so one caller's cancel stops only that query."""
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


def current_label() -> str | None:
    """The label of the block this code runs in, if any."""
    return _LABEL.get()
