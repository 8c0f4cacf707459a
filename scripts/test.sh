#!/usr/bin/env bash
# Runs the whole test suite: fetches the test footage (from the local cache when there is
# one), then every crate's unit, integration and doc tests. Tests that need something this
# machine lacks print "SKIP: ..." with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-assets.sh --quiet || echo "test.sh: could not fetch assets; tests that need them will skip" >&2
cargo test --workspace --locked "$@"
