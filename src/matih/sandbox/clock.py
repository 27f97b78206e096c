"""The sandbox clock: the last day of the world the servers show (``.matih/sandbox/clock.json``).

The servers re-read the file when it changes, so ``matih sandbox advance`` moves every protocol at once.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

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
