"""The retail calendar feeds the features and the simulator: every function against an independent
reference (Python's own ``datetime``, published Black Friday dates, and the seed's 2025 SQL windows)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from matih import calendar as C

DAYS = np.arange(np.datetime64("2023-01-01"), np.datetime64("2027-01-01"), dtype="datetime64[D]")
DATES = [dt.date.fromisoformat(str(d)) for d in DAYS]


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2022, "2022-11-25"),
        (2023, "2023-11-24"),
        (2024, "2024-11-29"),
        (2025, "2025-11-28"),
        (2026, "2026-11-27"),
    ],
)
def test_black_friday_is_the_day_after_the_fourth_thursday(year: int, expected: str) -> None:
    assert C.black_friday(year) == dt.date.fromisoformat(expected)


def test_day_parts_agree_with_datetime() -> None:
    assert C.day_of_week(DAYS).tolist() == [d.weekday() for d in DATES]
    assert C.day_of_month(DAYS).tolist() == [d.day for d in DATES]
    assert C.month_of(DAYS).tolist() == [d.month for d in DATES]
    assert C.day_of_year(DAYS).tolist() == [d.timetuple().tm_yday for d in DATES]


def test_holiday_period_matches_the_seeds_2025_windows() -> None:
    """The seed's SQL: Black Friday 2025-11-28..12-02, 12-20..12-26, and 02-14 (2025 only there)."""
    seed = {
        d
        for d in DATES
        if dt.date(2025, 11, 28) <= d <= dt.date(2025, 12, 2)
        or dt.date(2025, 12, 20) <= d <= dt.date(2025, 12, 26)
        or d == dt.date(2025, 2, 14)
    }
    flagged = {d for d, on in zip(DATES, C.holiday_period(DAYS), strict=True) if on and d.year == 2025}
    assert flagged == seed


def test_holiday_period_repeats_every_year() -> None:
    flagged = {d for d, on in zip(DATES, C.holiday_period(DAYS), strict=True) if on}
    for year in range(2023, 2027):
        bf = C.black_friday(year)
        expected = {bf + dt.timedelta(days=k) for k in range(5)}
        expected |= {dt.date(year, 12, day) for day in range(20, 27)} | {dt.date(year, 2, 14)}
        assert {d for d in flagged if d.year == year} == expected


def test_black_friday_weekend_runs_to_cyber_monday() -> None:
    on = [d for d, flag in zip(DATES, C.black_friday_weekend(DAYS), strict=True) if flag]
    assert len(on) == 4 * 4
    for year in range(2023, 2027):
        days = [d for d in on if d.year == year]
        assert days[0] == C.black_friday(year) and days[-1].weekday() == 0  # Friday .. Monday
        assert [d.weekday() for d in days] == [4, 5, 6, 0]


def test_christmas_ramp_rises_through_december_and_stops_on_christmas_eve() -> None:
    ramp = dict(zip(DATES, C.christmas_ramp(DAYS).tolist(), strict=True))
    assert ramp[dt.date(2025, 11, 30)] == 0.0
    assert ramp[dt.date(2025, 12, 1)] == pytest.approx(1 / 23)
    assert ramp[dt.date(2025, 12, 23)] == pytest.approx(1.0)
    assert ramp[dt.date(2025, 12, 24)] == 0.0 and ramp[dt.date(2026, 1, 1)] == 0.0
    december = [ramp[dt.date(2025, 12, day)] for day in range(1, 24)]
    assert december == sorted(december)


def test_single_days() -> None:
    christmas = [d for d, on in zip(DATES, C.is_christmas_day(DAYS), strict=True) if on]
    assert christmas == [dt.date(y, 12, 25) for y in range(2023, 2027)]
    valentines = [d for d, on in zip(DATES, C.valentines_week(DAYS), strict=True) if on and d.year == 2024]
    assert valentines == [dt.date(2024, 2, day) for day in range(7, 15)]


def test_leap_years_and_scalars_of_any_shape() -> None:
    leap = np.array(["2024-02-29", "2024-12-31"], dtype="datetime64[D]")
    assert C.day_of_year(leap).tolist() == [60, 366]
    grid = DAYS[:14].reshape(2, 7)
    assert C.day_of_week(grid).shape == (2, 7)


def test_a_business_calendar_marks_its_own_country_and_events_not_novamarts():
    import numpy as np

    from matih.calendar import BusinessCalendar

    days = np.array(
        ["2011-11-25", "2011-12-26", "2011-08-29", "2011-07-04", "2011-03-17"], dtype="datetime64[D]"
    )
    uk = BusinessCalendar("none", country="GB", subdivision="ENG", events=("2011-03-17",))
    # Boxing Day and the August bank holiday are holidays in England; Black Friday and July 4th are not
    assert uk.holiday_period(days).tolist() == [False, True, True, False, True]
    assert not uk.black_friday_weekend(days).any() and not uk.christmas_ramp(days).any()
    us = BusinessCalendar("us")
    assert us.black_friday_weekend(days).tolist() == [True, False, False, False, False]


def test_an_unknown_country_is_a_clear_error():
    import numpy as np
    import pytest

    from matih.calendar import BusinessCalendar

    with pytest.raises(ValueError, match=r"calendar\.country 'XX'"):
        BusinessCalendar("none", country="XX").holiday_period(np.array(["2024-01-01"], dtype="datetime64[D]"))
