"""Experiments: model families compared on rolling-origin backtests, winners tested for significance,
and categories routed to the families that won them (``experiments/*.json``)."""

from matih.experiment.routes import RouteOutcome, route_experiment
from matih.experiment.runner import ExperimentReport, load_report, run_experiment
from matih.experiment.significance import Comparison, paired_bootstrap

__all__ = [
    "Comparison",
    "ExperimentReport",
    "RouteOutcome",
    "load_report",
    "paired_bootstrap",
    "route_experiment",
    "run_experiment",
]
