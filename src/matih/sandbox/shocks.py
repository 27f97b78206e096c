"""Shocks: changes to NovaMart's demand that no model has seen, injected from a given day.

A shock is what production throws at a forecaster after it was trained: a category's demand shifting
level (a competitor closing, a viral product), or a supplier outage emptying a category's shelves for a
while. ``matih sandbox simulate --shock`` writes them as ``KIND:CATEGORY[:CHANGE]@DAY[+DAYS]``:

- ``level:Electronics:+30%@10``: from day 10 on, Electronics sells 30% more;
- ``level:Beauty:-25%@5+14``: Beauty sells 25% less for 14 days from day 5;
- ``outage:Toys & Games@12+7``: Toys & Games is out of stock for 7 days from day 12.

Days count from the first simulated day (day 1). The shocked units are drawn from their own random
stream, as an exact Poisson addition (more demand) or binomial thinning (less): sales before the
shock and every other category's are the unshocked world's, unit for unit, so a run with a shock and one
without differ only from the shock on (web traffic, which leads sales by two days, from two days before).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from matih.exceptions import SandboxError
from matih.sandbox.categories import CATEGORIES

__all__ = ["OUTAGE_SELL_THROUGH", "Shock", "parse_shock"]

#: the share of demand that still sells during an outage (the trickle stock-outs leave, as elsewhere)
OUTAGE_SELL_THROUGH = 0.05
_FORMAT = "KIND:CATEGORY[:CHANGE]@DAY[+DAYS], e.g. 'level:Electronics:+30%@10' or 'outage:Beauty@12+7'"
_PATTERN = re.compile(
    r"^(?P<kind>[a-z]+):(?P<category>[^:@]+?)(?::(?P<change>[+-]?\d+(?:\.\d+)?)%)?"
    r"@(?P<day>-?\d+)(?:\+(?P<days>-?\d+))?$"
)


@dataclass(frozen=True)
class Shock:
    """A change to one category's demand from ``start`` (a date) for ``days`` days (``None``: to the
    world's end). ``change`` is the relative level shift of a ``level`` shock (+0.3: 30% more)."""

    kind: Literal["level", "outage"]
    category: str
    start: dt.date
    change: float = 0.0
    days: int | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in CATEGORIES]
        if self.category not in names:
            raise SandboxError(
                f"shock category {self.category!r} is not NovaMart's; use one of {', '.join(names)}"
            )
        if self.kind == "level" and not -1.0 < self.change <= 10.0:
            raise SandboxError(
                f"a level shock's change must be above -100% and at most +1000%, got {self.change:+.0%}"
            )
        if self.days is not None and self.days < 1:
            raise SandboxError(f"a shock lasts at least one day, got {self.days}")

    @property
    def factor(self) -> float:
        """What demand is multiplied by while the shock lasts."""
        return 1.0 + self.change if self.kind == "level" else OUTAGE_SELL_THROUGH

    def describe(self) -> str:
        span = f"for {self.days} days" if self.days else "on"
        what = f"{self.change:+.0%} demand" if self.kind == "level" else "supplier outage"
        return f"{self.category}: {what} from {self.start} {span}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "category": self.category,
            "start": self.start.isoformat(),
            "change": self.change,
            "days": self.days,
        }


def parse_shock(text: str, first_day: dt.date) -> Shock:
    """``KIND:CATEGORY[:CHANGE]@DAY[+DAYS]`` with DAY counted from ``first_day`` (day 1)."""
    found = _PATTERN.match(text.strip())
    if found is None:
        raise SandboxError(f"cannot read the shock {text!r}; write it as {_FORMAT}")
    kind, change = found["kind"], found["change"]
    if kind not in ("level", "outage"):
        raise SandboxError(f"unknown shock kind {kind!r} in {text!r}; use 'level' or 'outage' ({_FORMAT})")
    if kind == "level" and change is None:
        raise SandboxError(f"the level shock {text!r} needs its change, e.g. 'level:Electronics:+30%@10'")
    if kind == "outage" and change is not None:
        raise SandboxError(
            f"an outage takes no change (it empties the shelves): drop ':{change}%' from {text!r}"
        )
    day = int(found["day"])
    if day < 1:
        raise SandboxError(f"shock days count from 1 (the first simulated day), got {day} in {text!r}")
    return Shock(
        kind=kind,  # type: ignore[arg-type]
        category=found["category"].strip(),
        start=first_day + dt.timedelta(days=day - 1),
        change=float(change) / 100.0 if change is not None else 0.0,
        days=int(found["days"]) if found["days"] is not None else None,
    )
