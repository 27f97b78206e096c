"""A Slack incoming webhook, as Slack answers one: for tests and rehearsals of pipeline notifications.

``POST /services/<team>/<bot>/<secret>`` with a JSON body (or a form field ``payload`` holding JSON)
posts a message. Answers as Slack documents them: ``200 ok``; ``400 invalid_payload`` for a body that is
not JSON; ``400 no_text`` when neither ``text`` nor ``blocks`` is given; ``404 no_service`` for an unknown
webhook path; ``404 channel_not_found`` for a channel the workspace does not have (when channels are
listed); scripted faults (``500 rollup_error``, ``429`` with ``Retry-After``). Received messages are
listed at ``GET /_sandbox/slack/messages``.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


@dataclass
class SlackFault:
    status: int
    times: int = 1
    retry_after: int = 1


@dataclass
class SlackWebhookSandbox:
    """One workspace's incoming webhook. ``path`` is the secret part of the URL."""

    path: str = field(
        default_factory=lambda: (
            f"/services/T{secrets.token_hex(4).upper()}/B"
            f"{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
        )
    )
    channels: set[str] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_messages(self) -> list[dict[str, Any]]:
        """Pipeline outcome notifications (Block Kit), not the monitors' plain-text alerts."""
        return [m for m in self.messages if "blocks" in m]

    faults: list[SlackFault] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/services/{rest:path}", self.post, methods=["POST"]),
                Route("/_sandbox/slack/messages", self.list_messages),
                Route("/_sandbox/slack/faults", self.set_faults, methods=["POST", "DELETE"]),
            ]
        )

    async def post(self, request: Request) -> Response:
        with self._lock:
            self.attempts += 1
        if request.url.path != self.path:
            return PlainTextResponse("no_service", 404)
        for fault in self.faults:
            if fault.times > 0:
                fault.times -= 1
                if fault.status == 429:
                    return PlainTextResponse(
                        "rate_limited", 429, headers={"Retry-After": str(fault.retry_after)}
                    )
                return PlainTextResponse(
                    "rollup_error" if fault.status >= 500 else "invalid_payload", fault.status
                )
        raw = await request.body()
        try:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                raw = urllib.parse.parse_qs(raw.decode()).get("payload", [""])[0].encode()
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return PlainTextResponse("invalid_payload", 400)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", 400)
        if not body.get("text") and not body.get("blocks"):
            return PlainTextResponse("no_text", 400)
        channel = body.get("channel")
        if self.channels is not None and channel is not None and channel not in self.channels:
            return PlainTextResponse("channel_not_found", 404)
        with self._lock:
            self.messages.append(body)
        return PlainTextResponse("ok")

    async def list_messages(self, _request: Request) -> Response:
        return JSONResponse({"messages": self.messages, "attempts": self.attempts})

    async def set_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        else:
            self.faults.append(SlackFault(**json.loads(await request.body())))
        return JSONResponse({"faults": len(self.faults)})
