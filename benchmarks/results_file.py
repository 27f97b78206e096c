"""Where benchmark figures go: ``benchmarks/results/<name>.json``, stamped with the machine and time."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Save ``figures`` (plus cpus and a UTC time stamp) as ``results/<name>.json``; returns the path."""
    stamped = {
        **figures,
        "machine": {"cpus": os.cpu_count()},
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(stamped, indent=2, default=str))
    return out
