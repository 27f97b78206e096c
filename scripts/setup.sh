#!/usr/bin/env bash
# Idempotent set-up: system packages (when missing), a Python 3.11 virtualenv in .venv, and MATIH with
# every extra the tests and benchmarks use. Re-running is cheap: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git >/dev/null || need_apt+=(git)
# the sandbox runs a real PostgreSQL server: initdb and pg_ctl on PATH or from Debian's package
if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  need_apt+=(postgresql)
fi
# the workbench: its browser libraries come from npm; its tests drive Debian's chromium
command -v npm >/dev/null || need_apt+=(npm)
command -v chromium >/dev/null || need_apt+=(chromium)
# the Spark warehouse (and its tests) run pyspark on Java 17+
if ! command -v java >/dev/null && [ -z "${JAVA_HOME:-}" ]; then
  need_apt+=(openjdk-17-jre-headless)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install: ${need_apt[*]}" >&2; exit 1
  fi
fi

# PostgreSQL refuses to run as root: the sandbox runs its server as the `postgres` account
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then
  echo "setup: MATIH needs Python 3.11 (found: $(python3 --version 2>&1)); install python3.11 and re-run" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,bench,ray,experiment,spark]'
# the workbench's third-party browser code (uPlot), pinned by web/package-lock.json, never committed
if [ ! -d web/node_modules/uplot ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && npm ci --no-audit --no-fund --silent)
fi
echo "setup: .venv ready ($(.venv/bin/python --version)); workbench assets in web/node_modules"
