"""The sandbox clock: the last day of the world the servers show (``.matih/sandbox/clock.json``).

The servers re-read the file when it changes, so ``matih sandbox advance`` moves every protocol at once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from matih.exceptions import SandboxError
from matih.state import write_json_atomic


@dataclass
class SandboxClock:
    """The day the sandbox shows as "yesterday": everything up to its end is visible."""

    path: Path
    _as_of: dt.date | None = field(default=None, repr=False)
    _cutoff: dt.datetime | None = field(default=None, repr=False)
    _mtime: float = field(default=-1.0, repr=False)

    @property
    def as_of(self) -> dt.date:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError as err:
            raise SandboxError(
                f"no sandbox clock at {self.path}; start the sandbox with `matih sandbox serve`"
            ) from err
        if mtime != self._mtime or self._as_of is None:
            record = json.loads(self.path.read_text())
            self._as_of = dt.date.fromisoformat(record["as_of"])
            self._cutoff = dt.datetime.fromisoformat(record["cutoff"]) if "cutoff" in record else None
            self._mtime = mtime
        return self._as_of

    def set(self, day: dt.date, *, cutoff: dt.datetime | None = None) -> None:
        """Show the world up to the end of ``day``; or, with ``cutoff``, the shop only up to that moment
        (within the day: what a sync in the middle of a day sees)."""
        record = {"as_of": day.isoformat()}
        if cutoff is not None:
            record["cutoff"] = cutoff.astimezone(dt.UTC).isoformat()
        write_json_atomic(self.path, record, indent=None)
        self._as_of, self._mtime = day, -1.0

    def cutoff(self) -> dt.datetime:
        """The first moment not yet visible (midnight after ``as_of``, UTC, unless a cutoff was set)."""
        day = self.as_of
        if self._cutoff is not None:
            return self._cutoff
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def cutoff_seconds(self) -> int:
        return int(self.cutoff().timestamp())


_Scope = MutableMapping[str, Any]
_Asgi = Callable[[_Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def dated_by(app: _Asgi, clock: SandboxClock, *, lead: int = 0) -> _Asgi:
    """``app`` answering with a ``Date`` header that tells the sandbox clock's time (its cutoff plus
    ``lead`` seconds), as a server tells its own: clients that pin a sync to the server's time (see
    source-shopify) then see the simulated "now". Serve it with uvicorn's own ``Date`` turned off."""

    async def wrapped(
        scope: _Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_dated(message: Any) -> None:
            if message["type"] == "http.response.start":
                now = clock.cutoff() + dt.timedelta(seconds=lead)
                stamp = format_datetime(now.astimezone(dt.UTC), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", stamp)]}
            await send(message)

        await app(scope, receive, send_dated)

    return wrapped


def business_today(ws: Any) -> dt.date | None:
    """The ``matih.clocks`` provider: the day after the last one the sandbox shows (its "today"), or
    ``None`` when this workspace has no sandbox clock."""
    clock = SandboxClock(ws.sandbox_dir / "clock.json")
    if not clock.path.is_file():
        return None
    return clock.as_of + dt.timedelta(days=1)
