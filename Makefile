# Two commands for a newcomer on a fresh machine:
#   make demo   set up, start the fake model and spawn a real OpenCode agent; watch it run and exit
#   make test   set up and run every test (what CI runs)
PYTHON ?= python3
VENV   ?= .venv

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

lint: setup
	$(VENV)/bin/ruff check ao_server tests benchmarks editors
	$(VENV)/bin/ruff format --check ao_server
	$(VENV)/bin/mypy

bench: setup
	@export AO_OPENCODE_BIN="$$(bash scripts/install-opencode.sh)"; \
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache test-artifacts
