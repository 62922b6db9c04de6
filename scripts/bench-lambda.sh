#!/usr/bin/env bash
# Lambda benchmarks of the two bootstrap binaries (tools/bench_lambda.py):
#   - deployment size: each release binary zipped as `bootstrap` (target <= 8 MiB);
#   - init: spawn -> first GET /2018-06-01/runtime/invocation/next against a
#     local Runtime API endpoint, median/min/max of 20, peak RSS, beside the
#     Python + boto3 equivalent (targets: <= 20 ms, <= 20 MiB, >= 10x faster);
#   - warm invocation: handler time of full post-processor ("completed") and
#     task-starter ("started") runs against moto_server, minus the emulator's
#     own time for the same AWS calls.
# Prints a table and PASS/MISS per target. Exits non-zero only on errors,
# never because a target was missed.
#
# Usage: scripts/bench-lambda.sh [--quick] [--runs N] [--invocations N]
#                                [--skip-warm] [--json FILE|-]
#                                [--with-masking [-- BENCH-MASKING-ARGS...]]
#   --quick          5 init runs and 10 warm invocations instead of 20 and 50
#   --json FILE      also write the results as JSON (- : JSON on stdout, the
#                    table on stderr)
#   --with-masking   afterwards run scripts/bench-masking.sh (masking
#                    throughput; needs the local MariaDB/PostgreSQL); the
#                    arguments after -- go to it, e.g. -- --rows 100000
# Logs of the spawned processes: target/bench-lambda/.
set -euo pipefail
cd "$(dirname "$0")/.."

masking=0
json_stdout=0
py_args=()
masking_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --with-masking) masking=1 ;;
        --) shift; masking_args=("$@"); break ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --json)
            [ $# -ge 2 ] || { echo "bench-lambda: --json needs a file (or -)" >&2; exit 2; }
            [ "$2" = "-" ] && json_stdout=1
            py_args+=("$1" "$2"); shift ;;
        *) py_args+=("$1") ;;
    esac
    shift
done

# Everything but the results goes to stderr, so that `--json -` stays parseable.
bash scripts/setup-venv.sh >&2
echo "==> building the release binaries (as sam build packages them)" >&2
cargo build --release -p task-starter -p post-processor >&2

.venv/bin/python tools/bench_lambda.py "${py_args[@]}"

if [ "$masking" = 1 ]; then
    echo "==> masking throughput (scripts/bench-masking.sh ${masking_args[*]})" >&2
    if [ "$json_stdout" = 1 ]; then
        bash scripts/bench-masking.sh "${masking_args[@]}" >&2
    else
        bash scripts/bench-masking.sh "${masking_args[@]}"
    fi
fi
