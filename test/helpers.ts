import assert from 'node:assert/strict';
import type { Llama } from 'node-llama-cpp';
import { Rng } from '../src/engine/random.js';
import { loadNativeKernels, nativeKernelsError, type Kernels } from '../src/engine/kernels.js';
import { tsKernels } from '../src/engine/kernels-ts.js';

/** Uniform values in [-scale, scale), seeded. */
export function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * scale;
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

export function maxAbs(a: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]));
  return max;
}

/** Asserts |a - b|∞ ≤ atol + rtol·|b|∞ and prints the max difference either way. */
export function assertClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0): number {
  const diff = maxAbsDiff(actual, expected);
  const bound = atol + rtol * maxAbs(expected);
  console.log(`  ${label}: max |diff| = ${diff.toExponential(2)} (bound ${bound.toExponential(2)})`);
  assert.ok(diff <= bound, `${label}: max |diff| ${diff} exceeds ${bound}`);
  return diff;
}

/** The kernel implementations to run a test over; the native one is skipped, with the reason, where it is not built. */
export function kernelImplementations(): { name: string; kernels: Kernels | null; skip: string | false }[] {
  const native = loadNativeKernels();
  // CI sets AUTODIDACT_REQUIRE_NATIVE=1: there a missing addon is a failure, not a skip.
  if (!native && process.env.AUTODIDACT_REQUIRE_NATIVE === '1') throw new Error(`AUTODIDACT_REQUIRE_NATIVE=1 but ${nativeKernelsError()}`);
  return [
    { name: 'ts', kernels: tsKernels, skip: false },
    { name: 'native', kernels: native, skip: native ? false : `native kernels unavailable: ${nativeKernelsError()}` },
  ];
}

/**
 * llama.cpp through node-llama-cpp's prebuilt CPU binary, or why it cannot be
 * loaded: tests that need it pass `skip` to node:test, which prints the reason.
 * CI (CI=true) and AUTODIDACT_REQUIRE_LLAMACPP=1 install node-llama-cpp from npm
 * and must prove the checks: there a missing binary is a failure, not a skip.
 */
export async function loadLlamaCpp(): Promise<{ llama: Llama; skip: false } | { llama: null; skip: string }> {
  try {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    return { llama: await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error }), skip: false };
  } catch (error) {
    const reason = `llama.cpp unavailable: node-llama-cpp's prebuilt binary did not load (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.CI === 'true') throw new Error(`CI=true but ${reason}`, { cause: error });
    if (process.env.AUTODIDACT_REQUIRE_LLAMACPP === '1') throw new Error(`AUTODIDACT_REQUIRE_LLAMACPP=1 but ${reason}`, { cause: error });
    return { llama: null, skip: reason };
  }
}
