#!/usr/bin/env bash
# Regenerates crates/db/src/schema.rs from the migrations: creates a scratch database on the
# local cluster (or next to DATABASE_URL's database), runs every migration with diesel_cli,
# prints the schema with diesel.toml's settings, and drops the scratch database.
#
#   scripts/print-schema.sh [OUTPUT]     OUTPUT defaults to crates/db/src/schema.rs
#
# Needs diesel_cli 2.2 with Postgres support:
#   cargo install diesel_cli --version '~2.2' --no-default-features --features postgres --locked
# Without DATABASE_URL it uses the embedded cluster in .wfops (creating it through
# `cargo run -p wfops-db --example local_pg` the first time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUTPUT=${1:-$ROOT/crates/db/src/schema.rs}
DIESEL=${DIESEL:-$(command -v diesel || echo "$HOME/.cargo/bin/diesel")}
WFOPS_DIR=$ROOT/.wfops

die() { echo "print-schema: $*" >&2; exit 1; }

[ -x "$DIESEL" ] || die "diesel_cli not found; install it with:
  cargo install diesel_cli --version '~2.2' --no-default-features --features postgres --locked"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# Starts the embedded cluster when it exists but is stopped (without compiling anything: the
# db crate may not compile while schema.rs is stale, which is why we are here).
start_embedded() {
  local port bin
  port=$(cat "$WFOPS_DIR/pg.port")
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
  bin=$(pg_bin)
  [ -n "$bin" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  local pid_file=$WFOPS_DIR/pg/postmaster.pid
  if [ -f "$pid_file" ]; then
    local pid
    pid=$(head -n 1 "$pid_file")
    if ! grep -qx 'postgres\|postmaster' "/proc/$pid/comm" 2>/dev/null; then rm -f "$pid_file"; fi
  fi
  local cmd="'$bin/pg_ctl' start -D '$WFOPS_DIR/pg' -l '$WFOPS_DIR/pg/server.log' -w -t 60"
  if [ "$(id -u)" = 0 ]; then
    (cd / && su postgres -s /bin/sh -c "$cmd") >/dev/null
  else
    (cd / && sh -c "$cmd") >/dev/null
  fi
}

if [ -n "${DATABASE_URL:-}" ]; then
  base=${DATABASE_URL%%\?*}
  query=${DATABASE_URL#"$base"}
  server=${base%/*}
else
  if [ ! -f "$WFOPS_DIR/pg/PG_VERSION" ]; then
    (cd "$ROOT" && cargo run -q -p wfops-db --example local_pg -- "$WFOPS_DIR" >/dev/null) \
      || die "could not create the embedded cluster (set DATABASE_URL to use another server)"
  fi
  start_embedded
  server="postgres://wfops:$(cat "$WFOPS_DIR/pg.password")@127.0.0.1:$(cat "$WFOPS_DIR/pg.port")"
  query=""
fi

scratch="wfops_schema_$$_$RANDOM"
admin_url="$server/postgres$query"
scratch_url="$server/$scratch$query"

psql_admin() { psql "$admin_url" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
cleanup() { psql_admin "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" || true; rm -f "$empty_config"; }

empty_config=$(mktemp)
psql_admin "CREATE DATABASE \"$scratch\""
trap cleanup EXIT

# an empty config for `migration run`: with diesel.toml it would rewrite schema.rs itself
"$DIESEL" migration run --database-url "$scratch_url" --migration-dir "$ROOT/migrations" \
  --config-file "$empty_config" >/dev/null
tmp_out=$(mktemp)
(cd "$ROOT" && "$DIESEL" print-schema --database-url "$scratch_url" --config-file "$ROOT/diesel.toml") >"$tmp_out"
mv "$tmp_out" "$OUTPUT"
