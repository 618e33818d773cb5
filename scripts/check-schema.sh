#!/usr/bin/env bash
# Fails (with the diff) when crates/db/src/schema.rs differs from what the migrations produce.
# Fix a failure with scripts/print-schema.sh. CI runs this.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
expected=$(mktemp)
trap 'rm -f "$expected"' EXIT

"$ROOT/scripts/print-schema.sh" "$expected"
if ! diff -u "$ROOT/crates/db/src/schema.rs" "$expected"; then
  echo "check-schema: crates/db/src/schema.rs is stale; run scripts/print-schema.sh" >&2
  exit 1
fi
echo "check-schema: crates/db/src/schema.rs matches the migrations"
