"""Who is calling the HTTP API, with which role, and how often they may.

Access: a key from ``matih.yaml``'s ``api_keys`` (``X-API-Key`` header or ``Authorization: Bearer``)
grants its role; no key grants read access to local clients only (127.0.0.1). Only ``editor`` keys may
run statements that write (the rule is applied by :mod:`matih.api.query`). Every router depends on
:data:`Caller`, so no route answers an unknown caller.

Each key has a request rate limit (its ``rate_limit``, in the ``limits`` library's notation such as
``"100/second"``); a caller over it gets 429 with ``Retry-After``. Local callers without a key are not
limited: they are on the machine already. A caller is known by its key's *name* (the ``${NAME}`` the
spec references), so the audit log and errors never hold a key's value.
"""

from __future__ import annotations

import hmac
import math
import os
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

__all__ = ["LOCAL_HOSTS", "Caller", "Principal", "RateLimiter", "Role", "caller_role", "identify"]

# "testclient" is the host Starlette's TestClient reports: in-process calls are local too
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "testclient"}
Role = Literal["reader", "editor"]


@dataclass(frozen=True)
class Principal:
    """A caller: its role, and who it is (``key:NAME`` for a key, ``local:HOST`` without one)."""

    role: Role
    who: str
    rate_limit: str | None = None


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


def identify(request: Request) -> Principal:
    """The caller: from its API key, or a local reader without one; 401 for anyone else."""
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given:
        for key in _keys(request.app.state.workspace):
            # constant-time comparison: the answer's timing must not reveal how much of a key matched
            if hmac.compare_digest(os.environ[key.name].encode(), given.encode()):
                return Principal(key.role, f"key:{key.name}", key.rate_limit)
        raise HTTPException(401, "unknown API key; use a key listed in matih.yaml's api_keys")
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
