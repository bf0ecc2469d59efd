#!/usr/bin/env bash
# One command from a fresh clone to a running ArtSearch on http://127.0.0.1:8000 :
# packages, weights, embedded PostgreSQL+pgvector and Redis, migrations, the WGA catalogue,
# the bundled demo images, the CAM head, two Celery workers, the index, then the web server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
PY=.venv/bin/python
HOME_DIR=${ARTSEARCH_HOME:-var}
mkdir -p "$HOME_DIR/log"

$PY manage.py migrate --noinput
$PY manage.py import_catalogue demo/catalog.csv.gz
$PY manage.py import_images demo/wga_sample --manifest demo/wga_sample/manifest.csv
if [ ! -f "${ARTSEARCH_MODEL_DIR:-$HOME_DIR/models}/cam_head.pt" ]; then
  $PY manage.py train_cam_head
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
# Feature extraction (queue gpu) and interactive queries (queue query) get their own worker
# processes, so a long indexing run never makes a visitor wait.
.venv/bin/celery -A artsearch worker -Q gpu,default -c 1 -n gpu@%h -l INFO >>"$HOME_DIR/log/worker-gpu.log" 2>&1 &
pids+=($!)
.venv/bin/celery -A artsearch worker -Q query -c 1 -n query@%h -l INFO >>"$HOME_DIR/log/worker-query.log" 2>&1 &
pids+=($!)

# Captions: catalogue sentences and WGA commentary (words are searchable at once; their
# sentence embeddings are computed by the worker).
$PY manage.py build_captions --no-embed --commentary demo/wga_sample/commentary.jsonl
$PY manage.py index --stale --wait
$PY manage.py find_duplicates --new
$PY manage.py build_captions --embed-only   # the rest of the catalogue, on the worker, in the background
MODELS=${ARTSEARCH_MODEL_DIR:-$HOME_DIR/models}
[ -f "$MODELS/captioner.pt" ] || $PY manage.py train_captioner
[ -f "$MODELS/joint.pt" ] || $PY manage.py train_joint
echo "ArtSearch is up on http://127.0.0.1:8000 (workers log to $HOME_DIR/log/)"
.venv/bin/gunicorn artsearch.wsgi -b 127.0.0.1:8000 --workers 2 --threads 4 --timeout 120 --access-logfile - &
pids+=($!)
wait "${pids[-1]}"
