#!/usr/bin/env bash
# Regenerate the wire layer from the pinned botocore model (tools/codegen).
#   scripts/codegen.sh           write the generated files into the tree
#   scripts/codegen.sh --check   generate into a temporary directory and fail
#                                when the committed files differ
set -euo pipefail
cd "$(dirname "$0")/.."
req=tools/codegen/requirements.txt venv=.venv-codegen
if [ ! -f "$venv/.requirements" ] || ! cmp -s "$req" "$venv/.requirements"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
fi
files=(crates/kms-core/src/model/generated.rs crates/kms-api/src/dispatch.rs)
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$venv/bin/python" tools/codegen/codegen.py --out "$tmp"
  for f in "${files[@]}"; do
    rustfmt --edition 2021 --config-path rustfmt.toml "$tmp/$f"
    if ! diff -u "$f" "$tmp/$f"; then
      echo "$f differs from what tools/codegen gives for the pinned botocore: run scripts/codegen.sh" >&2
      exit 1
    fi
  done
  echo "generated code matches botocore $(grep -o '^botocore==.*' "$req")"
else
  "$venv/bin/python" tools/codegen/codegen.py
  rustfmt --edition 2021 --config-path rustfmt.toml "${files[@]}"
fi
