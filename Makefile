# Two commands for a fresh machine: `make demo` (set up, run the main job) and `make test`.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.matih-installed
WORKSPACE ?= examples/novamart
PRODUCTS ?= 2000

.PHONY: setup demo test test-fast test-slow bench bench-ingest bench-discovery bench-orchestration bench-quality bench-real-data bench-shock bench-monitoring bench-simulation bench-experiment bench-scaling bench-join-side drills lint clean

$(STAMP): pyproject.toml scripts/setup.sh web/package-lock.json
	bash scripts/setup.sh
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/matih demo --workspace $(WORKSPACE) --products $(PRODUCTS)

test: $(STAMP)
	$(PY) -m pytest -q

# the tests that start no server, cluster or child process and train no model: under a minute
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not server and not cluster and not training and not spark" --timeout 60

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/seed_scale.py

# after `make bench` (it reads the seed-scale warehouse that run leaves in /tmp/matih-bench)
bench-join-side: $(STAMP)
	$(PY) benchmarks/join_build_side.py

bench-ingest: $(STAMP)
	$(PY) benchmarks/ingest.py

bench-discovery: $(STAMP)
	$(PY) benchmarks/discovery.py

bench-orchestration: $(STAMP)
	$(PY) benchmarks/orchestration.py

bench-quality: $(STAMP)
	$(PY) benchmarks/quality.py

bench-real-data: $(STAMP)
	$(PY) benchmarks/real_data.py

bench-shock: $(STAMP)
	$(PY) benchmarks/shock_recovery.py

bench-monitoring: $(STAMP)
	$(PY) benchmarks/monitoring.py

bench-simulation: $(STAMP)
	$(PY) benchmarks/simulation.py

bench-experiment: $(STAMP)
	$(PY) benchmarks/experiment.py --real uci,oj

bench-scaling: $(STAMP)
	$(PY) benchmarks/scaling.py

drills: $(STAMP)
	$(PY) benchmarks/drills.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src/matih
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(WORKSPACE)/.matih
