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
#                                 [--mysql-buffer-pool BYTES] [--only in-place|rewrite]
#   defaults: --rows 1000000 --engine both --keys int,uuid,composite --chunk-size 25000
# --only measures one of the two runners (and the single UPDATE): at 10M rows
# each measurement is a quarter of an hour or more.
# --mysql-buffer-pool sets the MySQL/MariaDB server's innodb_buffer_pool_size
# for the run (SET GLOBAL, given back on exit): a bare install has 128 MiB,
# where RDS gives InnoDB three quarters of the instance's memory; at 10M rows
# the tables' random unique indexes no longer fit the default.
# Servers: DMSR_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306),
#          DMSR_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432).
# Goals: in-place/UPDATE >= 0.8 and rewrite/UPDATE >= 0.8 for every engine and
# key shape, peak RSS < 64 MiB at 10M rows.
set -euo pipefail
cd "$(dirname "$0")/.."
pool=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --mysql-buffer-pool)
            [ $# -ge 2 ] || { echo "--mysql-buffer-pool needs a size in bytes" >&2; exit 2; }
            case "$2" in *[!0-9]* | "") echo "--mysql-buffer-pool: not a number of bytes: $2" >&2; exit 2 ;; esac
            pool="$2"
            shift 2
            ;;
        *) args+=("$1"); shift ;;
    esac
done
cargo build --release -p masking --example bench_masking
if [ -n "$pool" ]; then
    mysql_cli=(mysql --protocol=tcp -h 127.0.0.1 -P 3306 -u root -N -B)
    before=$("${mysql_cli[@]}" -e "SELECT @@innodb_buffer_pool_size")
    trap '"${mysql_cli[@]}" -e "SET GLOBAL innodb_buffer_pool_size = $before" || true' EXIT
    "${mysql_cli[@]}" -e "SET GLOBAL innodb_buffer_pool_size = $pool"
    echo "innodb_buffer_pool_size: $before -> $("${mysql_cli[@]}" -e "SELECT @@innodb_buffer_pool_size") bytes for this run"
fi
"${CARGO_TARGET_DIR:-target}/release/examples/bench_masking" "${args[@]}"
