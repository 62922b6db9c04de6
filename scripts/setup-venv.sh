#!/usr/bin/env bash
# Create (or bring up to date) the project-local virtualenv .venv with the
# pinned Python tools from tools/requirements.txt. Idempotent and quick when
# nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
req=tools/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating $venv"
    python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "==> installing pinned tools from $req"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req"
    echo "$want" > "$stamp"
fi
