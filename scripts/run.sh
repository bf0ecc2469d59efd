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

# supervisord (scripts/supervisord.conf) runs the workers, celery beat and the web server, and
# restarts any of them that dies. Feature extraction (queues gpu, then bulk) and interactive
# queries (queue query) get their own worker processes, so a long indexing run never makes a
# visitor wait.
export ARTSEARCH_ROOT="$PWD" ARTSEARCH_HOME="$(cd "$HOME_DIR" && pwd)"
SUPERVISORCTL=(.venv/bin/supervisorctl -c scripts/supervisord.conf)
.venv/bin/supervisord -c scripts/supervisord.conf &
supervisor_pid=$!
cleanup() { kill "$supervisor_pid" 2>/dev/null || true; wait "$supervisor_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 100); do "${SUPERVISORCTL[@]}" pid >/dev/null 2>&1 && break; sleep 0.1; done
"${SUPERVISORCTL[@]}" start worker-gpu worker-query beat

# Captions: catalogue sentences and WGA commentary (words are searchable at once; their
# sentence embeddings are computed by the worker).
$PY manage.py build_captions --no-embed --commentary demo/wga_sample/commentary.jsonl
$PY manage.py index --stale --wait
$PY manage.py find_duplicates --new
$PY manage.py build_captions --embed-only   # the rest of the catalogue, on the worker, in the background
"${SUPERVISORCTL[@]}" start web
echo "ArtSearch is up on http://127.0.0.1:8000 (logs in $HOME_DIR/log/; ${SUPERVISORCTL[*]} status)"
# What follows improves answers but is not needed to serve: the web server is already up, and
# each model file is picked up by the running processes when it appears (recommender.modelfiles).
$PY manage.py build_subjects   # Iconclass story subjects for text search (only new or changed ones)
$PY manage.py build_title_vectors   # multilingual title vectors (only new or changed titles)
MODELS=${ARTSEARCH_MODEL_DIR:-$HOME_DIR/models}
$PY manage.py train_turns   # turn maps for the rotation retry (skipped when they fit the current CNN)
[ -f "$MODELS/captioner.pt" ] || $PY manage.py train_captioner
[ -f "$MODELS/joint.pt" ] || $PY manage.py train_joint
[ -f "$MODELS/similarity.pt" ] || $PY manage.py train_similarity
echo "ArtSearch: subjects and trained heads ready"
wait "$supervisor_pid"
