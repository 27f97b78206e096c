"""Serving: deployments, their rollouts and rollbacks, and the live version answering online."""

from matih.serving.deployments import (
    DeploymentState,
    RolloutResult,
    deployment_spec,
    load_state,
    revert,
    rollback,
    rollout,
)
from matih.serving.online import LiveModel, ServedVersion, load_version

__all__ = [
    "DeploymentState",
    "LiveModel",
    "RolloutResult",
    "ServedVersion",
    "deployment_spec",
    "load_state",
    "load_version",
    "revert",
    "rollback",
    "rollout",
]
