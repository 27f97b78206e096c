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
            self._as_of = dt.date.fromisoformat(json.loads(self.path.read_text())["as_of"])
            self._mtime = mtime
        return self._as_of

    def set(self, day: dt.date) -> None:
        write_json_atomic(self.path, {"as_of": day.isoformat()}, indent=None)
        self._as_of, self._mtime = day, -1.0

    def cutoff(self) -> dt.datetime:
        """The first moment not yet visible (midnight after ``as_of``, UTC)."""
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def cutoff_seconds(self) -> int:
        return int(self.cutoff().timestamp())
