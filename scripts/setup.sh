#!/usr/bin/env bash
# Set up a fresh Debian machine for lstm-wasm and build it. Idempotent: installs only what is missing.
#   - Debian's Rust toolchain with the wasm32 std (rustup's cannot download one here), lld, binaryen
#   - Debian's Chromium (browser tests)
#   - npm dependencies (npm ci), then the wasm builds and the TypeScript bundle (npm run build)
set -euo pipefail
cd "$(dirname "$0")/.."

missing() { for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
toolchain=$(missing rustc cargo libstd-rust-dev-wasm32 lld binaryen)
browser=$(missing chromium)
if [ -n "$toolchain$browser" ]; then
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  [ -z "$toolchain" ] || $SUDO apt-get install -y -qq --no-install-recommends $toolchain >/dev/null
  [ -z "$browser" ] || $SUDO apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/rustc --version

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run -s build
