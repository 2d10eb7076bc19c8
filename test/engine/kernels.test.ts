/**
 * Every backward kernel against finite differences of its forward kernel, for
 * the TypeScript and the native implementation; then native against TypeScript.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../src/engine/random.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { tsKernels } from '../../src/engine/kernels-ts.js';
import { assertClose, kernelImplementations, randomArray } from '../helpers.js';

interface GradCase {
  name: string;
  /** Differentiable inputs; `fixed` holds the rest. */
  inputs: () => Record<string, Float32Array>;
  /** Runs the forward kernel; returns the output (fresh array). */
  forward: (k: Kernels, x: Record<string, Float32Array>) => Float32Array;
  /** Runs the backward kernel for upstream gradient `dout`; returns d/d(input) per input name. */
  backward: (k: Kernels, x: Record<string, Float32Array>, dout: Float32Array) => Record<string, Float32Array>;
}

const rng = new Rng(7);
const [B, T, C, H, F, V] = [2, 5, 8, 2, 6, 7];
const N = B * T;
const positions = Int32Array.from({ length: N }, (_, n) => n % T);
const ropeTables = (() => {
  const half = C / H / 2;
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) for (let i = 0; i < half; i++) [cos[t * half + i], sin[t * half + i]] = [Math.cos(t * 0.7 ** i), Math.sin(t * 0.7 ** i)];
  return { cos, sin };
})();
const tokens = Int32Array.from({ length: N }, (_, n) => (n * 5 + 1) % V);
const copy = (x: Float32Array) => Float32Array.from(x);

const cases: GradCase[] = [
  {
    name: 'matmul',
    inputs: () => ({ inp: randomArray(rng, N * C), weight: randomArray(rng, F * C) }),
    forward: (k, x) => {
      const out = new Float32Array(N * F);
      k.matmulForward(out, x.inp, x.weight, N, C, F, false);
      return out;
    },
    backward: (k, x, dout) => {
      const dinp = new Float32Array(N * C);
      const dweight = new Float32Array(F * C);
      k.matmulBackward(dinp, dweight, dout, x.inp, x.weight, N, C, F, false);
      return { inp: dinp, weight: dweight };
    },
  },
  {
    name: 'rmsnorm',
    inputs: () => ({ inp: randomArray(rng, N * C), weight: randomArray(rng, C) }),
    forward: (k, x) => {
      const out = new Float32Array(N * C);
      k.rmsnormForward(out, new Float32Array(N), x.inp, x.weight, N, C, 1e-5);
      return out;
    },
    backward: (k, x, dout) => {
      const rstd = new Float32Array(N);
      k.rmsnormForward(new Float32Array(N * C), rstd, x.inp, x.weight, N, C, 1e-5);
      const dinp = new Float32Array(N * C);
      const dweight = new Float32Array(C);
      k.rmsnormBackward(dinp, dweight, dout, x.inp, x.weight, rstd, N, C);
      return { inp: dinp, weight: dweight };
    },
  },
  {
    name: 'rope',
    inputs: () => ({ qkv: randomArray(rng, N * 3 * C) }),
    forward: (k, x) => {
      const out = copy(x.qkv);
      k.rope(out, positions, ropeTables.cos, ropeTables.sin, N, C, H, false);
      return out;
    },
    backward: (k, _x, dout) => {
      const d = copy(dout);
      k.rope(d, positions, ropeTables.cos, ropeTables.sin, N, C, H, true);
      return { qkv: d };
    },
  },
  {
    name: 'attention',
    inputs: () => ({ qkv: randomArray(rng, N * 3 * C) }),
    forward: (k, x) => {
      const out = new Float32Array(N * C);
      k.attentionForward(out, new Float32Array(B * H * T * T), x.qkv, B, T, C, H);
      return out;
    },
    backward: (k, x, dout) => {
      const att = new Float32Array(B * H * T * T);
      k.attentionForward(new Float32Array(N * C), att, x.qkv, B, T, C, H);
      const dqkv = randomArray(rng, N * 3 * C); // garbage: the kernel must overwrite it
      k.attentionBackward(dqkv, dout, x.qkv, att, B, T, C, H);
      return { qkv: dqkv };
    },
  },
  {
    name: 'swiglu',
    inputs: () => ({ gateUp: randomArray(rng, N * 2 * F, 3) }),
    forward: (k, x) => {
      const out = new Float32Array(N * F);
      k.swigluForward(out, x.gateUp, N, F);
      return out;
    },
    backward: (k, x, dout) => {
      const d = randomArray(rng, N * 2 * F);
      k.swigluBackward(d, dout, x.gateUp, N, F);
      return { gateUp: d };
    },
  },
  {
    name: 'embedding',
    inputs: () => ({ table: randomArray(rng, V * C) }),
    forward: (k, x) => {
      const out = new Float32Array(N * C);
      k.embeddingForward(out, tokens, x.table, N, C);
      return out;
    },
    backward: (k, _x, dout) => {
      const dtable = new Float32Array(V * C);
      k.embeddingBackward(dtable, dout, tokens, N, C);
      return { table: dtable };
    },
  },
  {
    name: 'logprob',
    inputs: () => ({ logits: randomArray(rng, N * V, 2) }),
    forward: (k, x) => {
      const logprobs = new Float32Array(N);
      k.logprobForward(copy(x.logits), logprobs, null, tokens, N, V);
      return logprobs;
    },
    backward: (k, x, dout) => {
      const probs = copy(x.logits);
      k.logprobForward(probs, new Float32Array(N), null, tokens, N, V);
      k.logprobBackward(probs, dout, tokens, N, V);
      return { logits: probs };
    },
  },
];

