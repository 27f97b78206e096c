"""Helpers the serving tests share: new registered versions made from the champion, a load generator,
and waiting."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.model import ForecastModel
from matih.forecast.registry import CHAMPION, Registry


def register_from_champion(ws: Any, change: Callable[[ForecastModel], None] | None = None) -> int:
    """Register the champion's model again as a new version, after ``change`` (e.g. breaking it)."""
    train, _, _ = configs_from_pipeline(ws)
    registry = Registry(ws)
    model = registry.load(train.experiment, registry.resolve(train.experiment, CHAMPION))
    if change is not None:
        change(model)
    registered = registry.log_training(
        model,
        experiment=train.experiment,
        fallback_name=train.fallback_name,
        params={"made_by": "tests"},
        metrics={},
        summary="registered by a test",
    )
    return registered.version


def until(check: Callable[[], Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextlib.contextmanager
def traffic(url: str, products: list[str], clients: int = 4) -> Iterator[list[tuple[int, str | None]]]:
    """``clients`` threads posting single-product forecasts to ``url`` until the block ends; yields the
    answers as (status, the answering version) in arrival order."""
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client() as http:
            while not stop.is_set():
                r = http.post(f"{url}/v1/forecast", json={"product_id": random.choice(products)})
                answers.append(
                    (r.status_code, r.json()["forecasts"][0]["model_version"] if r.is_success else None)
                )

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join()
