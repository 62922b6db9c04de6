#!/usr/bin/env bash
# Every check CI runs, on a fresh machine: installs the pinned Python tools in
# .venv, starts the databases if needed, then formatting, lints, the build of
# both Lambda binaries and every test (unit, emulator, database, binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-venv.sh
bash scripts/ensure-databases.sh

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo build (the Lambda binaries the tests run)"
cargo build --workspace --bins
echo "==> cargo test"
cargo test --workspace
echo "==> SAM application: validate, lint, build, emulator deployment"
bash scripts/check-template.sh
