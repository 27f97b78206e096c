"""Which side each hash join of a ``sql_execute`` statement builds on, learnt from its own runs.

DuckDB builds a hash join's table on the side it estimates smaller. For an aggregate grouped by an
expression it can be wrong by orders of magnitude: it estimates the seed's daily sales at 40K rows where
they hold 20M, and builds ``... LEFT JOIN inventory`` on the 19.6M feature rows instead of the 45,291
inventory rows (docs/orchestration.md, "Join build side"). Turning the swap off for every statement is
no answer: TPC-H takes twice as long.

So with ``join_build_side: auto`` (the default) MATIH reads DuckDB's profile of each run, as the engine
measured it, and decides the next run of the same statement from it:

1. A run with the engine's choice whose profile shows a hash join that built on a side holding more rows
   than the side it probed, and :data:`MISESTIMATE` times more than the engine estimated (at least
   :data:`MIN_BUILD_ROWS`), makes the next run a trial with the sides as written.
2. The trial is kept when no join is mis-built any more and it took no longer than :data:`SLOWER` times
   the run before it (run times under :data:`TIMED_ABOVE` seconds are too noisy to compare); otherwise
   the statement goes back to the engine's choice for good.

What was learnt is kept per statement text in ``.matih/state/join_sides/``; a changed statement starts
again. Spark measures sizes itself when it runs (adaptive execution), so there ``auto`` is the engine's
choice and nothing is learnt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matih.specs.tasks import JoinBuildSetting
from matih.state import write_json_atomic
from matih.warehouse import Engine
from matih.warehouse.statements import JoinBuildSide, StatementResult, WriteMode
from matih.workspace import Workspace

log = logging.getLogger(__name__)

#: a build side holding this many times the rows the engine estimated is a mis-estimate
MISESTIMATE = 100
#: build sides smaller than this cost too little to be worth a trial
MIN_BUILD_ROWS = 50_000
#: a trial with the sides as written is kept when it takes at most this times the run before it
SLOWER = 1.25
#: runs shorter than this (seconds) are not compared by time: their noise exceeds the difference
TIMED_ABOVE = 2.0


@dataclass(frozen=True)
class Misbuilt:
    """A hash join that built its table on the larger side because the engine under-estimated it."""

    conditions: str
    build_rows: int
    estimated_rows: int
    probe_rows: int

    def describe(self) -> str:
        return (
            f"the hash join on {self.conditions} built on {self.build_rows:,} rows (estimated "
            f"{self.estimated_rows:,}) and probed {self.probe_rows:,}"
        )


def misbuilt_joins(profile: dict[str, Any]) -> list[Misbuilt]:
    """The mis-built hash joins in a DuckDB JSON profile (``get_profiling_information(format="json")``).

    A hash join's second child is its build side."""
    found: list[Misbuilt] = []

    def visit(node: dict[str, Any]) -> None:
        children = node.get("children") or []
        if node.get("operator_name") == "HASH_JOIN" and len(children) == 2:
            probe, build = children
            built, probed = _rows(build), _rows(probe)
            estimate = _estimate(build)
            if (
                estimate is not None
                and built >= MIN_BUILD_ROWS
                and built > probed
                and built > MISESTIMATE * max(estimate, 1)
            ):
                conditions = (node.get("extra_info") or {}).get("Conditions", "?")
                text = " AND ".join(conditions) if isinstance(conditions, list) else str(conditions)
                found.append(Misbuilt(text, built, estimate, probed))
        for child in children:
            visit(child)

    visit(profile)
    return found


def _rows(node: dict[str, Any]) -> int:
    return int(node.get("operator_cardinality") or 0)


def _estimate(node: dict[str, Any]) -> int | None:
    """The engine's estimate of ``node``'s rows; through projections, which carry none."""
    while True:
        raw = (node.get("extra_info") or {}).get("Estimated Cardinality")
        if raw is not None:
            try:
                return int(float(raw))
            except ValueError:
                return None
        children = node.get("children") or []
        if node.get("operator_name") != "PROJECTION" or len(children) != 1:
            return None
        node = children[0]


