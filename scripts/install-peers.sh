#!/usr/bin/env bash
# Installs the npm reference implementations pinned in tests/peers/package.json, once
# (about 10 s and 91 MB with node-llama-cpp + @huggingface/gguf).
set -euo pipefail
cd "$(dirname "$0")/../tests/peers"
# The reference is llama.cpp's AVX-512/AVX2 kernels on every machine: on a CPU with AMX (Sapphire
# Rapids and later) ggml would load its sapphirerapids variant, whose AMX kernels sum Q8_0, Q4_1
# and the K types in other orders than its other variants do (measured: the bit-identical
# forward_logits cases then differ by KL up to 5e-4). Renamed so ggml's loader (libggml-cpu-*.so)
# skips it, on every run: hearth's order for AMX's types is ref::KSums::kBlocks, checked apart.
excluded=node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-cpu-sapphirerapids.so
exclude_amx_variant() { if [ -f "$excluded" ]; then mv -f "$excluded" "$excluded.amx-excluded"; fi; }
exclude_amx_variant
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
exclude_amx_variant
touch "$stamp"
