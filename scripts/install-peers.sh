#!/usr/bin/env bash
# Installs the npm reference implementations pinned in tests/peers/package.json, once
# (about 10 s and 91 MB with node-llama-cpp + @huggingface/gguf).
set -euo pipefail
cd "$(dirname "$0")/../tests/peers"
stamp=node_modules/.hearth-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package.json ] && { [ ! -f package-lock.json ] || [ "$stamp" -nt package-lock.json ]; }; then
  exit 0
fi
# `npm ci` fails for node-llama-cpp here (optional platform packages are missing from the
# registry, so the lockfile is incomplete); plain `npm install` with exact versions honours the
# lockfile. --omit=optional skips the CUDA/Vulkan/other-OS binaries (85 MB instead of 725 MB);
# the CPU binaries we need, @node-llama-cpp/linux-x64, are therefore a regular dependency in
# package.json, not left to node-llama-cpp's optionalDependencies. node-llama-cpp's postinstall
# (npm 11 skips it anyway) is not needed: getLlama({build: "never"}) uses the prebuilt binaries.
npm install --omit=optional --no-audit --no-fund --loglevel=error
if [ ! -d node_modules/@node-llama-cpp/linux-x64/bins/linux-x64 ]; then
  echo "install-peers: @node-llama-cpp/linux-x64 binaries missing after npm install" >&2
  exit 1
fi
touch "$stamp"
