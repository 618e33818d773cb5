#!/usr/bin/env bash
# Dependency hygiene, as CI runs it:
#   - cargo-deny: licences on the allow-list of deny.toml, no banned or wildcard dependencies,
#     crates only from crates.io; and RustSec advisories when the advisory database can be
#     fetched (it comes from GitHub, which some CI machines can not reach: then this says so);
#   - cargo-machete: no dependency a crate declares but never uses.
# Needs cargo-deny and cargo-machete (`cargo install --locked cargo-deny cargo-machete`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo deny --log-level error check licenses bans sources
echo "deny: licenses, bans, sources ok"

if timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1; then
  cargo deny --log-level error check --disable-fetch advisories
  echo "advisories: ok"
else
  echo "advisories: skipped (advisory database unreachable)"
fi

# --with-metadata reads each crate's Cargo.toml [package.metadata.cargo-machete] ignore list
# (for a dependency used only through a macro or a feature, with the reason beside it).
cargo machete --with-metadata
echo "machete: no unused dependencies"
