#!/usr/bin/env bash
# Domain crates are pure (docs/ARCHITECTURE.md, "Invariants"): none of them may depend, even
# transitively, on a database, HTTP, async-runtime, Git or Stripe crate, nor on an adapter crate.
set -euo pipefail
cd "$(dirname "$0")/.."
domain=(wfops-canonical wfops-diff wfops-promotion wfops-drift wfops-tenancy)
forbidden='^(diesel|diesel-async|diesel_migrations|actix-web|actix-http|tokio|tokio-postgres|reqwest|hyper|git2|async-stripe|stripe-rust|wfops-db|wfops-n8n|wfops-git|wfops-engine)$'
status=0
for c in "${domain[@]}"; do
  bad=$(cargo tree -q -p "$c" -e normal,build --prefix none -f '{p}' | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$bad" ]; then
    echo "purity: $c depends on: $(echo "$bad" | tr '\n' ' ')" >&2
    status=1
  else
    echo "purity: $c ok"
  fi
done
exit $status
