#!/usr/bin/env bash
# Installs the npm reference implementations pinned in tests/peers/package.json, once.
set -euo pipefail
cd "$(dirname "$0")/../tests/peers"
stamp=node_modules/.hearth-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package.json ]; then exit 0; fi
# npm ci fails for node-llama-cpp here (optional platform packages missing from the registry);
# plain install with exact versions and without optional packages works offline-from-cache.
npm install --omit=optional --no-audit --no-fund --loglevel=error
touch "$stamp"
