#!/usr/bin/env bash
# Build the core twice for wasm32 with Debian's toolchain: SIMD128 and scalar. Output: dist/*.wasm.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC=/usr/bin/rustc
CARGO=/usr/bin/cargo
# LLVM's loop strength reduction rewrites the kernels' pointer + constant addresses into extra
# induction variables whose adds cannot fold into wasm load offsets; V8 then spends an instruction
# per load on addresses. Without it the GEMM and LSTM loops run 10-15 % faster (the kernels bump
# their pointers explicitly instead). If a toolchain does not know the option, build without it.
NO_LSR="-C llvm-args=-disable-lsr"
build() { # $1 = variant, $2 = target feature flag
  (cd crates/wasm && { RUSTFLAGS="-C target-feature=$2 $NO_LSR" "$CARGO" build -q --release --target wasm32-unknown-unknown --target-dir "../../target/$1" 2>/dev/null ||
    RUSTFLAGS="-C target-feature=$2" "$CARGO" build -q --release --target wasm32-unknown-unknown --target-dir "../../target/$1"; })
}
build simd +simd128
build scalar -simd128
mkdir -p dist
# wasm-opt (binaryen) shrinks and speeds up the modules a little; strip=true drops the
# target_features section, so the features are named here. If it is missing or refuses a newer
# rustc's output, the unoptimised module ships.
for v in simd scalar; do
  src="target/$v/wasm32-unknown-unknown/release/lstm_wasm.wasm"
  flags=(-O3 --enable-sign-ext --enable-mutable-globals)
  [ "$v" = simd ] && flags+=(--enable-simd)
  if ! { command -v wasm-opt >/dev/null && wasm-opt "${flags[@]}" "$src" -o "dist/lstm-$v.wasm" 2>/dev/null; }; then
    cp "$src" "dist/lstm-$v.wasm"
  fi
done
ls -l dist/*.wasm
