#!/usr/bin/env bash
# The test command: set up, lint, type-check, then the whole suite against real services.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q -rs --durations=10 "$@"
