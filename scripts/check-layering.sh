#!/usr/bin/env bash
# The domain and the policy engine do no I/O: no HTTP, database or PKCS#11 crate may
# appear among their normal dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
for crate in kms-core kms-policy; do
  if cargo tree -p "$crate" -e normal --prefix none 2>/dev/null | grep -E '^(hyper|http|redb|tokio-rustls|rustls|postgres|sqlx|cryptoki) ' ; then
    echo "layering violation: $crate depends on an I/O crate" >&2
    exit 1
  fi
done
echo "layering ok"