/** Central differences of L = Σ dout ⊙ forward(x) with respect to every element of every input. */
function numericGradients(k: Kernels, c: GradCase, x: Record<string, Float32Array>, dout: Float32Array, h: number) {
  const loss = () => {
    const out = c.forward(k, x);
    let sum = 0;
    for (let i = 0; i < out.length; i++) sum += dout[i] * out[i];
    return sum;
  };
  const grads: Record<string, Float32Array> = {};
  for (const [name, tensor] of Object.entries(x)) {
    grads[name] = new Float32Array(tensor.length);
    for (let i = 0; i < tensor.length; i++) {
      const saved = tensor[i];
      tensor[i] = saved + h;
      const plus = loss();
      tensor[i] = saved - h;
      const minus = loss();
      tensor[i] = saved;
      grads[name][i] = (plus - minus) / (2 * h);
    }
  }
  return grads;
}

for (const impl of kernelImplementations()) {
  describe(`${impl.name} kernels: finite-difference gradient checks`, { skip: impl.skip }, () => {
    for (const c of cases) {
      test(c.name, () => {
        const k = impl.kernels!;
        const x = c.inputs();
        const dout = randomArray(rng, c.forward(k, x).length);
        const analytic = c.backward(k, x, dout);
        const numeric = numericGradients(k, c, x, dout, 1e-2);
        for (const name of Object.keys(x)) assertClose(`${c.name} d/d${name}`, analytic[name], numeric[name], 1e-3, 1e-4);
      });
    }
  });
}

