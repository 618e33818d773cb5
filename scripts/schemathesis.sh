#!/usr/bin/env bash
# Checks that the OpenAPI document is true: schemathesis generates requests from it (valid and
# invalid ones) against a running API and fails on any answer the document does not describe.
#
# Starts the API (the debug build of the test step, or WFOPS_API_BIN) on an embedded Postgres of
# its own (under target/schemathesis/), bootstraps a tenant and an admin key, seeds environments
# so that ids exist, and runs schemathesis with every check, a fixed seed and a bounded number of
# examples per operation (a few minutes on 2 cores). Rate limits are off for the run.
#
#   scripts/schemathesis.sh            # exit status 1 on any failure
#   ST_MAX_EXAMPLES=100 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-30}
SEED=${ST_SEED:-1}
WORK=$ROOT/target/schemathesis
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
API=${WFOPS_API_BIN:-$TARGET_DIR/debug/wfops-api}
PORT=${ST_PORT:-4399}
BASE=http://127.0.0.1:$PORT/api/v1

[ -x "$API" ] || cargo build -p wfops-api --bin wfops-api
mkdir -p "$WORK"

# schemathesis in a virtualenv of its own, pinned
if [ ! -x "$WORK/venv/bin/st" ] || ! "$WORK/venv/bin/st" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  rm -rf "$WORK/venv"
  if ! python3 -m venv "$WORK/venv" >/dev/null 2>&1; then
    # Debian and Ubuntu ship venv separately
    rm -rf "$WORK/venv"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$WORK/venv"
  fi
  "$WORK/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# a fresh installation for every run: the embedded cluster, secrets and data of this run only
PG_CTL=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
stop_pg() {
  if [ -f "$WORK/home/pg/postmaster.pid" ] && [ -n "$PG_CTL" ]; then
    # initdb ran as the invoking user (or a dedicated one when root); pg_ctl needs the same
    local owner; owner=$(stat -c %U "$WORK/home/pg")
    if [ "$owner" = "$(id -un)" ]; then "$PG_CTL" stop -D "$WORK/home/pg" -m fast -w >/dev/null 2>&1 || true
    else su "$owner" -s /bin/sh -c "'$PG_CTL' stop -D '$WORK/home/pg' -m fast -w" >/dev/null 2>&1 || true; fi
  fi
}
stop_pg
rm -rf "$WORK/home"
export WFOPS_HOME=$WORK/home WFOPS_EMBEDDED_PG=1
export API_BIND=127.0.0.1:$PORT RATE_LIMIT_PER_MINUTE=0 LOG_FORMAT=json RUST_LOG=warn
unset DATABASE_URL

trap stop_pg EXIT
"$API" migrate >/dev/null
KEY=$("$API" bootstrap --tenant Schemathesis --email st@example.com | tail -n 1)
case $KEY in wfo_*) ;; *) echo "schemathesis: bootstrap did not print an API key" >&2; exit 1 ;; esac

"$API" serve >"$WORK/api.log" 2>&1 &
api_pid=$!
trap 'kill $api_pid 2>/dev/null; wait $api_pid 2>/dev/null || true; stop_pg' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$api_pid" 2>/dev/null || { cat "$WORK/api.log" >&2; echo "schemathesis: the API did not start" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$BASE/health" >/dev/null

# environments so that list, filter and job routes find ids (n8n and Git are unreachable on
# purpose: the contract is what is tested, not the integrations)
for env in '{"name":"dev","url":"http://127.0.0.1:9","api_key":"k","git_repo_url":"/nonexistent/repo.git","git_folder":"dev"}' \
           '{"name":"prod","url":"https://n8n.invalid","environment_class":"production"}'; do
  curl -fsS -o /dev/null -X POST "$BASE/environments" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$env"
done

# One worker: with two, Python 3.11's ast module (hypothesis describes its lambdas with it) can
# fail with "AST constructor recursion depth mismatch" when two threads parse at once.
ST=("$WORK/venv/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json"
    --checks all -H "Authorization: Bearer $KEY" --max-examples "$MAX_EXAMPLES" --seed "$SEED"
    --workers 1 --no-color)
status=0
cd "$WORK"  # schemathesis keeps its example database in the working directory
# Every operation but revoking API keys: the stateful phase would revoke the key of the run.
"${ST[@]}" --exclude-path '/api/v1/api-keys/{id}' || status=1
# Revoking, without the stateful phase (random ids only).
"${ST[@]}" --include-path '/api/v1/api-keys/{id}' --phases examples,coverage,fuzzing || status=1

if [ "$status" -ne 0 ]; then
  echo "schemathesis: the API does not match its OpenAPI document (see above)" >&2
  exit 1
fi
echo "schemathesis: no failures"
