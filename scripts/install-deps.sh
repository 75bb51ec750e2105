#!/usr/bin/env bash
# Installs what hearth needs on Debian 12. Idempotent: installs only what is missing, so repeated
# `make` calls cost a few dpkg queries.
#   install-deps.sh          everything: building, serving and every test (`make test`)
#   install-deps.sh --serve  building and serving only (`make run`): no test toolchains, no npm
set -euo pipefail

SERVE_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libfmt-dev nlohmann-json3-dev libcli11-dev
  libpcre2-dev libicu-dev
  libboost-dev
  libedit-dev                      # line editing in `hearth chat`
  libsqlite3-dev libpq-dev libssl-dev  # the keys and usage store (`serve --db`: SQLite or PostgreSQL), key hashing
  libzmq3-dev                      # KV-cache events for prefix-aware routers (`serve --kv-events-endpoint`)
)
TEST_PACKAGES=(
  git
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev         # the libFuzzer targets
  python3-numpy
  python3-torch python3-tqdm       # llama.cpp's HF converter, the reference for HF folder loading
  g++-aarch64-linux-gnu qemu-user  # the AArch64 NEON kernels, cross-built and tested under emulation
  chromium                         # the web chat and dashboard, driven by puppeteer-core
  postgresql                       # a real server for the shared key and usage store
  python3-yaml                     # parses deploy/kubernetes in its test
  python3-zmq python3-msgpack      # a subscriber that reads the KV-cache events as vLLM's consumers do
)
serve_only=0
[ "${1:-}" = "--serve" ] && serve_only=1
APT_PACKAGES=("${SERVE_PACKAGES[@]}")
[ "$serve_only" = 1 ] || APT_PACKAGES+=("${TEST_PACKAGES[@]}")

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js may come from NodeSource (which bundles npm and conflicts with Debian's npm package):
# ask for Debian's packages only when the commands are missing.
if [ "$serve_only" = 0 ]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
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
if [ "$serve_only" = 0 ] && [ "${HEARTH_SKIP_NPM:-0}" != "1" ]; then
  "$(dirname "$0")/install-peers.sh"
fi
