"""Who is calling the HTTP API, with which role, and how often they may.

Access: a key from ``matih.yaml``'s ``api_keys`` (``X-API-Key`` header or ``Authorization: Bearer``)
grants its role; so does the workbench's session cookie, which a browser gets by signing in with a key
(:func:`session_cookie`): it holds the key's *name* and an expiry, signed with a secret kept in the
workspace's state (never the key). No key grants read access to local clients only (127.0.0.1). Only
``editor`` callers may write: run statements that write, start syncs and pipeline runs
(:meth:`Principal.require_editor`). Every router depends on :data:`Caller`, so no route answers an
unknown caller.

Each key has a request rate limit (its ``rate_limit``, in the ``limits`` library's notation such as
``"100/second"``); a caller over it gets 429 with ``Retry-After``. Local callers without a key are not
limited: they are on the machine already. A caller is known by its key's *name* (the ``${NAME}`` the
spec references), so the audit log and errors never hold a key's value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

import limits
from fastapi import Depends, HTTPException, Request
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from matih.exceptions import SecretError
from matih.workspace import Workspace

__all__ = [
    "LOCAL_HOSTS",
    "SESSION_COOKIE",
    "Caller",
    "Principal",
    "RateLimiter",
    "Role",
    "caller_role",
    "identify",
    "key_named",
    "session_cookie",
]

# "testclient" is the host Starlette's TestClient reports: in-process calls are local too
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "testclient"}
Role = Literal["reader", "editor"]
SESSION_COOKIE = "matih_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Principal:
    """A caller: its role, and who it is (``key:NAME`` for a key, ``local:HOST`` without one)."""

    role: Role
    who: str
    rate_limit: str | None = None

    def require_editor(self, what: str) -> None:
        """403 unless this caller may write; ``what`` says what was refused."""
        if self.role != "editor":
            raise HTTPException(
                403,
                f"{what} needs the editor role; {self.who} is a {self.role}"
                + ("" if self.who.startswith("key:") else " (sign in with an editor key from matih.yaml)"),
            )


@dataclass(frozen=True)
class _Key:
    name: str
    role: Role
    rate_limit: str


class RateLimiter:
    """Requests per caller over a moving window (``limits``), in this process's memory."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, principal: Principal) -> None:
        """Count one request; 429 with ``Retry-After`` when the caller is over its limit."""
        if principal.rate_limit is None:
            return
        item = _parsed(principal.rate_limit)
        if self._limiter.hit(item, principal.who):
            return
        reset = self._limiter.get_window_stats(item, principal.who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            429,
            f"rate limit of {principal.rate_limit} exceeded for {principal.who}; retry after {wait} s, or "
            "raise the key's rate_limit in matih.yaml",
            headers={"Retry-After": str(wait)},
        )


@cache
def _parsed(rate: str) -> limits.RateLimitItem:
    return limits.parse(rate)


def _keys(ws: Workspace) -> list[_Key]:
    """The accepted keys. Read on every request, so a key added to matih.yaml works without a restart."""
    found: list[_Key] = []
    for entry in ws.settings().api_keys:
        name = entry.key[2:-1]  # the spec only accepts "${NAME}" references: keys never sit in the file
        if name not in os.environ:
            raise SecretError(name, file="matih.yaml", path="$.api_keys")
        found.append(_Key(name, entry.role, entry.rate_limit))
    return found


def key_named(ws: Workspace, given: str) -> Principal | None:
    """The caller holding key value ``given``, if it is one of matih.yaml's keys."""
    for key in _keys(ws):
        # constant-time comparison: the answer's timing must not reveal how much of a key matched
        if hmac.compare_digest(os.environ[key.name].encode(), given.encode()):
            return Principal(key.role, f"key:{key.name}", key.rate_limit)
    return None


def _session_secret(ws: Workspace) -> bytes:
    """The secret that signs session cookies, made once per workspace (mode 600): a restart keeps
    sessions; deleting the file signs everyone out."""
    path = ws.state / "api" / "session.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path.read_bytes()


def _sign(ws: Workspace, payload: bytes) -> str:
    digest = hmac.new(_session_secret(ws), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def session_cookie(ws: Workspace, principal: Principal, *, seconds: int = SESSION_SECONDS) -> str:
    """The cookie value that makes a browser ``principal`` for ``seconds``: the key's name and an
    expiry, signed (HMAC-SHA256). The role is not in it: it is read from matih.yaml on each request."""
    body = json.dumps({"key": principal.who.removeprefix("key:"), "exp": int(time.time()) + seconds})
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{_sign(ws, payload.encode())}"


def _from_session(ws: Workspace, cookie: str) -> Principal | None:
    """The caller a session cookie names, while it is unexpired, correctly signed and its key is still
    in matih.yaml; ``None`` otherwise."""
    payload, _, signature = cookie.partition(".")
    if not signature or not hmac.compare_digest(_sign(ws, payload.encode()), signature):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("exp", 0) < time.time():
        return None
    key = next((k for k in _keys(ws) if k.name == body.get("key")), None)
    return Principal(key.role, f"key:{key.name}", key.rate_limit) if key else None


def identify(request: Request) -> Principal:
    """The caller: from its API key or session cookie, or a local reader without one; 401 for anyone
    else."""
    ws: Workspace = request.app.state.workspace
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given:
        if (principal := key_named(ws, given)) is not None:
            return principal
        raise HTTPException(401, "unknown API key; use a key listed in matih.yaml's api_keys")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and (principal := _from_session(ws, cookie)) is not None:
        return principal
    host = request.client.host if request.client else ""
    if host in LOCAL_HOSTS:
        return Principal("reader", f"local:{host}")
    raise HTTPException(401, "an API key is required from other hosts (X-API-Key header)")


def caller_role(request: Request) -> Principal:
    """The caller (see :func:`identify`), counted against its rate limit."""
    principal = identify(request)
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter()
    limiter.check(principal)
    return principal


Caller = Annotated[Principal, Depends(caller_role)]
"""A route parameter typed ``Caller`` receives the caller (and refuses unknown or too frequent ones)."""