for (const impl of kernelImplementations()) {
  test(`${impl.name} attentionCached over a prefilled cache equals causal attention`, { skip: impl.skip }, () => {
    const k = impl.kernels!;
    const qkv = randomArray(rng, N * 3 * C);
    const expected = new Float32Array(N * C);
    k.attentionForward(expected, new Float32Array(B * H * T * T), qkv, B, T, C, H);
    // Sequence b lives in cache slot 1 - b; rows come in any order across slots.
    const maxT = T + 3;
    const keys = new Float32Array(2 * maxT * C);
    const values = new Float32Array(2 * maxT * C);
    const slots = Int32Array.from({ length: N }, (_, n) => 1 - Math.floor(n / T));
    const actual = new Float32Array(N * C);
    k.attentionCached(actual, Float32Array.from(qkv), keys, values, slots, positions, N, C, H, maxT);
    assertClose('prefill through the cache', actual, expected, 1e-5, 1e-6);
    // Decoding one more row per sequence attends to its whole cached prefix.
    const next = randomArray(rng, 2 * 3 * C);
    const decoded = new Float32Array(2 * C);
    k.attentionCached(decoded, next, keys, values, Int32Array.of(1, 0), Int32Array.of(T, T), 2, C, H, maxT);
    const full = new Float32Array(2 * (T + 1) * 3 * C);
    for (let b = 0; b < 2; b++) {
      full.set(qkv.subarray(b * T * 3 * C, (b + 1) * T * 3 * C), b * (T + 1) * 3 * C);
      full.set(next.subarray(b * 3 * C, (b + 1) * 3 * C), (b * (T + 1) + T) * 3 * C);
    }
    const reference = new Float32Array(2 * (T + 1) * C);
    k.attentionForward(reference, new Float32Array(2 * H * (T + 1) * (T + 1)), full, 2, T + 1, C, H);
    const lastRows = Float32Array.from([...reference.subarray(T * C, (T + 1) * C), ...reference.subarray((2 * T + 1) * C, (2 * T + 2) * C)]);
    assertClose('decode step through the cache', decoded, lastRows, 1e-5, 1e-6);
  });
}

const native = kernelImplementations()[1];
describe('native kernels agree with the TypeScript reference', { skip: native.skip }, () => {
  for (const c of cases) {
    test(c.name, () => {
      const x = c.inputs();
      const outTs = c.forward(tsKernels, x);
      const outNative = c.forward(native.kernels!, x);
      assertClose(`${c.name} forward`, outNative, outTs, 1e-5, 1e-6);
      const dout = randomArray(rng, outTs.length);
      const gradTs = c.backward(tsKernels, x, dout);
      const gradNative = c.backward(native.kernels!, x, dout);
      for (const name of Object.keys(x)) assertClose(`${c.name} backward d/d${name}`, gradNative[name], gradTs[name], 1e-5, 1e-6);
    });
  }

  test('gemm, all transpose combinations, beyond the parallel threshold', () => {
    const [M, Nn, K] = [150, 140, 130];
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const A = randomArray(rng, M * K);
        const Bm = randomArray(rng, K * Nn);
        const expected = randomArray(rng, M * Nn);
        const actual = copy(expected);
        tsKernels.gemm(transA, transB, M, Nn, K, 0.5, A, transA ? M : K, Bm, transB ? K : Nn, 1, expected, Nn);
        native.kernels!.gemm(transA, transB, M, Nn, K, 0.5, A, transA ? M : K, Bm, transB ? K : Nn, 1, actual, Nn);
        assertClose(`gemm transA=${transA} transB=${transB}`, actual, expected, 1e-5, 1e-5);
      }
    }
  });

  test('matmulBackward beyond the size where its two products run side by side', () => {
    const [n, c, oc] = [160, 140, 130];
    const dout = randomArray(rng, n * oc);
    const inp = randomArray(rng, n * c);
    const weight = randomArray(rng, oc * c);
    for (const accumulate of [false, true]) {
      const start = randomArray(rng, n * c);
      const startWeight = randomArray(rng, oc * c);
      const run = (k: Kernels) => {
        const dinp = Float32Array.from(start);
        const dweight = Float32Array.from(startWeight);
        k.matmulBackward(dinp, dweight, dout, inp, weight, n, c, oc, accumulate);
        return { dinp, dweight };
      };
      const expected = run(tsKernels);
      const actual = run(native.kernels!);
      assertClose(`large matmulBackward dinp (accumulate=${accumulate})`, actual.dinp, expected.dinp, 1e-5, 1e-5);
      assertClose(`large matmulBackward dweight (accumulate=${accumulate})`, actual.dweight, expected.dweight, 1e-5, 1e-5);
    }
  });

  test('attention with T beyond one causal block', () => {
    const [b, t, c, h] = [2, 70, 16, 2];
    const qkv = randomArray(rng, b * t * 3 * c);
    const run = (k: Kernels) => {
      const out = new Float32Array(b * t * c);
      const att = new Float32Array(b * h * t * t);
      k.attentionForward(out, att, qkv, b, t, c, h);
      const dout = new Float32Array(b * t * c).map((_, i) => Math.sin(i));
      const dqkv = new Float32Array(b * t * 3 * c);
      k.attentionBackward(dqkv, dout, qkv, att, b, t, c, h);
      return { out, dqkv };
    };
    const reference = run(tsKernels);
    const actual = run(native.kernels!);
    assertClose('attention forward T=70', actual.out, reference.out, 1e-5, 1e-6);
    assertClose('attention backward T=70', actual.dqkv, reference.dqkv, 1e-5, 1e-6);
  });

  test('adamw and sumSquares', () => {
    const n = 20000;
    const grad = randomArray(rng, n);
    const gradA = Float32Array.from(grad);
    const gradB = Float32Array.from(grad);
    const state = () => ({ p: randomArray(new Rng(3), n), m: randomArray(new Rng(4), n, 0.1), v: randomArray(new Rng(5), n, 0.1).map(Math.abs) });
    const a = state();
    const b = state();
    const ranges = Int32Array.of(100, 5000, 7000, 19000);
    tsKernels.adamw(a.p, gradA, a.m, a.v, 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.19, 0.0975, 0.5, ranges);
    native.kernels!.adamw(b.p, gradB, b.m, b.v, 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.19, 0.0975, 0.5, ranges);
    assertClose('adamw params', b.p, a.p, 1e-5, 1e-6);
    assertClose('adamw m', b.m, a.m, 1e-5, 1e-7);
    assertClose('adamw v', b.v, a.v, 1e-5, 1e-7);
    assert.ok(gradA.every((g) => g === 0) && gradB.every((g) => g === 0), 'adamw zeroes the gradients');
    assertClose('sumSquares', [native.kernels!.sumSquares(grad)], [tsKernels.sumSquares(grad)], 1e-6);
  });
});

