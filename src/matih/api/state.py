"""What a route reads from the application: the workspace and the warehouse :func:`create_app` put in
``app.state``, as FastAPI dependencies (``ws: Ws``), and :func:`memo`, the answers worth keeping
until what they are computed from changes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from matih.warehouse import Engine
from matih.workspace import Workspace

__all__ = ["Wh", "Ws", "file_stamp", "memo"]

T = TypeVar("T")
_LOCK = threading.Lock()


async def _workspace(request: Request) -> Workspace:
    # async: a lookup this small should not hop to the thread pool
    workspace: Workspace = request.app.state.workspace
    return workspace


async def _warehouse(request: Request) -> Engine:
    warehouse: Engine = request.app.state.warehouse
    return warehouse


Ws = Annotated[Workspace, Depends(_workspace)]
Wh = Annotated[Engine, Depends(_warehouse)]


def file_stamp(*paths: Any) -> tuple[Any, ...]:
    """Each file's modification time and size (``None`` when missing): a value that changes with them."""
    out: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            out.append(None)
        else:
            out.append((stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def memo(request: Request, name: str, stamp: Hashable | None, build: Callable[[], T]) -> T:
    """``build()``'s answer, kept in ``app.state`` under ``name`` and given again while ``stamp`` (what
    the answer is computed from: file stamps, a journal's size) stays the same; ``None`` never keeps."""
    if stamp is None:
        return build()
    store: dict[str, tuple[Hashable, Any]] = request.app.state.memo
    with _LOCK:
        kept = store.get(name)
    if kept is not None and kept[0] == stamp:
        answer: T = kept[1]
        return answer
    answer = build()
    with _LOCK:
        store[name] = (stamp, answer)
    return answer
