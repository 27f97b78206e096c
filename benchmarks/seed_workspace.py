"""The seed-scale workspace the serving and workbench benchmarks share: the world and the seed's feature
SQL in the warehouse (built by ``quality.py`` when missing), a champion model (trained, evaluated and
promoted when missing) and its batch forecasts published by a rollout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console


def ensure_world(root: Path, products: int = 45_291) -> None:
    """The seed-scale world and ``demand_features`` in ``root``'s warehouse (about 5 minutes to build),
    built as ``quality.py`` builds it, in a child process so its memory is returned."""
    import multiprocessing
    import shutil

    from quality import EXAMPLE, build

    if (root / ".matih" / "warehouse" / "analytics.duckdb").exists():
        return
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    child = multiprocessing.get_context("spawn").Process(target=build, args=(str(root), products))
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(f"building the seed-scale warehouse failed ({child.exitcode})")


def ensure_champion(root: Path, console: Console) -> dict[str, Any]:
    """Train, evaluate and promote a model when the workspace has no champion (the benchmarks measure
    serving and pages, not the gate), then roll it out to ``demand-forecaster``; the figures."""
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.dataset import load_features
    from matih.forecast.evaluation import evaluate
    from matih.forecast.registry import CHAMPION, Registry
    from matih.forecast.training import train
    from matih.serving.deployments import rollout
    from matih.workspace import Workspace

    ensure_world(root)
    ws = Workspace(root)
    config, gate, _ = configs_from_pipeline(ws)
    figures: dict[str, Any] = {}
    if Registry(ws).alias_version(config.experiment, CHAMPION) is None:
        console.print("training the seed-scale model (about 4 minutes)")
        features = load_features(ws, config)
        started = time.perf_counter()
        trained = train(ws, config, features=features)
        report = evaluate(ws, config, gate, version=trained.forecaster.version, features=features)
        if not report.promoted:
            Registry(ws).promote(trained.forecaster)
        figures["train_s"] = time.perf_counter() - started
        del features
    started = time.perf_counter()
    result = rollout(ws, "demand-forecaster", config)
    figures["rollout_s"] = time.perf_counter() - started
    figures["batch_rows"] = result.rows
    figures["batch_products"] = result.products
    return figures


@contextmanager
def served(
    root: Path, port: int, log_name: str, *, cores: list[int] | None = None
) -> Iterator[tuple[str, float]]:
    """``matih serve`` on ``root`` in its own process (on ``cores`` when given), its output in
    ``.matih/<log_name>``; yields its address and the seconds it took from start to ready."""
    log = (root / ".matih" / log_name).open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "matih.cli.main", "serve", "-w", str(root), "--port", str(port)],
        stdout=log,
        stderr=log,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"matih serve exited; see {log.name}")
            time.sleep(0.2)
        yield url, time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()
