#!/usr/bin/env bash
# The web console's browser test (docs/CONSOLE.md): playwright-core, pinned
# in package-lock.json, driving Debian's Chromium against target/release/kms.
set -euo pipefail
cd "$(dirname "$0")"
# npm ci again whenever the lock changed since the last install.
stamp=node_modules/.installed-lock.json
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
exec node console.mjs
