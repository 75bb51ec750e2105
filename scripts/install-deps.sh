#!/usr/bin/env bash
# Installs everything hearth needs to build and test on Debian 12. Idempotent: installs only
# what is missing, so repeated `make` calls cost a few dpkg queries.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3-numpy
  libpcre2-dev libicu-dev
  libboost-dev
  g++-aarch64-linux-gnu qemu-user  # the AArch64 NEON kernels, cross-built and tested under emulation
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js may come from NodeSource (which bundles npm and conflicts with Debian's npm package):
# ask for Debian's packages only when the commands are missing.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Reference implementations for the tests (llama.cpp via node-llama-cpp, HF gguf parser...).
# Exact versions live in tests/peers/package.json; `npm ci` cannot be used (see shared/PEERS.md).
if [ "${HEARTH_SKIP_NPM:-0}" != "1" ]; then
  "$(dirname "$0")/install-peers.sh"
fi
