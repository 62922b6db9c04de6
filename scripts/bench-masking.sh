#!/usr/bin/env bash
# Benchmark of the masking engine on fresh N-row tables per engine:
# the rewrite (quarantine -> masked copy -> publish into live), the in-place
# runner, one hand-written UPDATE (baseline) and a plain unmasked
# INSERT ... SELECT * copy. Checks the masked outputs are identical and prints
# rows/s of each, rewrite/UPDATE and rewrite/plain-copy ratios and peak RSS.
#
# Usage: scripts/bench-masking.sh [--rows N] [--engine mysql|postgres|both] [--chunk-size N]
#   defaults: --rows 1000000 --engine both --chunk-size 25000
# Servers: DMSR_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306),
#          DMSR_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432).
# Goals: rewrite/UPDATE >= 2, rewrite/plain copy >= 0.7, peak RSS < 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p masking --example bench_masking
exec target/release/examples/bench_masking "$@"
