"""Monitor alerts to Slack, through the webhook pipeline notifications use (``notifications.
slack_webhook_url`` in matih.yaml, a ``${ENV}`` reference); an unset webhook skips, never fails."""

from __future__ import annotations

from collections.abc import Callable

from matih.exceptions import DeliveryError, SecretError
from matih.slack import post
from matih.specs.common import resolve_secrets
from matih.specs.monitor import AutomaticRetrainingMonitor, MonitorSpec
from matih.workspace import Workspace

__all__ = ["alert_channel", "slack_alerts"]

DEFAULT_CHANNEL = "#ml-ops-alerts"


def alert_channel(spec: MonitorSpec) -> str:
    """Where a monitor spec's alerts go: its retraining trigger's Slack target, else #ml-ops-alerts."""
    for monitor in spec.monitors:
        if isinstance(monitor, AutomaticRetrainingMonitor):
            target = str(monitor.trigger.notification or "")
            if target.startswith("slack:"):
                return target.removeprefix("slack:")
    return DEFAULT_CHANNEL


def slack_alerts(ws: Workspace, channel: str) -> Callable[[str], str]:
    """A ``notify(text) -> outcome`` posting to ``channel``."""

    def notify(text: str) -> str:
        where = f"slack {channel}"
        ref = ws.settings().notifications.slack_webhook_url
        if ref is None:
            return f"{where}: skipped (notifications.slack_webhook_url is null in matih.yaml)"
        try:
            url = resolve_secrets(ref, file="matih.yaml", path="$.notifications.slack_webhook_url")
        except SecretError as err:
            return f"{where}: skipped ({err.name} is not set)"
        try:
            post(url, {"channel": channel, "text": f":rotating_light: {text}"})
        except DeliveryError as err:
            return f"{where}: failed ({err})"
        return f"{where}: delivered"

    return notify