describe('native kernels refuse bad arguments instead of touching memory out of bounds', { skip: native.skip }, () => {
  test('wrong types, short buffers and out-of-range ids raise RangeError', () => {
    const k = native.kernels!;
    assert.throws(() => k.sumSquares(new Float64Array(4) as unknown as Float32Array), /`x` must be a Float32Array/);
    assert.throws(() => k.adamw(new Float32Array(64), new Float32Array(4), new Float32Array(64), new Float32Array(64), 1e-3, 0.9, 0.95, 1e-8, 0, 0.1, 0.05, 1, null), /`grad` has 4 elements, needs 64/);
    assert.throws(() => k.embeddingForward(new Float32Array(2 * 4), Int32Array.of(0, 9), new Float32Array(5 * 4), 2, 4), /`tokens` holds 9 at 1, outside \[0, 5\)/);
    assert.throws(() => k.logprobForward(new Float32Array(6), new Float32Array(2), null, Int32Array.of(0, 3), 2, 3), /`targets` holds 3/);
    assert.throws(() => k.matmulForward(new Float32Array(3), new Float32Array(8), new Float32Array(8), 2, 4, 2, false), /`out` has 3 elements, needs 4/);
    assert.throws(() => k.attentionCached(new Float32Array(8), new Float32Array(24), new Float32Array(32), new Float32Array(32), Int32Array.of(1), Int32Array.of(0), 1, 8, 2, 4), /`slots` holds 1/);
    assert.throws(() => k.adamw(new Float32Array(8), new Float32Array(8), new Float32Array(8), new Float32Array(8), 1e-3, 0.9, 0.95, 1e-8, 0, 0.1, 0.05, 1, Int32Array.of(4, 2)), /decayRanges/);
  });

  test('resizing the pool between kernels never loses work or hangs', () => {
    const k = native.kernels!;
    const threads = k.threads();
    const x = new Float32Array(1 << 20).fill(1);
    try {
      for (let i = 0; i < 50; i++) {
        k.setThreads(1 + (i % 3));
        assert.equal(k.sumSquares(x), 1 << 20);
      }
      assert.throws(() => k.setThreads(0), /threads/);
    } finally {
      k.setThreads(threads);
    }
  });
});

