#!/usr/bin/env bash
# The whole test suite: Rust unit and end-to-end tests, then the real-client
# smoke tests (boto3, aws CLI) against the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
if [ ! -x "$VENV/bin/aws" ] || ! "$VENV/bin/python" -c 'import boto3' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
scripts/check-layering.sh
cargo build --release
"$VENV/bin/python" scripts/smoke.py
