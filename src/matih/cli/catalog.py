"""``matih catalog | lineage``: what tables exist, what they hold, and where their data comes from."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from matih.cli.common import WorkspaceOpt, handled
from matih.cli.common import workspace as _workspace
from matih.exceptions import WorkspaceError

catalog_app = typer.Typer(help="Tables, columns, keys, owners, tags, freshness.", no_args_is_help=True)
lineage_app = typer.Typer(help="Where tables come from and what they feed.", no_args_is_help=True)


@catalog_app.command("refresh")
@handled
def catalog_refresh(workspace: WorkspaceOpt = None) -> None:
    """Rebuild the catalog from the warehouse, the sync journal and the annotations."""
    from matih.catalog.tables import refresh
    from matih.cli.render import console

    started = time.perf_counter()
    catalog = refresh(_workspace(workspace))
    console.print(f"{len(catalog.tables)} tables catalogued in {time.perf_counter() - started:.2f}s")


@catalog_app.command("list")
@handled
def catalog_list(workspace: WorkspaceOpt = None) -> None:
    """Every table: rows, key, owner, last update."""
    from matih.catalog.tables import load_catalog
    from matih.cli.render import console, rows_table

    catalog = load_catalog(_workspace(workspace))
    rows = [
        (t.name, f"{t.rows:,}", ", ".join(t.primary_key), t.owner or "", t.updated_at or "", t.origin or "")
        for t in catalog.tables.values()
    ]
    console.print(rows_table(("Table", "Rows", "Key", "Owner", "Updated", "Origin"), rows, right=(1,)))


@catalog_app.command("search")
@handled
def catalog_search(
    column: Annotated[str, typer.Argument(help="Column name, e.g. product_id.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Tables holding COLUMN, with its key role there (the seed's Stage 2 table)."""
    from matih.catalog.tables import load_catalog
    from matih.cli.render import console, rows_table

    found = load_catalog(_workspace(workspace)).search(column)
    rows = []
    for t in found:
        col = t.column(column)
        assert col is not None
        rows.append((t.table, f"{t.catalog}.{t.schema}", col.role or "yes", f"{t.rows:,}"))
    console.print(rows_table(("Table", "Schema", f"Has {column}", "Row Count"), rows, right=(3,)))


@catalog_app.command("show")
@handled
def catalog_show(
    table: Annotated[str, typer.Argument(help="catalog.schema.table (or a unique suffix).")],
    workspace: WorkspaceOpt = None,
    sample: Annotated[int, typer.Option(help="Sample rows to show.")] = 5,
) -> None:
    """A table's card: columns and keys, owner, tags, freshness, lineage in and out, sample rows."""
    from matih.catalog.lineage import build_lineage
    from matih.catalog.tables import load_catalog
    from matih.cli.render import arrow_table, console, rows_table
    from matih.warehouse import warehouse_of

    ws = _workspace(workspace)
    info = load_catalog(ws).get(table)
    console.print(f"[bold]{info.name}[/]  {info.rows:,} rows")
    fresh = info.freshness_hours()
    for label, value in (
        ("owner", info.owner),
        ("tags", ", ".join(info.tags)),
        ("description", info.description),
        ("origin", info.origin),
        ("created", info.created_at),
        (
            "updated",
            info.updated_at + (f" ({fresh:.1f} h ago)" if fresh is not None else "")
            if info.updated_at
            else None,
        ),
    ):
        if value:
            console.print(f"  {label:<12}{value}")
    cols = [(c.name, c.type, c.role or "", c.references or "") for c in info.columns]
    console.print(rows_table(("Column", "Type", "Key", "References"), cols))
    graph = build_lineage(ws)
    if info.name in graph.nodes:
        ups = sorted({e.source for e in graph.edges if e.target == info.name})
        downs = sorted({e.target for e in graph.edges if e.source == info.name})
        console.print(f"  lineage in:  {', '.join(ups) or '-'}")
        console.print(f"  lineage out: {', '.join(downs) or '-'}")
    if sample:
        console.print(arrow_table(warehouse_of(ws).query(f"SELECT * FROM {info.name} LIMIT {int(sample)}")))


@catalog_app.command("tag")
@handled
def catalog_tag(
    table: Annotated[str, typer.Argument(help="catalog.schema.table (or a unique suffix).")],
    workspace: WorkspaceOpt = None,
    owner: Annotated[str | None, typer.Option(help="Owner, e.g. sofia@novamart.com.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag to add (repeatable).")] = None,
    untag: Annotated[list[str] | None, typer.Option("--untag", help="Tag to remove (repeatable).")] = None,
    description: Annotated[str | None, typer.Option(help="One-line description.")] = None,
) -> None:
    """Set a table's owner, tags or description (kept across syncs and refreshes)."""
    from matih.catalog.tables import annotate
    from matih.cli.render import console

    entry = annotate(
        _workspace(workspace), table, owner=owner, add_tags=tag, remove_tags=untag, description=description
    )
    console.print(f"{table}: owner={entry.get('owner', '-')} tags={', '.join(entry.get('tags', [])) or '-'}")


@lineage_app.command("show")
@handled
def lineage_show(
    table: Annotated[str, typer.Argument(help="Table (or source:NAME, model:NAME).")],
    workspace: WorkspaceOpt = None,
    columns: Annotated[bool, typer.Option("--columns", help="Show where each column comes from.")] = False,
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what feeds TABLE.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what TABLE feeds.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text, json or mermaid.")] = "text",
) -> None:
    """TABLE's lineage: tables, sources, queries and models upstream and downstream."""
    from matih.catalog.lineage import build_lineage
    from matih.cli.render import console, rows_table

    graph = build_lineage(_workspace(workspace))
    name = graph.resolve(table)
    both = not upstream and not downstream
    edges = graph.subgraph(name, upstream=upstream or both, downstream=downstream or both)
    if fmt == "json":
        print(graph.to_json(edges, columns_of=name if columns else None))
        return
    if fmt == "mermaid":
        print(graph.to_mermaid(edges))
        return
    if fmt != "text":
        raise WorkspaceError(f"--format {fmt!r}: use text, json or mermaid")
    console.print(graph.to_text(edges) or f"{name}: no lineage recorded")
    if columns:
        rows = [
            (col, ", ".join(sorted(f"{t}.{c}" for t, c in sources)))
            for col, sources in graph.columns.get(name, {}).items()
        ]
        console.print(rows_table(("Column", "Comes from"), rows))


@lineage_app.command("check")
@handled
def lineage_check(workspace: WorkspaceOpt = None) -> None:
    """Prove the workspace's lineage has no cycle (or name each one) and no self-feeding pipeline."""
    from matih.catalog.lineage import build_lineage
    from matih.cli.render import console

    graph = build_lineage(_workspace(workspace))
    cycles, feeding = graph.cycles(), graph.self_feeding_pipelines()
    for cycle in cycles:
        console.print(f"[red]cycle:[/] {' -> '.join(cycle)}")
    for problem in feeding:
        console.print(f"[red]self-feeding:[/] {problem}")
    if cycles or feeding:
        raise typer.Exit(1)
    console.print(
        f"No circular dependencies: {len(graph.nodes)} nodes, {len(graph.edges)} edges checked; no pipeline's"
        " output feeds its own input."
    )
