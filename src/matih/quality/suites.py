"""Expectation suites (``quality/*.json``, the seed's format) run with Great Expectations, as SQL in
the warehouse, with per-expectation severity; every run is journaled in ``.matih/quality/runs.jsonl``.

An expectation's ``type`` names a GX 1.x expectation (``expect_column_values_to_be_between`` is
``ExpectColumnValuesToBeBetween``) and its ``kwargs`` are that expectation's arguments, validated by GX.
One MATIH addition: ``expect_column_max_to_be_recent`` (``column``, ``max_age`` like ``"2d"``), GX's
``ExpectColumnMaxToBeBetween`` with ``min_value`` set to now minus ``max_age``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matih.exceptions import QualityError, SpecError
from matih.sources.live import live_warehouse
from matih.specs import ExpectationSuiteSpec, load_spec
from matih.specs.common import Duration
from matih.state import append_jsonl, read_jsonl, utc_now, utc_stamp
from matih.warehouse import Engine, TableName, folder_lock
from matih.workspace import Workspace

RECENT = "expect_column_max_to_be_recent"
SAMPLES = 5
QUALITY_MEMORY = "1GB"


def suite_failed(run: SuiteRun) -> QualityError:
    """The error for a failed suite run: every failed error-level expectation, with the run attached."""
    message = f"suite {run.suite} failed on {run.table}: " + "; ".join(
        f"{r.type}({r.target}): {r.summary()}" for r in run.failed()
    )
    return QualityError(message, run=run)


@dataclass
class ExpectationOutcome:
    """One expectation's result, as ``matih quality run`` prints it."""

    index: int
    type: str
    kwargs: dict[str, Any]
    severity: str
    success: bool
    notes: str | None = None
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    samples: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def target(self) -> str:
        k = self.kwargs
        if "column_list" in k:
            return ", ".join(k["column_list"])
        return str(k.get("column", "table"))

    def summary(self) -> str:
        if self.error:
            return f"error: {self.error}"
        if self.unexpected_count is not None:
            return f"{self.unexpected_count:,} unexpected ({(self.unexpected_percent or 0):.4g}%)"
        return f"observed {self.observed}"


@dataclass
class SuiteRun:
    run_id: str
    suite: str
    table: str
    started: str
    seconds: float
    success: bool
    results: list[ExpectationOutcome]

    def failed(self, severity: str = "error") -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success and r.severity == severity]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SuiteRun:
        results = [ExpectationOutcome(**r) for r in raw.pop("results")]
        return cls(**raw, results=results)


# -- suites and tables -------------------------------------------------------------------------------
def find_suite(ws: Workspace, name: str) -> tuple[ExpectationSuiteSpec, Path]:
    """The ``quality/*.json`` whose ``suite_name`` (or file stem) is ``name``."""
    found = []
    for path in ws.spec_files("quality"):
        spec = load_spec(path, "quality")
        assert isinstance(spec, ExpectationSuiteSpec)
        if name in (spec.suite_name, path.stem):
            return spec, path
        found.append(spec.suite_name)
    raise SpecError(f"no suite {name!r} in {ws.root / 'quality'} (suites: {', '.join(found) or 'none'})")


def suite_table(ws: Workspace, suite: ExpectationSuiteSpec, table: str | None) -> str:
    """The table to check: ``table``, else the one the suite is named for (``<table>_validation``,
    ``<table>_suite``, or ``<table>``), when exactly one warehouse table has that name."""
    if table:
        return table
    stem = suite.suite_name
    for suffix in ("_validation", "_suite", "_expectations", "_checks"):
        stem = stem.removesuffix(suffix)
    wh = live_warehouse(ws)
    rows = [(t.catalog, t.schema, t.name) for t in wh.describe() if t.name == stem]
    if len(rows) == 1:
        return ".".join(rows[0])
    where = (
        "no warehouse table" if not rows else f"{len(rows)} tables ({', '.join('.'.join(r) for r in rows)})"
    )
    raise SpecError(
        f"suite {suite.suite_name!r} does not say which table it checks and {where} is named {stem!r}; "
        "pass --table CATALOG.SCHEMA.TABLE (or config.table in the pipeline's quality_check task)"
    )


# -- running -----------------------------------------------------------------------------------------
def _gx_expectation(
    gxe: Any, index: int, type_: str, kwargs: dict[str, Any], column_types: dict[str, str], file: str
) -> Any:
    if type_ == RECENT:
        args = dict(kwargs)
        try:
            age = Duration.parse(args.pop("max_age"))
        except (KeyError, ValueError) as err:
            raise SpecError(
                f"{RECENT} needs max_age as a duration like '2d' ({err})",
                file=file,
                path=f"$.expectations[{index}].kwargs.max_age",
            ) from None
        now = utc_now()
        kind = column_types.get(str(args.get("column")), "")
        floor: Any = (now - age).date() if kind == "DATE" else now - age
        if kind == "TIMESTAMP":
            floor = floor.replace(tzinfo=None)
        return gxe.ExpectColumnMaxToBeBetween(min_value=floor, **args)
    name = "".join(part.capitalize() for part in type_.split("_"))
    cls = getattr(gxe, name, None)
    if cls is None or not isinstance(cls, type):
        raise SpecError(
            f"unknown expectation type {type_!r}: use a Great Expectations 1.x expectation (e.g. "
            f"expect_column_values_to_be_between) or {RECENT}",
            file=file,
            path=f"$.expectations[{index}].type",
        )
    try:
        return cls(**kwargs)
    except Exception as err:  # GX validates the arguments with pydantic; its message names the field
        raise SpecError(
            f"{type_}: {str(err).splitlines()[0]} ({' '.join(str(err).split())[:300]})",
            file=file,
            path=f"$.expectations[{index}].kwargs",
        ) from None


