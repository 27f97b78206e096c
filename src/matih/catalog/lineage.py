"""Lineage from the workspace itself: SQL parsed by sqlglot, source specs, pipeline tasks.

Nodes are tables (``catalog.schema.table``), sources (``source:<name>``), saved queries that write
nothing (``query:<name>``) and models (``model:<registered name>``). Edges say what feeds what and
why: ``ingest`` (a connector stream fills a table), ``sql`` (a query reads a table into another),
``train`` (a dataset trains a model) and ``forecast`` (a model writes a forecast table). Column lineage
comes from ``sqlglot.lineage`` over each ``CREATE TABLE ... AS SELECT``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage as column_lineage

from matih.exceptions import SpecError
from matih.warehouse import DEFAULT_CATALOG, Engine
from matih.workspace import Workspace

READ_DIALECT = "trino"
"""The seed's SQL is Trino-style (``DATE '...'``, ``INTERVAL '1' DAY``); DuckDB runs it unchanged."""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    via: str


@dataclass
class LineageGraph:
    """Tables, sources, queries and models, with the edges between them and per-column sources."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    columns: dict[str, dict[str, set[tuple[str, str]]]] = field(default_factory=dict)
    """target table -> output column -> {(source table, source column)}"""
    writers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """pipeline id -> [(task id, table it writes)]"""
    readers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """pipeline id -> [(task id, table it reads)]"""
    ancestors: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    """pipeline id -> task id -> every task it depends on, transitively"""

    def add(self, source: str, target: str, kind: str, via: str) -> None:
        for name in (source, target):
            self.nodes.setdefault(name, _kind_of(name))
        edge = Edge(source, target, kind, via)
        if edge not in self.edges:
            self.edges.append(edge)

    def resolve(self, name: str) -> str:
        """``name`` as a node: exact, or a two-part name in the default catalog, or a unique suffix."""
        if name in self.nodes:
            return name
        if name.count(".") == 1 and f"{DEFAULT_CATALOG}.{name}" in self.nodes:
            return f"{DEFAULT_CATALOG}.{name}"
        matches = [n for n in self.nodes if n.endswith("." + name)]
        if len(matches) == 1:
            return matches[0]
        hint = f" (did you mean {' or '.join(sorted(matches))}?)" if matches else ""
        raise SpecError(f"no table or node named {name!r} in the workspace's lineage{hint}")

    def upstream(self, name: str) -> list[Edge]:
        return self._walk(name, lambda e: e.target, lambda e: e.source)

    def downstream(self, name: str) -> list[Edge]:
        return self._walk(name, lambda e: e.source, lambda e: e.target)

    def _walk(self, start: str, here: Any, there: Any) -> list[Edge]:
        found: list[Edge] = []
        seen = {start}
        frontier = [start]
        while frontier:
            node = frontier.pop()
            for edge in self.edges:
                if here(edge) == node:
                    found.append(edge)
                    if there(edge) not in seen:
                        seen.add(there(edge))
                        frontier.append(there(edge))
        return found

    def cycles(self) -> list[list[str]]:
        """Every elementary cycle, each as a path that ends where it starts."""
        succ: dict[str, list[str]] = defaultdict(list)
        for edge in self.edges:
            if edge.target not in succ[edge.source]:
                succ[edge.source].append(edge.target)
        order = sorted(self.nodes)
        found: list[list[str]] = []
        # each cycle is reported once, from its smallest node (a plain DFS suffices at workspace scale)
        for start in order:
            stack: list[tuple[str, list[str]]] = [(start, [start])]
            while stack:
                node, path = stack.pop()
                for nxt in succ.get(node, []):
                    if nxt == start:
                        found.append([*path, start])
                    elif nxt not in path and nxt > start:
                        stack.append((nxt, [*path, nxt]))
        return found

    def self_feeding_pipelines(self) -> list[str]:
        """Pipelines whose output feeds their own input: a task reads a table that the same pipeline
        writes in that task or in one that does not run before it (so each run reads its last output)."""
        problems = []
        for pipeline, writes in self.writers.items():
            before = self.ancestors.get(pipeline, {})
            for reader, table in self.readers.get(pipeline, []):
                for writer, written in writes:
                    if written == table and writer not in before.get(reader, set()):
                        problems.append(
                            f"pipeline {pipeline!r}: task {reader!r} reads {table}, which task {writer!r} "
                            "writes without running before it: the pipeline's output feeds its own input"
                        )
        return problems

    # -- rendering ------------------------------------------------------------------------------------
    def subgraph(self, name: str, *, upstream: bool = True, downstream: bool = True) -> list[Edge]:
        edges = (self.upstream(name) if upstream else []) + (self.downstream(name) if downstream else [])
        return list(dict.fromkeys(edges))

    def to_json(self, edges: Iterable[Edge], columns_of: str | None = None) -> str:
        payload: dict[str, Any] = {
            "edges": [e.__dict__ for e in edges],
        }
        if columns_of:
            payload["columns"] = {
                col: sorted(f"{t}.{c}" for t, c in sources)
                for col, sources in sorted(self.columns.get(columns_of, {}).items())
            }
        return json.dumps(payload, indent=2)

    @staticmethod
    def to_mermaid(edges: Iterable[Edge]) -> str:
        ids: dict[str, str] = {}

        def ident(name: str) -> str:
            if name not in ids:
                ids[name] = f"n{len(ids)}"
            return ids[name]

        lines = ["flowchart LR"]
        body = [f"  {ident(e.source)} -- {e.kind} --> {ident(e.target)}" for e in edges]
        lines += [f'  {ident_}["{name}"]' for name, ident_ in ids.items()]
        return "\n".join(lines + body)

    @staticmethod
    def to_text(edges: Iterable[Edge]) -> str:
        return "\n".join(f"{e.source} ──{e.kind}──▶ {e.target}   ({e.via})" for e in edges)


def _kind_of(name: str) -> str:
    return name.split(":", 1)[0] if ":" in name else "table"


def _table_name(table: exp.Table) -> str:
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    if len(parts) == 2:
        parts = [DEFAULT_CATALOG, *parts]
    return ".".join(parts)


@dataclass
class ParsedQuery:
    """What one saved query reads and writes, and where each output column comes from."""

    name: str
    reads: list[str]
    writes: str | None
    columns: dict[str, set[tuple[str, str]]]


def parse_query(name: str, sql: str, *, dialect: str = READ_DIALECT) -> ParsedQuery:
    """Tables read and written by ``sql`` and the column lineage of its CREATE TABLE ... AS SELECT."""
    try:
        trees = [
            t for t in sqlglot.parse(sql, read=dialect) if t is not None and not isinstance(t, exp.Semicolon)
        ]
    except sqlglot.errors.SqlglotError as err:
        raise SpecError(f"queries/{name}.sql cannot be parsed: {err}") from None
    reads: list[str] = []
    writes: str | None = None
    columns: dict[str, set[tuple[str, str]]] = {}
    for tree in trees:
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        select: exp.Expr | None = tree
        if isinstance(tree, exp.Create):
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            writes = _table_name(target)
            select = tree.expression
        for table in tree.find_all(exp.Table):
            full = _table_name(table)
            if (table.name in ctes and not table.db) or full == writes:
                continue
            if full not in reads:
                reads.append(full)
        if writes and isinstance(select, exp.Query):
            for column, node in column_lineage(None, select, schema={}, dialect=dialect).items():
                sources = set()
                for leaf in node.walk():
                    if not leaf.downstream and isinstance(leaf.source, exp.Table):
                        sources.add((_table_name(leaf.source), leaf.name.split(".")[-1]))
                columns[column] = sources
    return ParsedQuery(name, reads, writes, columns)


LINEAGE_INPUTS = ("queries", "sources", "deployments", "pipelines")
"""The workspace folders whose files :func:`build_lineage` reads."""


def lineage_stamp(ws: Workspace, warehouse: Engine | None = None) -> tuple[Any, ...]:
    """What :func:`build_lineage` depends on, as a value that changes whenever the graph may: each input
    file's name, size and modification time, and the warehouse's write journal (the model versions in
    the forecast tables change only by a write). A server rebuilds the graph only when it changes."""
    from matih.warehouse import warehouse_of

    files = sorted(p for kind in LINEAGE_INPUTS for p in (ws.root / kind).glob("*") if p.is_file())
    stats = [(str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files]
    journal = (warehouse or warehouse_of(ws)).writes_path
    written = (journal.stat().st_mtime_ns, journal.stat().st_size) if journal.exists() else None
    return (tuple(stats), written)


def build_lineage(ws: Workspace, *, warehouse: Engine | None = None) -> LineageGraph:
    """The lineage of everything the workspace declares (queries, sources, pipelines, deployments), with
    the model versions found in the forecast tables of ``warehouse`` (default: the workspace's own; a
    server passes the one it holds open, since a process can attach a DuckDB file only once)."""
    from matih.sources.connector import connector_for
    from matih.sources.sync import destination_of
    from matih.specs import load_spec

    graph = LineageGraph()
    parsed: dict[str, ParsedQuery] = {}
    for path in sorted((ws.root / "queries").glob("*.sql")):
        query = parse_query(path.stem, path.read_text())
        parsed[path.stem] = query
        target = query.writes or f"query:{path.stem}"
        for table in query.reads:
            graph.add(table, target, "sql", f"queries/{path.name}")
        if query.writes:
            graph.columns[query.writes] = query.columns

    for path in ws.spec_files("sources"):
        spec: Any = load_spec(path, "sources")
        catalog, schema = destination_of(spec, path.stem)
        connector = connector_for(spec.connector)
        for stream in spec.streams:
            tables = connector.stream(stream.name).tables
            if tables == ("*",):
                tables = (getattr(spec.config, "table", None) or stream.name,)
            for table in tables:
                graph.add(
                    f"source:{path.stem}", f"{catalog}.{schema}.{table}", "ingest", f"{stream.name} stream"
                )

    deployments: dict[str, str] = {}
    for path in ws.spec_files("deployments"):
        spec = load_spec(path, "deployments")
        batch = getattr(spec, "batch_inference", None)
        if batch is None or not getattr(batch, "output_table", None):
            continue
        output = str(batch.output_table)
        deployments[str(getattr(spec, "deployment_name", path.stem))] = output
        for role in ("per_category", "fallback"):
            model = getattr(getattr(spec, "models", None), role, None)
            source = str(getattr(model, "source", "") or "")
            if source.startswith("mlflow://"):
                name = source.removeprefix("mlflow://").split("/")[0]
                graph.add(f"model:{name}", output, "forecast", f"deployments/{path.name}")

    for path in ws.spec_files("pipelines"):
        _add_pipeline(graph, ws, load_spec(path, "pipelines"), parsed, deployments)
    _add_model_versions(graph, ws, warehouse)
    return graph


def _add_model_versions(graph: LineageGraph, ws: Workspace, warehouse: Engine | None) -> None:
    """Model -> the versions that wrote each forecast table (its ``model_version`` column) -> the table."""
    from matih.exceptions import MatihError
    from matih.warehouse import warehouse_of

    forecasts = [e for e in graph.edges if e.kind == "forecast"]
    if not forecasts or not ws.warehouse_dir.exists():
        return
    wh = warehouse or warehouse_of(ws)
    for edge in forecasts:
        try:
            if not wh.table_exists(edge.target):
                continue
            found = wh.query(
                f"SELECT DISTINCT model_version FROM {edge.target} WHERE model_version IS NOT NULL ORDER BY 1"
            )
        except MatihError:
            continue  # no model_version column, or the warehouse is busy: the spec-level edge stays
        for version in found.column(0).to_pylist():
            graph.add(edge.source, f"{edge.source}@{version}", "version", "model registry")
            graph.add(f"{edge.source}@{version}", edge.target, "forecast", f"{edge.target}.model_version")


def _add_pipeline(
    graph: LineageGraph, ws: Workspace, spec: Any, parsed: dict[str, ParsedQuery], deployments: dict[str, str]
) -> None:
    pid = spec.pipeline_id
    direct = {task.task_id: set(task.depends_on) for task in spec.tasks}
    ancestors: dict[str, set[str]] = {}
    for task_id in direct:
        seen: set[str] = set()
        frontier = list(direct[task_id])
        while frontier:
            parent = frontier.pop()
            if parent not in seen:
                seen.add(parent)
                frontier.extend(direct.get(parent, ()))
        ancestors[task_id] = seen
    graph.ancestors[pid] = ancestors
    writes = graph.writers.setdefault(pid, [])
    reads = graph.readers.setdefault(pid, [])
    model: str | None = None
    for task in spec.tasks:
        config = task.config
        via = f"pipeline {pid}, task {task.task_id}"
        if task.type == "sql_execute":
            name = str(config.query_ref).rsplit(".", 1)[-1]
            query = parsed.get(name)
            if query is None:
                path = Path(ws.query_path(str(config.query_ref)))
                query = parse_query(name, path.read_text())
            target = str(config.target_table)
            writes.append((task.task_id, target))
            for table in query.reads:
                reads.append((task.task_id, table))
                graph.add(table, target, "sql", via)
            if query.columns and target not in graph.columns:
                graph.columns[target] = query.columns
        elif task.type == "ray_train":
            model = f"model:{config.mlflow_experiment}"
            reads.append((task.task_id, str(config.dataset)))
            graph.add(str(config.dataset), model, "train", via)
        elif task.type == "batch_inference" and model:
            writes.append((task.task_id, str(config.output_table)))
            graph.add(model, str(config.output_table), "forecast", via)
        elif task.type == "ray_serve_update" and str(config.deployment_name) in deployments:
            # rolling a deployment out makes it write its batch forecasts
            writes.append((task.task_id, deployments[str(config.deployment_name)]))
        elif task.type == "quality_check" and getattr(config, "table", None):
            reads.append((task.task_id, str(config.table)))
