"""Data quality: expectation suites on Great Expectations (SQL in the warehouse) and table profiles."""

from matih.quality.profile import Profile, profile_table
from matih.quality.suites import ExpectationOutcome, SuiteRun, find_suite, history, run_suite, suite_failed

__all__ = [
    "ExpectationOutcome",
    "Profile",
    "SuiteRun",
    "find_suite",
    "history",
    "profile_table",
    "run_suite",
    "suite_failed",
]
