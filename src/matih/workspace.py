"""A MATIH workspace: a folder of specs with a ``.matih/`` state folder beside them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matih.exceptions import WorkspaceError

if TYPE_CHECKING:
    from matih.specs import WorkspaceSettings

MARKER = "matih.yaml"
STATE_DIR = ".matih"


_SETTINGS: dict[tuple[str, int, int], WorkspaceSettings] = {}
"""Parsed matih.yaml files by (path, modification time, size)."""


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Creating it touches nothing on disk; ``ensure_state`` does."""

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Workspace:
        """The workspace holding ``start`` (default: the current folder), searching upwards."""
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / MARKER).is_file():
                return cls(folder)
        raise WorkspaceError(
            f"no {MARKER} in {here} or any parent folder; run inside a workspace, pass --workspace DIR, "
            "or create one with `matih init DIR`"
        )

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> Workspace:
        """The workspace at ``root``, created (with a minimal matih.yaml) when missing."""
        path = Path(root).resolve()
        path.mkdir(parents=True, exist_ok=True)
        marker = path / MARKER
        if not marker.exists():
            marker.write_text(f"name: {path.name}\n")
        return cls(path)

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def warehouse_dir(self) -> Path:
        return self.state / "warehouse"

    @property
    def sandbox_dir(self) -> Path:
        return self.state / "sandbox"

    @property
    def mlflow_dir(self) -> Path:
        return self.state / "mlflow"

    @property
    def reports_dir(self) -> Path:
        return self.state / "reports"

    def ensure_state(self) -> Path:
        for folder in (self.state, self.warehouse_dir, self.sandbox_dir, self.mlflow_dir, self.reports_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self.state

    def query_path(self, ref: str) -> Path:
        """``analytics.queries.demand_features`` (a pipeline's ``query_ref``) or a bare name -> its file."""
        name = ref.rsplit(".", 1)[-1]
        path = self.root / "queries" / f"{name}.sql"
        if not path.is_file():
            raise WorkspaceError(f"query {ref!r} not found: expected {path.relative_to(self.root)}")
        return path

    def settings(self) -> WorkspaceSettings:
        """``matih.yaml``, validated (an invalid file raises SpecError naming the field). Parsed again
        only when the file changed (a server asks on every request); each caller gets its own copy."""
        from matih.specs import WorkspaceSettings, load_spec

        path = self.root / MARKER
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        spec = _SETTINGS.get(key)
        if spec is None:
            loaded = load_spec(path)
            assert isinstance(loaded, WorkspaceSettings)
            spec = _SETTINGS[key] = loaded
        return spec.model_copy(deep=True)

    def spec_files(self, kind: str) -> list[Path]:
        return sorted((self.root / kind).glob("*.json"))
