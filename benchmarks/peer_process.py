"""The process the peers (statsforecast, mlforecast) run in, apart from MATIH's.

sklearn, which mlforecast imports, brings a second OpenMP runtime, and two spinning runtimes slow
LightGBM 200x on 2 cores (STACK.md). The remedy, OMP_WAIT_POLICY=PASSIVE, makes MATIH's threads sleep
between its many small parallel regions (10x slower on real_data.py's fits). So the peers get the
setting in a spawned child of their own, and MATIH runs as its CLI runs."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor


def _passive_openmp() -> None:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before LightGBM or sklearn load an OpenMP runtime


def peer_process() -> ProcessPoolExecutor:
    """One spawned worker with passive OpenMP waiting."""
    return ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=_passive_openmp
    )
