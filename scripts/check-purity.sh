#!/usr/bin/env bash
# The shape invariants of docs/ARCHITECTURE.md ("Invariants"), proved from the dependency graph
# and the sources rather than trusted to review:
#   1. domain crates are pure: none of them depends, even transitively, on a database, HTTP,
#      async-runtime, Git or Stripe crate, nor on an adapter crate;
#   2. only crates/db and crates/test-support name diesel (Cargo.toml and `diesel::` paths);
#   3. no app depends on the other app (the scenario that needs both is its own crate, tests/e2e);
#   4. no Rust code runs a package manager: installing PostgreSQL is ./dev's job, never a binary's.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
fail() { echo "purity: $*" >&2; status=1; }

# --- 1. domain crates do no I/O
domain=(wfops-canonical wfops-diff wfops-promotion wfops-drift wfops-tenancy wfops-notify)
forbidden='^(diesel|diesel-async|diesel_migrations|actix-web|actix-http|tokio|tokio-postgres|reqwest|hyper|git2|async-stripe|stripe-rust|wfops-db|wfops-n8n|wfops-git|wfops-engine)$'
for c in "${domain[@]}"; do
  bad=$(cargo tree -q -p "$c" -e normal,build --prefix none -f '{p}' | awk '{print $1}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$bad" ]; then
    fail "$c depends on: $(echo "$bad" | tr '\n' ' ')"
  else
    echo "purity: $c ok"
  fi
done

# --- 2. only crates/db and crates/test-support name diesel
diesel_owners='^(wfops-db|wfops-test-support)$'
before=$status
for pkg in diesel diesel-async diesel_migrations; do
  # the workspace crates that depend on it directly, in any kind of dependency
  direct=$(cargo tree -q --workspace -i "$pkg" -e normal,build,dev --depth 1 --prefix none -f '{p}' \
    | awk '{print $1}' | grep -E '^wfops-' | sort -u || true)
  bad=$(echo "$direct" | grep -vE "$diesel_owners" | grep . || true)
  if [ -n "$bad" ]; then
    fail "$pkg is a direct dependency of $(echo "$bad" | tr '\n' ' ')(only wfops-db and wfops-test-support may name it)"
  fi
done
manifests=$(git ls-files '*Cargo.toml' | grep -vE '^(Cargo.toml|crates/db/Cargo.toml|crates/test-support/Cargo.toml)$')
# shellcheck disable=SC2086
bad=$(grep -lE '^[[:space:]]*diesel([-_](async|migrations))?[[:space:]]*([.=]|$)' $manifests || true)
[ -z "$bad" ] || fail "Cargo.toml names diesel outside crates/db and crates/test-support: $(echo "$bad" | tr '\n' ' ')"
bad=$(git ls-files '*.rs' | grep -vE '^crates/(db|test-support)/' \
  | xargs grep -lE '(^|[^[:alnum:]_])diesel(_async|_migrations)?::' || true)
[ -z "$bad" ] || fail "sources name diesel outside crates/db and crates/test-support: $(echo "$bad" | tr '\n' ' ')"
[ "$status" -ne "$before" ] || echo "purity: diesel only in wfops-db and wfops-test-support"

# --- 3. no app depends on the other app
apps=(wfops-api wfops-worker)
for app in "${apps[@]}"; do
  deps=$(cargo tree -q -p "$app" -e normal,build,dev --prefix none -f '{p}' | awk '{print $1}' | sort -u)
  for other in "${apps[@]}"; do
    [ "$other" = "$app" ] && continue
    if grep -qx "$other" <<<"$deps"; then
      fail "$app depends on $other (put what needs both in tests/e2e)"
    else
      echo "purity: $app does not depend on $other"
    fi
  done
done

# --- 4. no package manager run from Rust code
bad=$(git ls-files '*.rs' | xargs grep -nE 'Command::new\("(apt-get|apt|dpkg|yum|dnf|apk|brew|sudo)"' || true)
if [ -n "$bad" ]; then
  fail "Rust code runs a package manager (install system packages in ./dev or CI instead): $bad"
else
  echo "purity: no package manager run from Rust code"
fi
exit $status
