#!/usr/bin/env bash
# Fails when a committed file holds something that looks like a live credential. Test code uses
# obviously fake values that these patterns do not match.
set -euo pipefail
cd "$(dirname "$0")/.."
patterns='-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|sk_live_[0-9A-Za-z]{16,}|rk_live_[0-9A-Za-z]{16,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,}|xox[baprs]-[0-9A-Za-z-]{10,}|n8n_api_[0-9a-f]{32,}'
hits=$(git ls-files -z | xargs -0 grep -nIE -- "$patterns" 2>/dev/null | grep -v '^scripts/scan-secrets.sh:' || true)
if [ -n "$hits" ]; then
  echo "scan-secrets: possible secrets committed:" >&2
  echo "$hits" | sed -E 's/(.{0,120}).*/\1/' >&2
  exit 1
fi
echo "scan-secrets: ok"
