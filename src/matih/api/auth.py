"""Who is calling the HTTP API, and with which role.

Access: a key from ``matih.yaml``'s ``api_keys`` (``X-API-Key`` header or ``Authorization: Bearer``)
grants its role; no key grants read access to local clients only (127.0.0.1). Only ``editor`` keys may
run statements that write (the rule is applied by :mod:`matih.api.query`). Every router depends on
:data:`Caller`, so no route answers an unknown caller.
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request

from matih.exceptions import SecretError
from matih.workspace import Workspace

__all__ = ["LOCAL_HOSTS", "Caller", "Role", "caller_role"]

# "testclient" is the host Starlette's TestClient reports: in-process calls are local too
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "testclient"}
Role = Literal["reader", "editor"]


def _keys(ws: Workspace) -> dict[str, Role]:
    """Key value -> role. Read on every request, so a key added to matih.yaml works without a restart."""
    found: dict[str, Role] = {}
    for entry in ws.settings().api_keys:
        name = entry.key[2:-1]  # the spec only accepts "${NAME}" references: keys never sit in the file
        if name not in os.environ:
            raise SecretError(name, file="matih.yaml", path="$.api_keys")
        found[os.environ[name]] = entry.role
    return found


def caller_role(request: Request) -> Role:
    """The caller's role: from its API key, or ``reader`` for a local caller without one."""
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if given:
        for key, granted in _keys(request.app.state.workspace).items():
            # constant-time comparison: the answer's timing must not reveal how much of a key matched
            if hmac.compare_digest(key.encode(), given.encode()):
                return granted
        raise HTTPException(401, "unknown API key; use a key listed in matih.yaml's api_keys")
    host = request.client.host if request.client else ""
    if host in LOCAL_HOSTS:
        return "reader"
    raise HTTPException(401, "an API key is required from other hosts (X-API-Key header)")


Caller = Annotated[Role, Depends(caller_role)]
"""A route parameter typed ``Caller`` receives the caller's role (and refuses unknown callers)."""
