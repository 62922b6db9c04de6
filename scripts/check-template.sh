#!/usr/bin/env bash
# Checks the AWS SAM application (template.yaml, samconfig.toml, rules/):
#   1. sam validate --lint            (SAM's schema + cfn-lint)
#   2. cfn-lint template.yaml         (with the serverless rules of cfn-lint-serverless; a finding
#                                     the template accepts is ignored on its resource, with the reason)
#   3. sam build (x86_64)             (cargo lambda build of both functions, release),
#                                     then the zipped size of every artifact
#   4. pytest tests/template          (transform with aws-sam-translator, create the
#                                     stack in moto_server's CloudFormation, assert wiring)
# Every step runs even if an earlier one failed; the summary lists each result and the
# script exits non-zero if any step failed.
#
# Tools come only from two project-local virtualenvs, created or updated here:
#   .venv      scripts/setup-venv.sh, tools/requirements.txt (moto, cargo-lambda + zig, aws-sam-translator,
#              cfn-lint, cfn-lint-serverless, pytest), shared with the other test scripts
#   .venv-sam  tests/template/requirements-sam.txt (aws-sam-cli), separate because
#              aws-sam-cli pins older boto3/botocore/click/pydantic than moto runs on
#
# Usage: bash scripts/check-template.sh [--no-build]
#   --no-build   skip `sam build` (e.g. when the Rust build is checked elsewhere)
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

PYTHON=${PYTHON:-python3}

# Create a venv if missing and (re)install its requirements when they changed.
ensure_venv() {
    local dir=$1 requirements=$2 stamp hash
    stamp="$dir/.requirements.sha256"
    hash=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
        return 0
    fi
    echo "==> preparing $dir from $requirements"
    [[ -x "$dir/bin/python" ]] || "$PYTHON" -m venv "$dir" || return 1
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || return 1
    echo "$hash" >"$stamp"
}

# .venv is the project's shared venv (scripts/setup-venv.sh, same stamp scheme as above).
bash scripts/setup-venv.sh || { echo "FAILED: could not prepare .venv" >&2; exit 1; }
ensure_venv .venv-sam tests/template/requirements-sam.txt || { echo "FAILED: could not prepare .venv-sam" >&2; exit 1; }
# Keep the SAM venv out of git whatever .gitignore says.
[[ -f .venv-sam/.gitignore ]] || echo '*' >.venv-sam/.gitignore

# cargo-lambda and its zig (python -m ziglang) come from .venv; sam from .venv-sam.
export PATH="$ROOT/.venv/bin:$ROOT/.venv-sam/bin:$PATH"
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-eu-west-1}

declare -a NAMES=() RESULTS=() TIMES=()
FAILED=0

step() {
    local name=$1 start rc
    shift
    echo
    echo "==> $name"
    start=$SECONDS
    "$@"
    rc=$?
    NAMES+=("$name")
    TIMES+=("$((SECONDS - start))s")
    if ((rc == 0)); then
        RESULTS+=("ok")
    else
        RESULTS+=("FAILED (exit $rc)")
        FAILED=1
    fi
}

artifact_sizes() {
    "$ROOT/.venv/bin/python" - "$ROOT/.aws-sam/build" "$ROOT/rules" <<'PY'
"""Zip each built artifact (and the rules/ layer, which `sam package` zips as it is)
and print its size."""
import io, sys, zipfile
from pathlib import Path

build, rules = Path(sys.argv[1]), Path(sys.argv[2])
dirs = sorted(p for p in build.iterdir() if p.is_dir()) if build.is_dir() else []
if not dirs:
    sys.exit(f"no artifacts under {build}")
status = 0
for d in dirs + [rules]:
    files = sorted(p for p in d.rglob("*") if p.is_file())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.relative_to(d))
    zipped = len(buf.getvalue())
    raw = sum(f.stat().st_size for f in files)
    note = ""
    bootstrap = d / "bootstrap"
    if bootstrap.is_file():
        head = bootstrap.read_bytes()[:20]
        machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None
        arch = {0x3E: "x86_64", 0xB7: "arm64"}.get(machine, "not an ELF executable")
        note = f"  bootstrap: {arch}"
        if arch not in ("x86_64", "arm64"):
            status = 1
    label = "MaskingRulesLayer (rules/)" if d == rules else d.name
    print(f"  {label:<28} {zipped:>12,} bytes zipped ({zipped / 2**20:6.2f} MiB), "
          f"{raw:>12,} bytes unzipped{note}")
sys.exit(status)
PY
}

# Not --parallel: the two cargo builds share target/ and wait for each other's lock
# anyway, and on a fresh machine both would create cargo-zigbuild's wrapper files at
# once and one fails with "File exists".
sam_build() {
    sam build --parameter-overrides Architecture=x86_64 && artifact_sizes
}

step "sam validate --lint" sam validate --lint --template-file template.yaml
step "cfn-lint template.yaml (+ serverless rules)" \
    cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
if ((BUILD)); then
    step "sam build (x86_64) + artifact sizes" sam_build
fi
step "pytest tests/template (moto CloudFormation)" \
    "$ROOT/.venv/bin/python" -m pytest tests/template -q

echo
echo "==> template checks summary"
for i in "${!NAMES[@]}"; do
    printf '  %-46s %-18s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"
done
if ((FAILED)); then
    echo "template checks: FAILED"
    exit 1
fi
echo "template checks: all passed"
