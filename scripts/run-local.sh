#!/usr/bin/env bash
# The refresh cycle on this machine, with no AWS account: the local AWS
# emulator, the real Lambda binaries under cargo-lambda's runtime emulator.
# Extra arguments go to tools/local_cycle.py (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-venv.sh
bash scripts/ensure-databases.sh
echo "==> building the Lambda binaries"
cargo build --quiet --bins -p task-starter -p post-processor
exec .venv/bin/python tools/local_cycle.py "$@"
