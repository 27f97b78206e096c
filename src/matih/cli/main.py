"""``matih``: the root Typer app. It only assembles the command groups, each from the module that owns it,
and lays them out in ``--help`` by the user's path. Every MatihError becomes a message and exit code 1."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

from matih.cli import demo, models, serving, workspace
from matih.cli.catalog import catalog_app, lineage_app
from matih.cli.common import handled
from matih.cli.experiment import experiment_app, routing_app
from matih.cli.monitor import health, monitor_app
from matih.cli.pipeline import pipeline_app, temporal_app
from matih.cli.pipeline import worker as pipeline_worker
from matih.cli.quality import profile as quality_profile
from matih.cli.quality import quality_app
from matih.cli.query import query_app
from matih.cli.sandbox import sandbox_app
from matih.cli.sources import sources_app

START = "Start here"
WORKSPACE = "Workspace"
DATA = "Sources and data"
MODELS = "Models"
PIPELINES = "Pipelines"
SERVING = "Serving"
MONITORING = "Monitoring"
SANDBOX = "Sandbox"
# the order a new user meets them: try the demo, set up a workspace, bring data in, model it, automate,
# serve, watch
PANELS = (START, WORKSPACE, DATA, MODELS, PIPELINES, SERVING, MONITORING, SANDBOX)
_ORDER: list[str] = []


class _PanelOrder(TyperGroup):
    """Lists commands panel by panel, in registration order within a panel. Typer itself lists every
    command before every sub-group, which would put `profile` ahead of `sources` and `worker` ahead of
    `pipeline`."""

    def list_commands(self, ctx: Any) -> list[str]:
        def key(name: str) -> tuple[int, int]:
            panel = getattr(self.commands[name], "rich_help_panel", None)
            where = PANELS.index(panel) if panel in PANELS else len(PANELS)
            return where, _ORDER.index(name) if name in _ORDER else len(_ORDER)

        return sorted(super().list_commands(ctx), key=key)


app = typer.Typer(
    cls=_PanelOrder,
    help="MATIH: demand forecasting from raw sources to trusted forecasts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _command(panel: str, name: str, fn: Callable[..., Any]) -> None:
    _ORDER.append(name)
    app.command(name, rich_help_panel=panel)(handled(fn))


def _group(panel: str, name: str, group: typer.Typer) -> None:
    _ORDER.append(name)
    app.add_typer(group, name=name, rich_help_panel=panel)


_command(START, "demo", demo.demo)
_command(WORKSPACE, "init", workspace.init)
_command(WORKSPACE, "validate", workspace.validate)
_group(DATA, "sources", sources_app)
_group(DATA, "catalog", catalog_app)
_group(DATA, "lineage", lineage_app)
_group(DATA, "query", query_app)
_group(DATA, "quality", quality_app)
_command(DATA, "profile", quality_profile)
_command(MODELS, "train", models.train_cmd)
_command(MODELS, "evaluate", models.evaluate_cmd)
_command(MODELS, "forecast", models.forecast_cmd)
_group(MODELS, "experiment", experiment_app)
_group(MODELS, "routing", routing_app)
_group(PIPELINES, "pipeline", pipeline_app)
_command(PIPELINES, "worker", pipeline_worker)
_group(PIPELINES, "temporal", temporal_app)
_command(SERVING, "deploy", serving.deploy)
_command(SERVING, "serve", serving.serve)
_command(SERVING, "api", serving.api)
_group(MONITORING, "monitor", monitor_app)
_command(MONITORING, "health", health)
_group(SANDBOX, "sandbox", sandbox_app)


def main() -> None:  # pragma: no cover - console entry
    """``matih``. After a command that used Temporal the process leaves with ``os._exit``: the Temporal
    SDK can crash during interpreter teardown (sdk-python issue 300) and turn a success into a failure."""
    try:
        app(prog_name="matih")
        code: int = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    if "temporalio" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
