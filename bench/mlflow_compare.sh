#!/usr/bin/env bash
# Run ../shared/bench/mlflow_registry_bench.py against Modelgate (gunicorn) and then against
# `mlflow server` (pip package mlflow), both on PostgreSQL on this machine, one after the
# other, with --connection close. Results: $OUT/modelgate.json and $OUT/mlflow.json.
#
#   MLFLOW_BIN=/path/to/venv/bin/mlflow  (a venv with mlflow and psycopg2-binary)
#   PG=postgres://postgres@127.0.0.1:5432  MG_DB=modelgate_mlflow  REF_DB=modelgate_mlflow_ref
#   bench/mlflow_compare.sh [extra bench args, e.g. --models 100 --versions 100]
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${PG:-postgres://postgres@127.0.0.1:5432}
MG_DB=${MG_DB:-modelgate_mlflow}
REF_DB=${REF_DB:-modelgate_mlflow_ref}
WORKERS=${WORKERS:-4}
OUT=${OUT:-/tmp/mlflow-compare}
BENCH=${BENCH:-../shared/bench/mlflow_registry_bench.py}
MLFLOW_BIN=${MLFLOW_BIN:-$PWD/.venv/bin/mlflow}
PY=.venv/bin/python
mkdir -p "$OUT"
psql_admin() { psql "$PG/postgres" -qc "$1"; }

wait_for() {
  for _ in $(seq 1 240); do
    curl -sf -o /dev/null -H "Authorization: Bearer ${2:-}" "$1/api/2.0/mlflow/registered-models/search?max_results=1" && return 0
    sleep 0.5
  done
  echo "server at $1 did not answer" >&2; return 1
}

# --- Modelgate under gunicorn ---------------------------------------------------------------
if [ -z "${SKIP_MODELGATE:-}" ]; then
psql_admin "DROP DATABASE IF EXISTS $MG_DB" && psql_admin "CREATE DATABASE $MG_DB"
export DATABASE_URL="$PG/$MG_DB" DJANGO_SETTINGS_MODULE=config.settings MODELGATE_MODE=development \
  DEBUG=false ALLOWED_HOSTS=127.0.0.1 LOG_LEVEL=WARNING MODELGATE_VAR_DIR=${MODELGATE_VAR_DIR:-$OUT/var}
unset REDIS_URL
$PY manage.py migrate -v0
TOKEN=$($PY bench/mlflow_setup.py)
# Each server in its own process group, stopped as a whole (mlflow server starts uvicorn
# and job consumers that would outlive its own pid and load the machine).
setsid .venv/bin/gunicorn config.wsgi -w "$WORKERS" -b 127.0.0.1:5056 --timeout 300 \
  >"$OUT/gunicorn.log" 2>&1 &
MG_PID=$!
trap 'kill -- -$MG_PID 2>/dev/null || true' EXIT
wait_for http://127.0.0.1:5056 "$TOKEN"
$PY "$BENCH" --base-url http://127.0.0.1:5056 --token "$TOKEN" --connection close \
  --server-pid $MG_PID --label "modelgate gunicorn -w $WORKERS, PostgreSQL" \
  --out "$OUT/modelgate.json" "$@" | tee "$OUT/modelgate.txt"
kill -- -$MG_PID; wait $MG_PID 2>/dev/null || true
fi

# --- MLflow's own server --------------------------------------------------------------------
[ -n "${SKIP_MLFLOW:-}" ] && exit 0
psql_admin "DROP DATABASE IF EXISTS $REF_DB" && psql_admin "CREATE DATABASE $REF_DB"
rm -rf "$OUT/mlflow-artifacts"
# psycopg2: MLflow's stage transitions fail on PostgreSQL with the psycopg 3 dialect.
(cd "$OUT" && exec setsid "$MLFLOW_BIN" server --backend-store-uri "${PG/postgres:/postgresql+psycopg2:}/$REF_DB" \
  --artifacts-destination "$OUT/mlflow-artifacts" --host 127.0.0.1 --port 5057 \
  --workers "$WORKERS" >"$OUT/mlflow.log" 2>&1) &
REF_PID=$!
trap 'kill -- -$REF_PID 2>/dev/null || true' EXIT
wait_for http://127.0.0.1:5057
$PY "$BENCH" --base-url http://127.0.0.1:5057 --connection close --server-pid $REF_PID \
  --label "mlflow server --workers $WORKERS, PostgreSQL" --out "$OUT/mlflow.json" "$@" \
  | tee "$OUT/mlflow.txt"
kill -- -$REF_PID; wait $REF_PID 2>/dev/null || true
