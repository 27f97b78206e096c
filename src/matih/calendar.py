"""Retail calendar shared by the simulator and the forecaster.

Holidays are a known future: a forecast for December may use the fact that Christmas is coming. The
seed's SQL hard-codes 2025 dates; the forecaster derives the same windows for every year instead.
"""

from __future__ import annotations

import datetime as dt

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
