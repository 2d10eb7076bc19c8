import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { tsKernels } from './kernels-ts.js';
import { InvalidConfigError } from '../errors.js';

type F32 = Float32Array;
type I32 = Int32Array;

/**
 * The paired forward/backward kernels of the engine. Two implementations share
 * these signatures: the C++ addon (src/native/kernels.cc) and the TypeScript
 * reference (kernels-ts.ts). Shapes: N rows (= B·T), C channels, H heads,
 * F MLP hidden, V vocab. "accumulate" means `+=` into the output.
 */
export interface Kernels {
  readonly name: 'native' | 'ts';
  /** The BLAS the addon was built with: 'openblas' | 'accelerate' | 'none' | 'ts'. */
  readonly blas: string;
  /**
   * The GEMM that runs, chosen by AUTODIDACT_GEMM at load: 'own-avx2' | 'own-avx512' | 'own-scalar'
   * (src/native/gemm.cc) | 'openblas' | 'accelerate' | 'ts'.
   */
  readonly gemmPath: string;
  threads(): number;
  setThreads(threads: number): void;
  /** Row-major C = alpha·op(A)·op(B) + beta·C with op(A) (M,K), op(B) (K,N). */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F32, lda: number, B: F32, ldb: number, beta: number, C: F32, ldc: number): void;
  /** out (N,OC) (+)= inp (N,C) · weight (OC,C)ᵀ */
  matmulForward(out: F32, inp: F32, weight: F32, N: number, C: number, OC: number, accumulate: boolean): void;
  /** dinp (N,C) (+)= dout · weight (skipped when null); dweight (OC,C) += doutᵀ · inp */
  matmulBackward(dinp: F32 | null, dweight: F32, dout: F32, inp: F32, weight: F32, N: number, C: number, OC: number, accumulateInput: boolean): void;
  /** out = weight ⊙ x / rms(x); rstd (N) saved for backward */
  rmsnormForward(out: F32, rstd: F32, inp: F32, weight: F32, N: number, C: number, eps: number): void;
  /** dinp (N,C) += …, dweight (C) += … */
  rmsnormBackward(dinp: F32, dweight: F32, dout: F32, inp: F32, weight: F32, rstd: F32, N: number, C: number): void;
  /** Rotates the q and k parts of qkv (N,3C) in place at `positions`; `inverse` undoes it (the backward pass). */
  rope(qkv: F32, positions: I32, cos: F32, sin: F32, N: number, C: number, H: number, inverse: boolean): void;
  /** Causal attention: out (B,T,C), att (B,H,T,T) probabilities saved for backward, qkv (B,T,3C) roped. */
  attentionForward(out: F32, att: F32, qkv: F32, B: number, T: number, C: number, H: number): void;
  /** dqkv (B,T,3C) is overwritten. */
  attentionBackward(dqkv: F32, dout: F32, qkv: F32, att: F32, B: number, T: number, C: number, H: number): void;
  /** Sampling attention over a head-major KV cache (slots, H, maxT, D): row n writes its k, v at positions[n] of slot slots[n] and attends to 0..positions[n]. */
  attentionCached(out: F32, qkv: F32, kCache: F32, vCache: F32, slots: I32, positions: I32, N: number, C: number, H: number, maxT: number): void;
  /** out (N,F) = silu(gate) ⊙ up, gateUp (N,2F) = [gate | up] per row */
  swigluForward(out: F32, gateUp: F32, N: number, F: number): void;
  /** dGateUp (N,2F) is overwritten. */
  swigluBackward(dGateUp: F32, dout: F32, gateUp: F32, N: number, F: number): void;
  embeddingForward(out: F32, tokens: I32, table: F32, N: number, C: number): void;
  /** dtable (V,C) += scatter of dout (N,C) */
  embeddingBackward(dtable: F32, dout: F32, tokens: I32, N: number, C: number): void;
  /** probs (N,V): logits in, softmax out; logprobs (N) of targets; entropy (N) when given. */
  logprobForward(probs: F32, logprobs: F32, entropy: F32 | null, targets: I32, N: number, V: number): void;
  /** dlogits (N,V): probabilities in, d(loss)/d(logits) out, from dlogprobs (N). */
  logprobBackward(dlogits: F32, dlogprobs: F32, targets: I32, N: number, V: number): void;
  sumSquares(x: F32): number;
  /**
   * One AdamW update over a whole flat buffer, PyTorch's order of operations. The gradient is multiplied by
   * gradScale first (clipping); weight decay applies inside the sorted [start, end) pairs of decayRanges (all when null).
   * The gradient is zeroed in the same pass, ready for the next accumulation.
   */
  adamw(param: F32, grad: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, biasCorrection1: number, biasCorrection2: number, gradScale: number, decayRanges: I32 | null): void;
}

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
