"""How often a dataset's series are observed: daily, weekly (anchored on a weekday) or monthly.

A dataset's dates decide the periods the grid, the features, the horizon, the holdout and the forecast
rows count in. ``frequency`` in the ``ray_train`` hyperparameters names it (pandas' aliases: ``D``,
``W-SUN`` ... ``W-SAT``, ``W`` for weeks ending on Sunday, ``MS`` for months dated on their first day,
``M``/``ME`` for months dated on their last); without it, it is inferred from the dates, and either way
the dates are checked against it, so a table mixing daily and weekly rows is a clear error rather than a
grid of zeros between the weeks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matih.exceptions import TrainingError

__all__ = ["DAILY", "Frequency", "frequency_of", "infer_frequency", "parse_frequency"]

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class Frequency:
    """A calendar of periods. ``unit`` is ``D``, ``W`` or ``M``; ``anchor`` the weekday a weekly
    period is dated by (0 = Monday), or for months whether the date is the month's first or last day."""

    unit: str
    anchor: int = 0
    month_end: bool = False

    @property
    def code(self) -> str:
        if self.unit == "W":
            return f"W-{_WEEKDAYS[self.anchor]}"
        if self.unit == "M":
            return "ME" if self.month_end else "MS"
        return "D"

    @property
    def noun(self) -> str:
        return {"D": "day", "W": "week", "M": "month"}[self.unit]

    @property
    def adjective(self) -> str:
        return {"D": "daily", "W": "weekly", "M": "monthly"}[self.unit]

    @property
    def cycle(self) -> int:
        """Periods in the shortest cycle that repeats (a week of days; a year of weeks or months)."""
        return {"D": 7, "W": 52, "M": 12}[self.unit]

    @property
    def year(self) -> int:
        """Periods back to the same time last year, keeping the weekday for days (364)."""
        return {"D": 364, "W": 52, "M": 12}[self.unit]

    @property
    def days(self) -> float:
        """The period's mean length in days."""
        return {"D": 1.0, "W": 7.0, "M": 30.4375}[self.unit]

    def positions(self, dates: np.ndarray) -> tuple[np.ndarray, np.datetime64]:
        """Each date's period index from the first date's period, and the first period's date. The dates
        are taken to be this frequency's (:func:`frequency_of` checks them once, on the distinct dates)."""
        days = dates.astype("datetime64[D]")
        if self.unit == "M":
            months = days.astype("datetime64[M]").astype(np.int64)
            first = int(months.min())
            first_day = np.datetime64(first, "M").astype("datetime64[D]")
            start = np.datetime64(self.date_at(first_day, 0).item(), "D")
            return months - first, start
        start = days.min()
        step = 7 if self.unit == "W" else 1
        return (days - start).astype(np.int64) // step, start

    def date_at(self, start: np.datetime64, index: np.ndarray | int) -> np.ndarray:
        """The date of period ``index`` counted from the period dated ``start``."""
        idx = np.asarray(index, dtype=np.int64)
        if self.unit == "M":
            month = start.astype("datetime64[M]") + idx.astype("timedelta64[M]")
            if self.month_end:
                return (month + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
            return month.astype("datetime64[D]")
        step = 7 if self.unit == "W" else 1
        return start.astype("datetime64[D]") + (idx * step).astype("timedelta64[D]")

    def index_of(self, start: np.datetime64, date: np.datetime64) -> int:
        """The period index of ``date`` counted from the period dated ``start`` (rounded down)."""
        return int(self.indices(start, np.asarray(date)))

    def indices(self, start: np.datetime64, dates: np.ndarray) -> np.ndarray:
        """:meth:`index_of` for an array of dates."""
        if self.unit == "M":
            return (dates.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(np.int64)
        step = 7 if self.unit == "W" else 1
        return (dates.astype("datetime64[D]") - start.astype("datetime64[D]")).astype(np.int64) // step

    def check(self, days: np.ndarray) -> None:
        """Refuse dates that are not this frequency's (naming how many and an example)."""
        if self.unit == "D" or len(days) == 0:
            return
        if self.unit == "W":
            weekday = (days.astype(np.int64) + _EPOCH_WEEKDAY) % 7
            wrong = weekday != self.anchor
            expected = f"a {_WEEKDAYS[self.anchor].title()}"
        else:
            first = days.astype("datetime64[M]").astype("datetime64[D]")
            if self.month_end:
                last = (days.astype("datetime64[M]") + np.timedelta64(1, "M")).astype("datetime64[D]")
                wrong = days != last - np.timedelta64(1, "D")
                expected = "the last day of its month"
            else:
                wrong = days != first
                expected = "the first day of its month"
        if wrong.any():
            example = str(days[np.argmax(wrong)])
            raise TrainingError(
                f"frequency {self.code}: {int(wrong.sum()):,} of {len(days):,} dates are not {expected} "
                f"(e.g. {example}). Date each period the same way, or set hyperparameters.frequency to "
                "what the dates are (D, W-<weekday>, MS or ME)"
            )


DAILY = Frequency("D")


def parse_frequency(code: str) -> Frequency:
    """``D``, ``W`` (= ``W-SUN``), ``W-MON`` ... ``W-SUN``, ``MS``, ``M`` or ``ME``."""
    text = code.strip().upper()
    if text == "D":
        return DAILY
    if text == "W":
        return Frequency("W", anchor=6)
    if text.startswith("W-") and text[2:] in _WEEKDAYS:
        return Frequency("W", anchor=_WEEKDAYS.index(text[2:]))
    if text == "MS":
        return Frequency("M")
    if text in ("M", "ME"):
        return Frequency("M", month_end=True)
    raise TrainingError(
        f"frequency {code!r} is not understood; use D, W-<weekday> (W-MON ... W-SUN; W means W-SUN), MS "
        "(months dated by their first day) or ME (by their last)"
    )


def infer_frequency(dates: np.ndarray) -> Frequency:
    """The frequency the dates follow: the gaps between distinct dates tell days from weeks from months."""
    days = np.unique(dates.astype("datetime64[D]"))
    if len(days) < 2:
        return DAILY
    gaps = np.diff(days.astype(np.int64))
    smallest = int(gaps.min())
    if smallest == 1:
        return DAILY
    weekday = (days.astype(np.int64) + _EPOCH_WEEKDAY) % 7
    if smallest % 7 == 0 and (weekday == weekday[0]).all():
        return Frequency("W", anchor=int(weekday[0]))
    if smallest >= 28:
        first = days.astype("datetime64[M]").astype("datetime64[D]")
        if (days == first).all():
            return Frequency("M")
        nxt = (days.astype("datetime64[M]") + np.timedelta64(1, "M")).astype("datetime64[D]")
        if (days == nxt - np.timedelta64(1, "D")).all():
            return Frequency("M", month_end=True)
    counts = np.unique(weekday, return_counts=True)
    raise TrainingError(
        f"the dates follow no single frequency: {len(days):,} distinct dates, the closest two {smallest} "
        f"days apart, on {len(counts[0])} different weekdays. Mixed daily and weekly rows cannot share "
        "one model; aggregate them to one frequency in the dataset's SQL, or set hyperparameters.frequency"
    )


def frequency_of(code: str | None, dates: np.ndarray) -> Frequency:
    """The declared frequency checked against the dates, or the one inferred from them."""
    if code is None:
        return infer_frequency(dates)
    freq = parse_frequency(code)
    days = np.unique(dates.astype("datetime64[D]"))
    freq.check(days)
    if freq.unit == "D" and (found := infer_frequency(days)).unit != "D":
        raise TrainingError(
            f"frequency D, but the dates are {found.adjective} ({found.code}): a daily grid would put zeros "
            f"between them. Set hyperparameters.frequency to {found.code!r} (or leave it out)"
        )
    return freq
