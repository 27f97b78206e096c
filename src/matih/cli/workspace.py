"""``matih init | validate``: creating a workspace and checking every document in it.

Top-level commands are plain functions; ``matih.cli.main`` registers them behind ``handled``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from matih.exceptions import WorkspaceError
from matih.workspace import Workspace

SPEC_FOLDERS = ("sources", "queries", "quality", "pipelines", "deployments", "monitors", "routing")


def init(folder: Annotated[Path, typer.Argument(help="Folder to make a workspace.")]) -> None:
    """Create a workspace: matih.yaml and the spec folders, ready for your documents."""
    from matih.cli.render import console

    ws = Workspace.at(folder)
    for kind in SPEC_FOLDERS:
        (ws.root / kind).mkdir(exist_ok=True)
    console.print(f"workspace ready at {ws.root}; add documents to {', '.join(SPEC_FOLDERS)}")


def validate(workspace: Annotated[Path, typer.Argument(help="Workspace folder.")] = Path(".")) -> None:
    """Check every spec document and query in a workspace; exit 1 naming each problem."""
    from matih.cli.render import console, err_console
    from matih.specs import validate_workspace
    from matih.warehouse.lint import lint_queries

    if not (Path(workspace) / "matih.yaml").is_file():
        raise WorkspaceError(
            f"{workspace} is not a workspace (no matih.yaml); pass the workspace folder, e.g. "
            "`matih validate examples/novamart`, or create one with `matih init DIR`"
        )
    report = validate_workspace(workspace)
    for path, kind, _ in report.documents:
        console.print(f"[green]ok[/]    {kind:<12} {path}")
    for warning in [*report.warnings, *lint_queries(Path(workspace))]:
        err_console.print(f"[yellow]warn[/]  {warning}", highlight=False)
    for error in report.errors:
        err_console.print(f"[red]error[/] {error}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"{len(report.documents)} documents valid")
