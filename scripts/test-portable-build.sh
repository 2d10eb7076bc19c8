#!/usr/bin/env bash
# Builds the addon without BLAS (the portable built-in GEMM), runs the kernel and
# engine tests against it, then restores the regular build. Proves that the
# engine builds and computes correctly where no BLAS is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
portable="$(mktemp -d)/autodidact_kernels_portable.node"
AUTODIDACT_BLAS=none node scripts/build-native.mjs
cp build/Release/autodidact_kernels.node "$portable"
node scripts/build-native.mjs
AUTODIDACT_ADDON="$portable" AUTODIDACT_REQUIRE_NATIVE=1 node -e "import('./dist/src/engine/kernels.js').then(k => { const n = k.loadNativeKernels(); if (!n || n.blas !== 'none') { console.error('portable addon did not load:', k.nativeKernelsError()); process.exit(1); } console.log('portable addon loaded, blas =', n.blas); })"
AUTODIDACT_ADDON="$portable" AUTODIDACT_REQUIRE_NATIVE=1 node --test dist/test/engine/kernels.test.js dist/test/engine/hf-reference.test.js
