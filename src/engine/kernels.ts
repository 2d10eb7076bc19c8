import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { tsKernels } from './kernels-ts.js';
import { InvalidConfigError } from '../errors.js';

import type { Kernels } from './kernel-types.js';

export type { Kernels };

type F32 = Float32Array;

/** The C++ addon: the kernels, plus ways to name a GEMM path per call (for tests and benchmarks). */
export interface NativeKernels extends Kernels {
  readonly name: 'native';
  /** The AUTODIDACT_GEMM values this build can run on this CPU besides auto and own: 'avx512', 'avx2', 'scalar', 'blas'. */
  readonly gemmPaths: readonly string[];
  /** `gemm` on the path named like an AUTODIDACT_GEMM value, whichever path is active. */
  gemmUsing(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number, path: string): void;
  /** Seconds for one n×n×n SGEMM by the BLAS itself with its own `threads` (the pool is not involved). */
  blasGemmSquare(n: number, threads: number): number;
}

/** Threads the engine may use: AUTODIDACT_THREADS, else the number of cores. */
export function defaultThreads(): number {
  const fromEnv = Number.parseInt(process.env.AUTODIDACT_THREADS ?? '', 10);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

let nativeKernels: NativeKernels | null | undefined;
let nativeLoadError: string | undefined;

/** The C++ addon, or null when it was not built (the reason is in `nativeKernelsError()`). */
export function loadNativeKernels(): NativeKernels | null {
  if (nativeKernels !== undefined) return nativeKernels;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  // AUTODIDACT_ADDON points at another build of the addon (CI tests the portable no-BLAS build this way).
  const candidates = process.env.AUTODIDACT_ADDON ? [process.env.AUTODIDACT_ADDON] : ['build/Release/autodidact_kernels.node', 'build/Debug/autodidact_kernels.node'].map((path) => join(root, path));
  const file = candidates.find(existsSync);
  if (!file) {
    nativeLoadError = process.env.AUTODIDACT_ADDON ? `AUTODIDACT_ADDON=${process.env.AUTODIDACT_ADDON} does not exist` : 'the addon was not built (run `npm run build:native`)';
    return (nativeKernels = null);
  }
  try {
    const addon = createRequire(import.meta.url)(file) as Omit<NativeKernels, 'name'>;
    const kernels: NativeKernels = Object.assign(Object.create(addon), { name: 'native' as const });
    kernels.setThreads(defaultThreads());
    return (nativeKernels = kernels);
  } catch (error) {
    nativeLoadError = `loading ${file} failed: ${(error as Error).message}`;
    return (nativeKernels = null);
  }
}

export function nativeKernelsError(): string | undefined {
  loadNativeKernels();
  return nativeLoadError;
}

let warned = false;

/**
 * The kernels the engine runs on: AUTODIDACT_KERNELS=ts forces the TypeScript
 * reference, =native requires the addon, unset prefers the addon and falls back
 * to TypeScript with a warning.
 */
export function getKernels(choice: string | undefined = process.env.AUTODIDACT_KERNELS): Kernels {
  if (choice === 'ts') return tsKernels;
  if (choice !== undefined && choice !== '' && choice !== 'native' && choice !== 'auto') {
    throw new InvalidConfigError('AUTODIDACT_KERNELS', `got "${choice}"; AUTODIDACT_KERNELS must be "native", "ts" or "auto" (or unset, which means auto)`);
  }
  const native = loadNativeKernels();
  if (native) return native;
  if (choice === 'native') throw new InvalidConfigError('AUTODIDACT_KERNELS', `AUTODIDACT_KERNELS=native but ${nativeLoadError}; fix that, or set AUTODIDACT_KERNELS=auto to fall back to the TypeScript kernels`);
  if (!warned) {
    warned = true;
    process.emitWarning(`autodidact: native kernels unavailable (${nativeLoadError}); using the TypeScript kernels, which are much slower.`);
  }
  return tsKernels;
}
