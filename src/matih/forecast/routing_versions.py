"""Versions of the workspace's routing document, so a routing change can be undone with one command.

Every change MATIH makes to ``routing/<name>.json`` (``matih experiment route``, a rollback) is recorded
in ``.matih/routing/versions.jsonl``: the version number, when, why, and the document's whole content
(``null`` when there was no document). The first change also records what was there before it, so the
user's hand-written document is version 1 and can always be restored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matih.exceptions import SpecError
from matih.state import utc_now
from matih.workspace import Workspace

__all__ = [
    "RoutingVersion",
    "current_routing",
    "overrides_for",
    "rollback_routing",
    "routed_categories",
    "routing_history",
    "write_routing",
]

DEFAULT_FILE = "per-category.json"


@dataclass(frozen=True)
class RoutingVersion:
    version: int
    at: str
    reason: str
    file: str
    content: dict[str, Any] | None

    @property
    def overrides(self) -> dict[str, str]:
        """Category -> family, as the document routes them."""
        return routed_categories(self.content)


def routed_categories(content: dict[str, Any] | None) -> dict[str, str]:
    """Category -> family, for the categories a routing document overrides."""
    out: dict[str, str] = {}
    for override in (content or {}).get("overrides", []):
        for category in override.get("categories", []):
            out[category] = override.get("model", "")
    return out


def overrides_for(routes: dict[str, str], default: str) -> list[dict[str, Any]]:
    """A routing document's ``overrides`` for ``routes`` (category -> family), one entry per family in
    name order, leaving out the categories routed to ``default``."""
    by_family: dict[str, list[str]] = {}
    for category, family in sorted(routes.items()):
        if family != default:
            by_family.setdefault(family, []).append(category)
    return [{"categories": cats, "model": f} for f, cats in sorted(by_family.items())]


def _journal(ws: Workspace) -> Path:
    return ws.state / "routing" / "versions.jsonl"


def routing_file(ws: Workspace) -> Path:
    """The workspace's routing document (the one there is, or ``routing/per-category.json``)."""
    found = ws.spec_files("routing")
    if len(found) > 1:
        raise SpecError(
            f"routing/: {len(found)} routing specs ({', '.join(p.name for p in found)}); keep one"
        )
    return found[0] if found else ws.root / "routing" / DEFAULT_FILE


def current_routing(ws: Workspace) -> dict[str, Any] | None:
    path = routing_file(ws)
    return json.loads(path.read_text()) if path.exists() else None


def routing_history(ws: Workspace) -> list[RoutingVersion]:
    path = _journal(ws)
    if not path.exists():
        return []
    return [RoutingVersion(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _append(ws: Workspace, reason: str, file: Path, content: dict[str, Any] | None) -> RoutingVersion:
    history = routing_history(ws)
    entry = RoutingVersion(
        version=(history[-1].version + 1) if history else 1,
        at=utc_now().isoformat(timespec="seconds"),
        reason=reason,
        file=str(file.relative_to(ws.root)),
        content=content,
    )
    path = _journal(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(entry.__dict__) + "\n")
    return entry


def _write(path: Path, content: dict[str, Any] | None) -> None:
    if content is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(content, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader sees the old document or the new one


def write_routing(ws: Workspace, content: dict[str, Any], reason: str) -> RoutingVersion:
    """Validate and write a new routing document, recording it (and, the first time, what it replaces)."""
    from matih.specs import RoutingSpec

    RoutingSpec.model_validate(content)  # refuse before touching the file
    path = routing_file(ws)
    if not routing_history(ws):
        _append(ws, "before MATIH's first change", path, current_routing(ws))
    _write(path, content)
    return _append(ws, reason, path, content)


def rollback_routing(ws: Workspace, to: int | None = None) -> RoutingVersion:
    """Restore version ``to`` (default: the one before the current), recorded as a new version."""
    history = routing_history(ws)
    if len(history) < 2 and to is None:
        raise SpecError("no earlier routing version to roll back to (matih routing history lists them)")
    target = history[-2] if to is None else next((v for v in history if v.version == to), None)
    if target is None:
        raise SpecError(f"no routing version {to}; versions: {[v.version for v in history]}")
    path = ws.root / target.file
    _write(path, target.content)
    return _append(ws, f"rollback to v{target.version}", path, target.content)
