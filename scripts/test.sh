#!/usr/bin/env bash
# The whole test suite: Rust unit and end-to-end tests, then the real-client
# smoke tests (boto3, aws CLI) against the release binary, then the web
# console in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python clients: boto3, the aws CLI, the AWS Encryption SDK 4 and OpenBao in
# .venv; aws-encryption-cli (which pins an older Encryption SDK) and
# trailscraper (a CloudTrail log reader that pins an older boto3) in their own.
venv() {
  local dir=$1 req=$2 stamp=$1/.requirements
  if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
  fi
}
venv .venv scripts/requirements.txt
venv .venv-esdk-cli scripts/requirements-esdk-cli.txt
venv .venv-trailscraper scripts/requirements-trailscraper.txt
VENV=.venv

# The wire layer is generated from the pinned botocore model: fail when the
# committed code is not what tools/codegen gives.
scripts/codegen.sh --check

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
# The FIPS build (docs/FIPS.md), in its own target directory: the crypto
# crate's tests and the end-to-end tests that matter for it.
CARGO_TARGET_DIR=target/fips cargo test -p kms-crypto --features fips --quiet
CARGO_TARGET_DIR=target/fips cargo test -p kms --features fips --test e2e -- fips symmetric hsm --skip asymmetric
scripts/check-layering.sh
cargo build --release
# Every member of every operation of the model, wrongly typed and out of range.
"$VENV/bin/python" scripts/model_walk.py "$(.venv-codegen/bin/python -c 'import botocore, os; print(os.path.dirname(botocore.__file__))')"
"$VENV/bin/python" scripts/smoke.py
"$VENV/bin/python" scripts/lifecycle.py
"$VENV/bin/python" scripts/regions.py
"$VENV/bin/python" scripts/testing.py
"$VENV/bin/python" scripts/clients.py
"$VENV/bin/python" scripts/audit_check.py
# The web console in headless Chromium (docs/CONSOLE.md); screenshots in
# target/console-screenshots.
scripts/console/run.sh
