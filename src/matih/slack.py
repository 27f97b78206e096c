"""Posting to a Slack incoming webhook: pipeline notifications and monitor alerts share it.

The webhook URL is a secret (it alone authorises posting): it is never put in a log line or an error
message. The standard library's client is used on purpose: httpx logs request URLs.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from matih.exceptions import DeliveryError

__all__ = ["post"]


def post(url: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """POST ``payload`` to a Slack incoming webhook. Raises DeliveryError without the URL in it."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as err:
        reason = err.read().decode(errors="replace")[:200] or err.reason
        retry_after = err.headers.get("Retry-After") if err.headers else None
        raise DeliveryError(
            f"Slack answered {err.code} {reason}",
            transient=err.code == 429 or err.code >= 500,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        why = err.reason if isinstance(err, urllib.error.URLError) else err
        raise DeliveryError(f"could not reach Slack: {why}", transient=True) from None
