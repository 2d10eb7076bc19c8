#!/usr/bin/env node
// Prints which matrix-product path the native addon builds with: "openblas",
// "accelerate" or "none". Used by binding.gyp; AUTODIDACT_BLAS overrides it.
// OpenBLAS is chosen only when a test program that includes <cblas.h> and calls
// cblas_sgemm compiles and links with -lopenblas, so a runtime-only library or
// a cblas.h from another package cannot break the build.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { platform, tmpdir } from 'node:os';
import { join } from 'node:path';

function linksOpenblas() {
  const dir = mkdtempSync(join(tmpdir(), 'autodidact-blas-'));
  try {
    const source = join(dir, 'probe.cc');
    writeFileSync(source, '#include <cblas.h>\nint main() { float a = 1, b = 1, c = 0; cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1); return c == 1.0f ? 0 : 1; }\n');
    const compiler = process.env.CXX || 'c++';
    const build = spawnSync(compiler, [source, '-o', join(dir, 'probe'), '-lopenblas'], { stdio: 'ignore' });
    if (build.status !== 0) return false;
    return spawnSync(join(dir, 'probe'), [], { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function detect() {
  const forced = process.env.AUTODIDACT_BLAS;
  if (forced === 'openblas' || forced === 'accelerate' || forced === 'none') return forced;
  if (platform() === 'darwin') return 'accelerate';
  return linksOpenblas() ? 'openblas' : 'none';
}

process.stdout.write(detect());