class JoinSides:
    """What was learnt about one statement's join sides (see the module's doc)."""

    def __init__(self, ws: Workspace, sql: str) -> None:
        key = hashlib.sha256(sql.encode()).hexdigest()[:20]
        self.path: Path = ws.state / "join_sides" / f"{key}.json"
        self.state: dict[str, Any] = {}
        if self.path.exists():
            try:
                self.state = json.loads(self.path.read_text())
            except ValueError:  # a damaged record costs what it taught: learn again
                log.warning("%s is not readable JSON; learning this statement's join sides again", self.path)

    def side(self) -> JoinBuildSide:
        """The build side the next run uses."""
        return "as_written" if self.state.get("side") == "as_written" else "estimated"

    @property
    def settled(self) -> bool:
        """True when nothing is left to learn: a kept trial, or the engine's choice for good."""
        return bool(self.state.get("kept") or self.state.get("pinned"))

    def learn(self, side: JoinBuildSide, profile: dict[str, Any] | None, seconds: float) -> str:
        """Record a run of the statement with ``side`` (its DuckDB profile and wall time); what it says
        about the next run, for the task's summary ("" when nothing changed)."""
        if profile is None or self.settled:
            return ""
        bad = misbuilt_joins(profile)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if side == "estimated":
            if not bad:
                return ""
            self._save(
                {
                    "side": "as_written",
                    "trial": True,
                    "estimated_seconds": seconds,
                    "since": now,
                    "evidence": [asdict(b) for b in bad],
                }
            )
            return f"{bad[0].describe()}: the next run builds each join on its written right side"
        before = float(self.state.get("estimated_seconds") or 0.0)
        slower = seconds > TIMED_ABOVE and seconds > SLOWER * before
        if bad or slower:
            why = bad[0].describe() if bad else f"it took {seconds:.1f}s against {before:.1f}s"
            self._save(
                {
                    **self.state,
                    "side": "estimated",
                    "trial": False,
                    "pinned": True,
                    "since": now,
                    "as_written_seconds": seconds,
                    "reason": why,
                }
            )
            return f"joins built as written did not help ({why}): back to the engine's choice"
        self._save({**self.state, "trial": False, "kept": True, "as_written_seconds": seconds, "since": now})
        return f"joins built as written: {seconds:.1f}s against {before:.1f}s with the engine's choice; kept"

    def _save(self, state: dict[str, Any]) -> None:
        self.state = state
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, state)


def run_into(
    ws: Workspace,
    wh: Engine,
    sql: str,
    target: str,
    *,
    write_mode: WriteMode = "overwrite",
    join_build_side: JoinBuildSetting = "auto",
) -> tuple[StatementResult, str]:
    """Run ``sql`` (one query, or ``CREATE TABLE ... AS``) into ``target`` with the join sides the setting
    says, learning from the run under ``auto``; the result and a note on the join sides for the task's
    summary ("" when there is nothing to say)."""
    if join_build_side != "auto":
        return wh.run(sql, target=target, write_mode=write_mode, join_build_side=join_build_side)[-1], ""
    if wh.engine != "duckdb":  # Spark sizes its joins when it runs them: nothing to learn
        return wh.run(sql, target=target, write_mode=write_mode)[-1], ""
    sides = JoinSides(ws, sql)
    side = sides.side()
    result = wh.run(
        sql, target=target, write_mode=write_mode, join_build_side=side, profile=not sides.settled
    )[-1]
    try:
        note = sides.learn(side, result.profile, result.elapsed)
    except (OSError, ValueError, KeyError, TypeError) as err:  # a profile we cannot read costs nothing
        log.warning("join sides of %s not learnt from this run: %s", target, err)
        note = ""
    if side == "as_written" and not note:
        note = "joins built as written (learnt from an earlier run)"
    return result, note


def side_for(ws: Workspace, wh: Engine, sql: str, setting: JoinBuildSetting) -> JoinBuildSide:
    """The side a run of ``sql`` uses without learning from it (the incremental refresh, whose runs are
    mostly partial): what a full run of the same statement learnt, else the engine's choice."""
    if setting != "auto":
        return setting
    return JoinSides(ws, sql).side() if wh.engine == "duckdb" else "estimated"
