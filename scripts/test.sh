#!/usr/bin/env bash
# Run every test (after scripts/setup.sh), then the linters. What `make test` and CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export AO_TEST_OPENCODE="$(bash scripts/install-opencode.sh)"
"$VENV/bin/python" -m pytest -ra "$@"
"$VENV/bin/ruff" check ao_server tests benchmarks editors
"$VENV/bin/mypy"