def run_suite(ws: Workspace, name: str, *, table: str | None = None, record_run: bool = True) -> SuiteRun:
    """Run suite ``name`` against ``table`` (see :func:`suite_table`) and journal the result."""
    from matih.quality import gx_duckdb

    gx_duckdb.install()
    import great_expectations as gx
    import great_expectations.expectations as gxe

    spec, path = find_suite(ws, name)
    target = TableName.parse(suite_table(ws, spec, table))
    wh = live_warehouse(ws)
    wh.require_table(str(target))
    started = time.perf_counter()
    stamp = utc_stamp()
    with folder_lock(wh.directory):  # GX opens the catalog file itself: one DuckDB instance at a time
        column_types = dict(wh.columns(str(target)))
        file = f"quality/{path.name}"
        expectations = [
            _gx_expectation(gxe, i, e.type, e.kwargs, column_types, file)
            for i, e in enumerate(spec.expectations)
        ]
        keys = next((e.kwargs["column_list"] for e in spec.expectations if "column_list" in e.kwargs), None)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
        suite = context.suites.add(gx.ExpectationSuite(name=spec.suite_name, expectations=expectations))
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLES}
        if keys:
            result_format["unexpected_index_column_names"] = list(keys)
        with _gx_batch(context, wh, target) as (batch, parameters):
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=spec.suite_name, data=batch, suite=suite)
            )
            validation = definition.run(batch_parameters=parameters, result_format=result_format)
    outcomes = [
        _outcome(i, e, r)
        for i, (e, r) in enumerate(zip(spec.expectations, _in_order(validation, expectations), strict=True))
    ]
    run = SuiteRun(
        run_id=uuid.uuid4().hex[:12],
        suite=spec.suite_name,
        table=str(target),
        started=stamp,
        seconds=round(time.perf_counter() - started, 3),
        success=not any(not o.success and o.severity == "error" for o in outcomes),
        results=outcomes,
    )
    if record_run:
        append_jsonl(journal_path(ws), run.to_dict())
    return run


@contextmanager
def _gx_batch(context: Any, wh: Engine, target: TableName) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    """The whole table as a GX batch definition (and the batch parameters to run it with), on the GX
    execution engine of the warehouse's own engine: SQL on DuckDB's file, or the Spark DataFrame."""
    if wh.engine == "spark":
        source = context.data_sources.add_spark(name="warehouse")
        asset = source.add_dataframe_asset(name=target.name)
        frame = wh.frame(str(target))  # type: ignore[attr-defined]
        yield asset.add_batch_definition_whole_dataframe("all"), {"dataframe": frame}
        return
    # checks are scans and one GROUP BY, which spill: a small cap keeps a suite light beside the rest
    config: dict[str, Any] = {"read_only": True, "config": {"memory_limit": QUALITY_MEMORY}}
    if wh.threads:
        config["config"]["threads"] = wh.threads
    source = context.data_sources.add_sql(
        name="warehouse",
        connection_string=f"duckdb:///{wh.catalog_path(target.catalog)}",
        kwargs={"connect_args": config},  # type: ignore[call-arg]  # GX types miss engine kwargs
    )
    asset = source.add_query_asset(name=target.name, query=f"SELECT * FROM {target.schema}.{target.name}")
    try:
        yield asset.add_batch_definition_whole_table("all"), None
    finally:
        # close GX's DuckDB connections before the lock is released (one instance per file)
        source.get_execution_engine().engine.dispose()
        source.get_engine().dispose()


def _in_order(validation: Any, expectations: list[Any]) -> list[Any]:
    """GX's results in the suite's order (GX reorders them)."""
    by_id = {r.expectation_config.id: r for r in validation.results}
    return [by_id[e.id] for e in expectations]


def _outcome(index: int, spec: Any, result: Any) -> ExpectationOutcome:
    raw = result.result or {}
    info = result.exception_info or {}
    errors = [
        v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")
    ]
    if info.get("raised_exception"):
        errors.append(info.get("exception_message"))
    samples: list[Any] = raw.get("partial_unexpected_index_list") or raw.get("partial_unexpected_list") or []
    return ExpectationOutcome(
        index=index,
        type=spec.type,
        kwargs=spec.kwargs,
        severity=spec.severity,
        success=bool(result.success),
        notes=spec.notes,
        observed=raw.get("observed_value"),
        element_count=raw.get("element_count"),
        unexpected_count=raw.get("unexpected_count"),
        unexpected_percent=raw.get("unexpected_percent"),
        samples=samples[:SAMPLES],
        error=next((e for e in errors if e), None),
    )


def journal_path(ws: Workspace) -> Path:
    """One JSON line per suite run: verdict and each expectation's result."""
    return ws.state / "quality" / "runs.jsonl"


def history(ws: Workspace, suite: str | None = None) -> list[SuiteRun]:
    """Journaled runs, newest first."""
    runs = [SuiteRun.from_dict(raw) for raw in read_jsonl(journal_path(ws))]
    return [r for r in reversed(runs) if suite in (None, r.suite)]


__all__ = [
    "ExpectationOutcome",
    "QualityError",
    "SuiteRun",
    "find_suite",
    "history",
    "run_suite",
    "suite_failed",
    "suite_table",
]
