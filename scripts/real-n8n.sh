#!/usr/bin/env bash
# Starts and stops the real n8n instances the end-to-end tests run against, on loopback: `dev`
# and `prod`, shared by every test (each owns only what it creates), and `scratch` and
# `scratch2`, each emptied and restored wholesale by one test only (a snapshot restore or a
# drift revert deletes what the snapshot or Git does not hold, so it must never run where
# other tests' workflows live). Uses the shared tool ../shared/tools/n8n-real/n8n-real (which
# installs n8n on first use: a few minutes and ~2 GB).
#
#   scripts/real-n8n.sh start    start them (or reuse running ones) and print shell lines:
#                                export N8N_DEV_URL=… N8N_DEV_API_KEY=… N8N_DEV_VERSION=…
#                                export N8N_PROD_URL=… N8N_PROD_API_KEY=… N8N_PROD_VERSION=…
#                                export N8N_SCRATCH_URL=… N8N_SCRATCH_API_KEY=… N8N_SCRATCH_VERSION=…
#                                export N8N_SCRATCH2_URL=… (and so on)
#                                so that `eval "$(scripts/real-n8n.sh start)"` sets them
#   scripts/real-n8n.sh stop     stop the instances (the tool's Postgres keeps running)
#   scripts/real-n8n.sh status   the tool's list of running instances
#
# Environment: N8N_DEV_PORT (5678), N8N_PROD_PORT (5679), N8N_SCRATCH_PORT (5680),
# N8N_SCRATCH2_PORT (5681), N8N_REAL_TOOL (path of the tool),
# and the tool's own N8N_REAL_VERSION / N8N_REAL_STATE / N8N_REAL_PG_PORT.
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL=${N8N_REAL_TOOL:-$here/../../shared/tools/n8n-real/n8n-real}
DEV_PORT=${N8N_DEV_PORT:-5678}
PROD_PORT=${N8N_PROD_PORT:-5679}
SCRATCH_PORT=${N8N_SCRATCH_PORT:-5680}
SCRATCH2_PORT=${N8N_SCRATCH2_PORT:-5681}

die() { echo "real-n8n.sh: $*" >&2; exit 1; }

[ -x "$TOOL" ] || die "the n8n-real tool is not at $TOOL (set N8N_REAL_TOOL)"

# The write rules generation (crates/n8n `N8nVersion`) of the release the tool installs:
# 2 from 2.20 on, 1 before.
rules_version() {
  local release=${N8N_REAL_VERSION:-1.123.81} major minor
  major=${release%%.*}
  minor=${release#*.}; minor=${minor%%.*}
  [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || die "N8N_REAL_VERSION=$release is not a release number"
  if (( major > 2 || (major == 2 && minor >= 20) )); then echo 2; else echo 1; fi
}

start_one() {
  local name=$1 port=$2 upper out url key
  upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
  echo "real-n8n.sh: starting n8n '$name' on 127.0.0.1:$port" >&2
  out=$("$TOOL" start "$name" "$port") || die "could not start n8n '$name' (see the tool's output above)"
  url=$(printf '%s\n' "$out" | sed -n "s/^N8N_${upper}_URL=//p" | tail -n 1)
  key=$(printf '%s\n' "$out" | sed -n "s/^N8N_${upper}_API_KEY=//p" | tail -n 1)
  [ -n "$url" ] && [ -n "$key" ] || die "the tool did not print N8N_${upper}_URL and N8N_${upper}_API_KEY"
  printf 'export N8N_%s_URL=%q\n' "$upper" "$url"
  printf 'export N8N_%s_API_KEY=%q\n' "$upper" "$key"
  printf 'export N8N_%s_VERSION=%q\n' "$upper" "$(rules_version)"
}

case ${1:-} in
  start)
    start_one dev "$DEV_PORT"
    start_one prod "$PROD_PORT"
    start_one scratch "$SCRATCH_PORT"
    start_one scratch2 "$SCRATCH2_PORT"
    ;;
  stop)
    "$TOOL" stop dev
    "$TOOL" stop prod
    "$TOOL" stop scratch
    "$TOOL" stop scratch2
    ;;
  status)
    "$TOOL" status
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
