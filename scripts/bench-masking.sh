#!/usr/bin/env bash
# Benchmark of the masking engine on fresh N-row tables per engine and key
# shape (int: BIGINT; uuid: PostgreSQL uuid, MySQL BINARY(16); composite:
# (region VARCHAR, n BIGINT)), with email, fake and hash strategies and noise
# (six HMAC-SHA256 per row): the rewrite (quarantine -> masked copy -> publish
# into live), the in-place runner and one hand-written UPDATE (baseline).
# Checks the masked outputs agree (joined on the key) and prints rows/s of
# each, in-place/UPDATE and rewrite/UPDATE ratios and peak RSS.
#
# Usage: scripts/bench-masking.sh [--rows N] [--engine mysql|postgres|both]
#                                 [--keys int,uuid,composite] [--chunk-size N]
#   defaults: --rows 1000000 --engine both --keys int,uuid,composite --chunk-size 25000
# Servers: DMSR_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306),
#          DMSR_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432).
# Goals: in-place/UPDATE >= 0.8 and rewrite/UPDATE >= 0.8 for every engine and
# key shape, peak RSS < 64 MiB at 10M rows.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p masking --example bench_masking
exec "${CARGO_TARGET_DIR:-target}/release/examples/bench_masking" "$@"
