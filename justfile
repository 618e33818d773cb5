# The same recipes as the README and CI, for people who have `just`.
up:
    ./dev up
test:
    ./dev test
check:
    ./dev check
ci:
    bash .ci/run
schema:
    scripts/print-schema.sh
bench-hash:
    cargo bench -p wfops-diff --bench hash_corpus
