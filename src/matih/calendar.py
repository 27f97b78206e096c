"""Retail calendar shared by the simulator and the forecaster.

Holidays are a known future: a forecast for December may use the fact that Christmas is coming. The
seed's SQL hard-codes 2025 dates; the forecaster derives the same windows for every year instead.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

DAY = np.timedelta64(1, "D")


def black_friday(year: int) -> dt.date:
    """The day after the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def _years(days: np.ndarray) -> range:
    years = days.astype("datetime64[Y]").astype(int) + 1970
    return range(int(years.min()), int(years.max()) + 1)


def black_friday_weekend(days: np.ndarray) -> np.ndarray:
    """True from Black Friday through Cyber Monday."""
    out = np.zeros(days.shape, dtype=bool)
    for year in _years(days):
        start = np.datetime64(black_friday(year), "D")
        out |= (days >= start) & (days <= start + 3 * DAY)
    return out


def christmas_ramp(days: np.ndarray) -> np.ndarray:
    """0 before 1 December, rising linearly to 1 on 23 December, 0 again from 24 December."""
    month = (days.astype("datetime64[M]").astype(int) % 12) + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1
    ramp = np.where((month == 12) & (dom <= 23), dom / 23.0, 0.0)
    return ramp.astype(np.float32)


def day_of_month(days: np.ndarray) -> np.ndarray:
    return (days - days.astype("datetime64[M]")).astype(np.int16) + 1


def month_of(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[M]").astype(int) % 12 + 1).astype(np.int16)


def day_of_year(days: np.ndarray) -> np.ndarray:
    return (days - days.astype("datetime64[Y]")).astype(np.int16) + 1


def day_of_week(days: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return ((days.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(np.int16)


def is_christmas_day(days: np.ndarray) -> np.ndarray:
    return (month_of(days) == 12) & (day_of_month(days) == 25)


def valentines_week(days: np.ndarray) -> np.ndarray:
    """7 to 14 February."""
    dom = day_of_month(days)
    return (month_of(days) == 2) & (dom >= 7) & (dom <= 14)


def holiday_period(days: np.ndarray) -> np.ndarray:
    """The seed's ``is_holiday_period`` windows, for every year rather than only 2025.

    Black Friday to the Tuesday after, 20 to 26 December, and 14 February.
    """
    out = np.zeros(days.shape, dtype=bool)
    for year in _years(days):
        bf = np.datetime64(black_friday(year), "D")
        out |= (days >= bf) & (days <= bf + 4 * DAY)
        out |= (days >= np.datetime64(f"{year}-12-20")) & (days <= np.datetime64(f"{year}-12-26"))
        out |= days == np.datetime64(f"{year}-02-14")
    return out


@dataclass(frozen=True)
class BusinessCalendar:
    """The days a business's forecasts know about in advance: its retail windows (``retail_events``:
    ``us`` for the US windows above, as NovaMart sells, or ``none``), the public holidays of its
    ``country`` (and ``subdivision``, through the ``holidays`` package) and its own ``events`` (dates)."""

    retail_events: str = "us"
    country: str | None = None
    subdivision: str | None = None
    events: tuple[str, ...] = ()

    @property
    def retail(self) -> bool:
        return self.retail_events == "us"

    def _none(self, days: np.ndarray) -> np.ndarray:
        return np.zeros(days.shape, dtype=bool)

    def black_friday_weekend(self, days: np.ndarray) -> np.ndarray:
        return black_friday_weekend(days) if self.retail else self._none(days)

    def christmas_ramp(self, days: np.ndarray) -> np.ndarray:
        return christmas_ramp(days) if self.retail else np.zeros(days.shape, dtype=np.float32)

    def is_christmas_day(self, days: np.ndarray) -> np.ndarray:
        return is_christmas_day(days) if self.retail else self._none(days)

    def valentines_week(self, days: np.ndarray) -> np.ndarray:
        return valentines_week(days) if self.retail else self._none(days)

    def holiday_period(self, days: np.ndarray) -> np.ndarray:
        """The retail holiday windows, public holidays and the business's own events."""
        out = holiday_period(days) if self.retail else self._none(days)
        if self.country:
            out = out | self.public_holidays(days)
        if self.events:
            out = out | np.isin(days.astype("datetime64[D]"), np.array(self.events, dtype="datetime64[D]"))
        return out

    def special(self, days: np.ndarray) -> np.ndarray:
        """Days the calendar singles out: a retail window, a public holiday or the business's own event.
        Forecasts err more on them (:mod:`matih.forecast.calibration` widens their intervals)."""
        return (
            self.black_friday_weekend(days)
            | (self.christmas_ramp(days) > 0)
            | self.is_christmas_day(days)
            | self.valentines_week(days)
            | self.holiday_period(days)
        )

    def public_holidays(self, days: np.ndarray) -> np.ndarray:
        if not self.country or days.size == 0:
            return self._none(days)
        dates = _public_holidays(self.country, self.subdivision, tuple(_years(days)))
        return np.isin(days.astype("datetime64[D]"), dates)

    def describe(self) -> dict[str, object]:
        return {
            "retail_events": self.retail_events,
            "country": self.country,
            "subdivision": self.subdivision,
            "events": len(self.events),
        }


@functools.cache
def _public_holidays(country: str, subdivision: str | None, years: tuple[int, ...]) -> np.ndarray:
    """The dates of ``country``'s public holidays in ``years``, looked up once: the features ask for the
    same years on every call."""
    import holidays

    try:
        found = holidays.country_holidays(country, subdiv=subdivision, years=list(years))
    except NotImplementedError as err:  # the holidays package's answer to an unknown country or region
        raise ValueError(
            f"matih.yaml: calendar.country {country!r}"
            + (f" / subdivision {subdivision!r}" if subdivision else "")
            + f" is not known to the holidays package ({err})"
        ) from None
    return np.array(sorted(found), dtype="datetime64[D]")
