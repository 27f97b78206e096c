"""``matih --help`` reads along the user's path: every command sits in a named panel, panels in order."""

from __future__ import annotations

import re

from typer.main import get_command
from typer.testing import CliRunner

from matih.cli.main import app

runner = CliRunner()
PANELS = [
    "Start here",
    "Workspace",
    "Sources and data",
    "Models",
    "Pipelines",
    "Serving",
    "Monitoring",
    "Sandbox",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def help_panels(args: list[str]) -> dict[str, list[str]]:
    """Each panel of a Rich ``--help`` screen, in screen order, with the names listed in it."""
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    panels: dict[str, list[str]] = {}
    current: list[str] = []
    for line in ANSI.sub("", result.output).splitlines():
        if title := re.match(r"╭─ (.+?) ─", line):
            current = panels.setdefault(title.group(1), [])
        elif name := re.match(r"│ (\S+)\s", line):  # wrapped help lines start with spaces instead
            current.append(name.group(1))
    return panels


def test_root_help_groups_commands_by_panel_in_the_users_order():
    panels = help_panels([])
    # no "Commands" panel: a command registered without a panel would land there
    assert list(panels) == ["Options", *PANELS]
    placed = {
        "Start here": {"demo"},
        "Workspace": {"init", "validate"},
        "Sources and data": {"sources", "catalog", "lineage", "query", "quality", "profile"},
        "Models": {"train", "evaluate", "forecast", "experiment", "routing"},
        "Pipelines": {"pipeline", "worker", "temporal"},
        "Serving": {"deploy", "serve", "api"},
        "Sandbox": {"sandbox"},
    }
    for panel, names in placed.items():
        assert set(panels[panel]) == names, panel


def test_every_command_is_listed_once():
    panels = help_panels([])
    listed = [name for title, names in panels.items() if title != "Options" for name in names]
    assert sorted(listed) == sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_groups_keep_their_commands():
    assert help_panels(["sources"])["Commands"] == ["list", "sync", "status", "schedule"]
    assert help_panels(["sandbox"])["Commands"] == ["generate", "serve", "advance", "stop", "simulate"]
