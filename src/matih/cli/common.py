"""What every CLI module shares: the workspace option, error handling, log quieting."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from matih.exceptions import MatihError
from matih.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])
WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: the one holding the current folder)."),
]


def handled(fn: F) -> F:
    """Every MatihError becomes a red one-line message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from matih.cli.render import err_console

        try:
            return fn(*args, **kwargs)
        except MatihError as err:
            err_console.print(f"[bold red]error:[/] {err}", markup=True, highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def workspace(path: Path | None) -> Workspace:
    """The workspace holding ``path`` (or the current folder)."""
    return Workspace.find(path)


def quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        # task logs are collected at INFO into the run's log files; the terminal shows warnings only
        handler.setLevel(logging.WARNING)
    for noisy in ("mlflow", "alembic", "urllib3", "sqlglot"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def quiet_task_logs() -> None:
    """While a command follows a run with a worker inside it, task logs go to the run's log files
    only (`pipeline status --logs` shows them); the terminal keeps the run's table readable."""
    from matih.orchestrate.activities import OutsideTasks

    for handler in logging.getLogger().handlers:
        handler.addFilter(OutsideTasks())
    # the SDK logs every failed attempt with its traceback; the run's table already shows the error
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
