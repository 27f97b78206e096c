"""Compiled trees: a LightGBM booster turned into native code by lleaves (LLVM, through llvmlite), so a
seed-scale batch (634K rows x 500 trees) is scored several times faster than by LightGBM's interpreter.

Compiled libraries live in a content-addressed cache: the key is the digest of the booster's model
file (or its text) with lleaves' and llvmlite's versions and the CPU it was compiled for, so a version
is compiled once per machine, a retrained model never meets a stale library, and the cache works
whatever artifact store holds the models (native code belongs to its CPU, so it is kept beside the
workspace, not in MLflow).

Compilation costs seconds per booster (about 6 s for 500 trees of 31 leaves), paid once per version; a
prediction too small to earn it back stays on LightGBM (``compile_min_rows``). Whenever compiling is
impossible (lleaves missing, an unwritable cache, an LLVM error) prediction falls back to LightGBM and
says why once in the log: the numbers are the same either way (within 1e-9 relative, tested).
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from matih.state import write_bytes_atomic

if TYPE_CHECKING:  # the compiling child imports this module: it must not wait for LightGBM and sklearn
    import lightgbm as lgb

    from matih.workspace import Workspace

__all__ = ["CompiledTrees", "Policy", "compile_library", "predict_rows", "tree_key"]

log = logging.getLogger(__name__)
Policy = Literal["auto", "always", "never"]
UNUSED_DAYS = 30.0


@cache
def _toolchain() -> str | None:
    """lleaves + llvmlite versions and the host CPU, or None when lleaves cannot run here."""
    try:
        from importlib.metadata import version

        import lleaves  # noqa: F401
        import llvmlite.binding as llvm

        return f"lleaves-{version('lleaves')}-llvmlite-{version('llvmlite')}-{llvm.get_host_cpu_name()}"
    except Exception as err:
        log.warning("compiled trees unavailable (%s); LightGBM predicts", err)
        return None


def tree_key(identity: str, toolchain: str) -> str:
    """The cache name of a booster: its model text, or the digest of the file it was loaded from."""
    return hashlib.sha256(f"{toolchain}\n{identity}".encode()).hexdigest()[:32]


def file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def compile_library(source: Path, library: Path) -> Path:
    """Compile one booster's model text file into ``library`` (written beside, then renamed into place,
    so a reader never loads half a file)."""
    import lleaves

    fd, tmp = tempfile.mkstemp(dir=library.parent, suffix=".so.part")
    os.close(fd)
    os.unlink(tmp)  # lleaves writes its cache only where no file exists
    try:
        # finline=False: inlining quadruples the compile time (27 s against 6 s for 500 trees) for a
        # prediction 1.6x faster; without it a daily batch pays the compile back soonest
        lleaves.Model(model_file=str(source)).compile(cache=tmp, finline=False)
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        os.replace(tmp, library)
        # the digest is the commit mark: a library without its digest, or another one, is never loaded
        # (LLVM aborts the whole process on a damaged object file rather than raising)
        write_bytes_atomic(library.with_suffix(".sha256"), digest.encode())
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return library


def _load(library: Path) -> Any:
    import lleaves

    model = lleaves.Model(model_file=str(library.with_suffix(".txt")))
    model.compile(cache=str(library))  # an existing cache file is loaded, not compiled
    return model


@dataclass
class CompiledTrees:
    """Scores boosters through their compiled form when the policy and the row count say so.

    ``policy``: ``auto`` compiles a model's boosters the first time one prediction scores ``min_rows``
    rows or more (a daily batch of a large catalogue, not one serving request); ``always`` at any size;
    ``never`` keeps LightGBM's own predict."""

    cache_dir: Path
    policy: Policy = "auto"
    min_rows: int = 100_000
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)
    _refused: set[str] = field(default_factory=set, repr=False)
    _verified: set[str] = field(default_factory=set, repr=False)
    compiled: list[str] = field(default_factory=list)
    """Keys compiled by this object (what a run reports)."""

    @classmethod
    def of_workspace(cls, workspace: Workspace) -> CompiledTrees:
        """The workspace's cache (``.matih/compiled``) and policy (``inference`` in matih.yaml)."""
        settings = workspace.settings().inference
        return cls(workspace.state / "compiled", settings.compiled_trees, settings.compile_min_rows)

    def wanted(self, rows: int) -> bool:
        return self.policy == "always" or (self.policy == "auto" and rows >= self.min_rows)

    def prepare(
        self, boosters: Mapping[str, lgb.Booster], rows: int, digests: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The compiled predictor of each booster of a prediction of ``rows`` rows, compiling missing ones
        in parallel. A booster that cannot be compiled is left out (LightGBM answers for it).
        ``digests`` (of the model files a booster was loaded from) spare writing each booster's text
        again just to find its library (a second per booster of 500 trees)."""
        if not boosters or not self.wanted(rows):
            return {}
        toolchain = _toolchain()
        if toolchain is None:
            return {}
        digests = digests or {}
        keys = {n: tree_key(digests.get(n) or b.model_to_string(), toolchain) for n, b in boosters.items()}
        missing = {
            n: b
            for n, b in boosters.items()
            if keys[n] not in self._loaded and keys[n] not in self._refused and not self._intact(keys[n])
        }
        if missing:
            self._compile({keys[n]: b.model_to_string() for n, b in missing.items()})
            self.prune()
        out = {}
        for name, key in keys.items():
            predictor = self._predictor(key)
            if predictor is not None:
                out[name] = predictor
        return out

    def prune(self, unused_days: float = UNUSED_DAYS) -> list[str]:
        """Forget libraries no prediction has used for ``unused_days`` (retired versions); one still in
        use is only compiled again if it was pruned by mistake."""
        cutoff = time.time() - unused_days * 86400
        dropped = []
        for key in {path.name.split(".", 1)[0] for path in self.cache_dir.glob("*.*")}:
            mark = self.cache_dir / f"{key}.sha256"
            try:
                # a library without its mark (a compile that died) ages from its own write
                used = (mark if mark.exists() else self._library(key).with_suffix(".txt")).stat().st_mtime
            except OSError:
                used = 0.0
            if used >= cutoff:
                continue
            for suffix in (".so", ".txt", ".sha256"):
                self._library(key).with_suffix(suffix).unlink(missing_ok=True)
            self._verified.discard(key)
            dropped.append(key)
        return sorted(dropped)

    def _library(self, key: str) -> Path:
        return self.cache_dir / f"{key}.so"

    def _intact(self, key: str) -> bool:
        """The library exists and is byte for byte what its compile wrote (a damaged one is rebuilt);
        checked once per key and object."""
        if key in self._verified:
            return True
        library = self._library(key)
        try:
            expected = library.with_suffix(".sha256").read_text().strip()
            found = hashlib.sha256(library.read_bytes()).hexdigest()
        except OSError:
            return False
        if found != expected:
            log.warning("compiled trees %s do not match their digest; compiling them again", key)
            return False
        self._verified.add(key)
        return True

    def _compile(self, texts: dict[str, str]) -> None:
        """Compile in child processes, ``workers`` at a time: LLVM holds the GIL for much of the work, and
        a child (``python -m matih.forecast.compiled``) imports nothing of the caller's script."""
        failures: dict[str, str] = {}
        pending = []
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            for key, text in texts.items():
                source = self._library(key).with_suffix(".txt")
                if not source.exists():
                    write_bytes_atomic(source, text.encode())
                pending.append(key)
        except OSError as err:
            failures = {k: str(err) for k in texts}
            pending = []
        running: dict[str, subprocess.Popen[bytes]] = {}
        while pending or running:
            while pending and len(running) < self.workers:
                key = pending.pop(0)
                library = self._library(key)
                running[key] = subprocess.Popen(
                    [sys.executable, "-m", __name__, str(library.with_suffix(".txt")), str(library)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            key = next(iter(running))
            _, stderr = running.pop(key).communicate()
            if not self._intact(key):
                lines = stderr.decode(errors="replace").strip().splitlines()
                failures[key] = lines[-1] if lines else "the compiler stopped without a library"
        for key in texts:
            if key in failures:
                log.warning("compiling trees %s failed (%s); LightGBM predicts for them", key, failures[key])
                self._refused.add(key)
            else:
                self.compiled.append(key)

    def _predictor(self, key: str) -> Any | None:
        if key in self._loaded:
            return self._loaded[key]
        if key in self._refused or not self._intact(key):
            return None
        try:
            self._loaded[key] = _load(self._library(key))
            os.utime(self._library(key).with_suffix(".sha256"))  # last used: what prune() reads
        except Exception as err:
            log.warning("loading compiled trees %s failed (%s); LightGBM predicts for them", key, err)
            self._refused.add(key)
            return None
        return self._loaded[key]


def predict_rows(predictor: Any, X: np.ndarray) -> np.ndarray:
    """A compiled predictor's output for float rows (lleaves wants C-ordered float64)."""
    rows = np.ascontiguousarray(X, dtype=np.float64)
    return np.asarray(predictor.predict(rows, n_jobs=os.cpu_count() or 1))


if __name__ == "__main__":  # python -m matih.forecast.compiled MODEL.txt LIBRARY.so
    compile_library(Path(sys.argv[1]), Path(sys.argv[2]))
