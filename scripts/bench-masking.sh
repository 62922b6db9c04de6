#!/usr/bin/env bash
# Benchmark of the masking runner against a single hand-written UPDATE.
#
# Builds the benchmark in release mode, then on each engine creates two fresh
# N-row tables (id, email, full_name, phone), masks one with the chunked runner
# (email + fake full_name + fake phone, verification included) and the other
# with one UPDATE using the same SQL expressions, checks both give identical
# rows, and prints: engine, rows, seconds and rows/s of each, their ratio and
# the runner process's peak RSS (VmHWM).
#
# Usage: scripts/bench-masking.sh [--rows N] [--engine mysql|postgres|both] [--chunk-size N]
#   defaults: --rows 1000000 --engine both --chunk-size 25000
# Servers: DMSR_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306),
#          DMSR_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432).
# Targets: ratio >= 0.8 on both engines, peak RSS < 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p masking --example bench_masking
exec target/release/examples/bench_masking "$@"
