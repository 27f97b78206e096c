"""The business day monitors score up to: the simulator's clock when the data comes from it."""

from __future__ import annotations

import datetime as dt
import json

from matih.monitoring.clock import business_today
from matih.workspace import Workspace


def test_the_sandbox_clock_sets_the_business_day(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: sim\nsources:\n  endpoints: sandbox\n")
    ws = Workspace(tmp_path)
    today = dt.datetime.now(dt.UTC).date()
    assert business_today(ws) == today  # no sandbox clock yet: the wall clock's day
    ws.sandbox_dir.mkdir(parents=True)
    (ws.sandbox_dir / "clock.json").write_text(json.dumps({"as_of": "2026-03-10"}))
    assert business_today(ws) == dt.date(2026, 3, 11)  # the sandbox shows up to 03-10: "today" is 03-11


def test_production_data_follows_the_wall_clock(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: prod\nsources:\n  endpoints: production\n")
    ws = Workspace(tmp_path)
    ws.sandbox_dir.mkdir(parents=True)
    (ws.sandbox_dir / "clock.json").write_text(json.dumps({"as_of": "2026-03-10"}))
    assert business_today(ws) == dt.datetime.now(dt.UTC).date()
