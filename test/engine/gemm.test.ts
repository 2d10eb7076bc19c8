/**
 * The addon's GEMM on every path this build and this CPU can run (our micro-kernels
 * and the BLAS), against the TypeScript reference: all four transpose combinations,
 * dimensions of 1 and odd edges, K beyond the cache block, N beyond the column block,
 * leading dimensions wider than the rows, alpha ≠ 1, beta 0 / 1 / 0.5, and beta 0 over
 * a C full of NaN (which must not be read). Then AUTODIDACT_GEMM, read at load, in
 * child processes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NativeKernels } from '../../src/engine/kernels.js';
import { Rng } from '../../src/engine/random.js';
import { tsKernels } from '../../src/engine/kernels-ts.js';
import { assertClose, kernelImplementations, randomArray } from '../helpers.js';

interface Case {
  label: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  A: Float32Array;
  lda: number;
  B: Float32Array;
  ldb: number;
  /** C before the product; its padding columns (ldc > N) must come out unchanged. */
  C: Float32Array;
  ldc: number;
  expected: Float32Array;
}

// (M, N, K): ones, odd edges against every tile size (4×8, 6×16, 12×32), K beyond KC (128, 256),
// M beyond MC (≤ 168), N beyond NC (≤ 4080).
const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [1, 17, 5],
  [5, 1, 17],
  [17, 5, 1],
  [64, 64, 64],
  [129, 17, 300],
  [5, 300, 129],
  [300, 129, 17],
  [17, 64, 300],
  [33, 45, 700],
  [7, 4100, 9],
];
const BETAS = [0, 1, 0.5, Number.NaN]; // NaN: beta 0 with NaN in C

function makeCases(): Case[] {
  const rng = new Rng(16);
  const cases: Case[] = [];
  for (const [M, N, K] of SIZES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const betaCase of BETAS) {
          const beta = Number.isNaN(betaCase) ? 0 : betaCase;
          const lda = (transA ? M : K) + 3;
          const ldb = (transB ? K : N) + 2;
          const ldc = N + 1;
          const A = randomArray(rng, lda * (transA ? K : M));
          const B = randomArray(rng, ldb * (transB ? N : K));
          const C = randomArray(rng, ldc * M);
          if (Number.isNaN(betaCase)) for (let i = 0; i < M; i++) C.fill(Number.NaN, i * ldc, i * ldc + N);
          const expected = Float32Array.from(C);
          tsKernels.gemm(transA, transB, M, N, K, 0.75, A, lda, B, ldb, beta, expected, ldc);
          const label = `${M}x${N}x${K} transA=${transA} transB=${transB} beta=${Number.isNaN(betaCase) ? '0 over NaN' : beta}`;
          cases.push({ label, transA, transB, M, N, K, alpha: 0.75, beta, A, lda, B, ldb, C, ldc, expected });
        }
      }
    }
  }
  return cases;
}

const native = kernelImplementations()[1];
const kernels = native.kernels as NativeKernels | null;

describe('gemm on every path agrees with the TypeScript reference', { skip: native.skip }, () => {
  let cases: Case[] | undefined; // built once, on first use, for all paths
  for (const path of kernels?.gemmPaths ?? []) {
    test(`AUTODIDACT_GEMM=${path}`, () => {
      cases ??= makeCases();
      let worst = 0;
      for (const c of cases) {
        const actual = Float32Array.from(c.C);
        kernels!.gemmUsing(c.transA, c.transB, c.M, c.N, c.K, c.alpha, c.A, c.lda, c.B, c.ldb, c.beta, actual, c.ldc, path);
        // float accumulation over K terms of magnitude ≤ 1; the reference sums in double
        const bound = 1e-6 * c.K + 1e-6;
        let diff = 0;
        for (let i = 0; i < actual.length; i++) diff = Math.max(diff, Math.abs(actual[i] - c.expected[i]));
        assert.ok(diff <= bound, `${path} ${c.label}: max |diff| ${diff} exceeds ${bound}`);
        worst = Math.max(worst, diff / bound);
      }
      console.log(`  ${path}: ${cases.length} cases, worst |diff| / bound = ${worst.toExponential(2)}`);
    });
  }

  test('the model products (matmulForward, matmulBackward) on the active path', () => {
    const rng = new Rng(3);
    const [N, C, OC] = [260, 72, 136]; // beyond the size where matmulBackward's two products run side by side
    const inp = randomArray(rng, N * C);
    const weight = randomArray(rng, OC * C);
    const dout = randomArray(rng, N * OC);
    const run = (k: typeof tsKernels) => {
      const out = new Float32Array(N * OC);
      const dinp = new Float32Array(N * C);
      const dweight = new Float32Array(OC * C);
      k.matmulForward(out, inp, weight, N, C, OC, false);
      k.matmulBackward(dinp, dweight, dout, inp, weight, N, C, OC, false);
      return { out, dinp, dweight };
    };
    const expected = run(tsKernels);
    const actual = run(kernels!);
    for (const name of ['out', 'dinp', 'dweight'] as const) assertClose(`${kernels!.gemmPath} ${name}`, actual[name], expected[name], 1e-5, 1e-5);
  });
});

describe('AUTODIDACT_GEMM chooses the path when the addon loads', { skip: native.skip }, () => {
  const loader = new URL('../../src/engine/kernels.js', import.meta.url).href;
  const loadWith = (value: string) => {
    const script = `import(${JSON.stringify(loader)}).then((k) => { const n = k.loadNativeKernels(); console.log(n ? n.gemmPath : 'error: ' + k.nativeKernelsError()); })`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('.', import.meta.url)),
      env: { ...process.env, AUTODIDACT_GEMM: value },
    });
    assert.equal(child.status, 0, child.stderr);
    return child.stdout.trim();
  };

  test('each runnable path by name, own, auto', () => {
    const names: Record<string, string> = { avx512: 'own-avx512', avx2: 'own-avx2', scalar: 'own-scalar', blas: kernels!.blas };
    for (const path of kernels!.gemmPaths) assert.equal(loadWith(path), names[path], `AUTODIDACT_GEMM=${path}`);
    assert.equal(loadWith('own'), kernels!.gemmPaths.includes('avx2') ? 'own-avx2' : 'own-scalar');
    // auto is ours even where a BLAS is built in: ours is deterministic (test/engine/determinism.test.ts)
    assert.equal(loadWith('auto'), loadWith('own'));
  });

  test('an unknown or unrunnable value refuses to load, saying why', () => {
    assert.match(loadWith('fastest'), /^error: .*AUTODIDACT_GEMM must be auto, own, blas, scalar, avx2 or avx512, got "fastest"/);
    if (!kernels!.gemmPaths.includes('blas')) assert.match(loadWith('blas'), /AUTODIDACT_GEMM is blas, but the addon was built without a BLAS/);
    for (const path of ['avx2', 'avx512'].filter((p) => !kernels!.gemmPaths.includes(p))) assert.match(loadWith(path), /which this CPU does not support/);
  });
});
