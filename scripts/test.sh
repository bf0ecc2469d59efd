#!/usr/bin/env bash
# One command from a fresh clone to a full test run: set-up, lint, import contracts, tests.
# Tests use their own embedded PostgreSQL+pgvector and Redis under var/test, so they never
# touch a running dev instance.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export ARTSEARCH_HOME=${ARTSEARCH_TEST_HOME:-var/test}
# One copy of the converted VGG16 weights for the app and the ml tests.
export ARTSEARCH_MODEL_DIR=${ARTSEARCH_MODEL_DIR:-$ARTSEARCH_HOME/models}
source scripts/setup.sh
bash scripts/install_browser.sh   # Debian's Chromium for the Playwright tests (Playwright's own download is offline here)
export ARTSEARCH_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
