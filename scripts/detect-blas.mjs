#!/usr/bin/env node
// Prints which matrix-product path the native addon builds with: "openblas",
// "accelerate" or "none". Used by binding.gyp; AUTODIDACT_BLAS overrides it.
import { existsSync, readdirSync } from 'node:fs';
import { platform } from 'node:os';

function detect() {
  const forced = process.env.AUTODIDACT_BLAS;
  if (forced === 'openblas' || forced === 'accelerate' || forced === 'none') return forced;
  if (platform() === 'darwin') return 'accelerate';
  const includeDirs = ['/usr/include', '/usr/local/include', '/usr/include/openblas', '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu'];
  const hasHeader = includeDirs.some((dir) => existsSync(`${dir}/cblas.h`));
  const libDirs = ['/usr/lib', '/usr/local/lib', '/usr/lib64', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];
  const hasLibrary = libDirs.some((dir) => {
    try {
      return readdirSync(dir).some((name) => name.startsWith('libopenblas.so'));
    } catch {
      return false;
    }
  });
  return hasHeader && hasLibrary ? 'openblas' : 'none';
}

process.stdout.write(detect());
