/** Policy losses, KL penalties and aggregation: hand-computed cases and d(loss)/d(logprob) by finite differences. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../src/engine/random.js';
import { aggregationWeights, DEFAULT_LOSS_OPTIONS, klPenalties, policyLosses, policyLossFunction, type RlExample, type SequenceInput } from '../../src/learn/algorithms/losses.js';
import { InvalidConfigError } from '../../src/errors.js';

const seq = (logprob: number, old: number, advantage: number, pass = advantage > 0, passRate = 0.5): SequenceInput => ({ logprobs: [logprob], oldLogprobs: [old], advantage, pass, passRate });
const one = (name: string, s: SequenceInput, options = DEFAULT_LOSS_OPTIONS) => {
  const terms = policyLosses.get(name).compute(s, options);
  return { value: terms.values[0], grad: terms.grads[0], clipped: terms.clipped };
};
const near = (a: number, b: number, label: string, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${label}: ${a} vs ${b}`);

describe('policy losses', () => {
  test('ppo-clip: each branch of the clipped surrogate (ε 0.2, dual clip 3)', () => {
    const cases: [number, number, number, number, boolean][] = [
      // [ratio, advantage, value, grad, clipped]
      [1, 1, -1, -1, false],
      [1.5, 1, -1.2, 0, true], // above 1 + ε with A > 0: clipped
      [0.5, 1, -0.5, -0.5, false], // below 1 − ε with A > 0: the unclipped branch is larger
      [0.5, -1, 0.8, 0, true], // below 1 − ε with A < 0: clipped
      [1.1, -1, 1.1, 1.1, false],
      [2, -1, 2, 2, false], // above 1 + ε with A < 0: unclipped, below the dual bound
      [4, -1, 3, 0, true], // dual clip: −A·c
      [1.3, 0, 0, 0, false],
    ];
    for (const [ratio, A, value, grad, clipped] of cases) {
      const r = one('ppo-clip', seq(Math.log(ratio), 0, A));
      near(r.value, value, `value ρ=${ratio} A=${A}`, 1e-12);
      near(r.grad, grad, `grad ρ=${ratio} A=${A}`, 1e-12);
      assert.equal(r.clipped, clipped ? 1 : 0, `clipped ρ=${ratio} A=${A}`);
    }
    // clip-higher: ε_high 0.28 lets ρ = 1.25 through for A > 0.
    near(one('ppo-clip', seq(Math.log(1.25), 0, 1), { ...DEFAULT_LOSS_OPTIONS, clipHigh: 0.28 }).grad, -1.25, 'clip-higher', 1e-12);
  });

  test('pg, psr, nsr, w-reinforce: the coefficient of log π, and which completions can contribute', () => {
    near(one('pg', seq(-0.7, -0.2, 0.5)).value, 0.35, 'pg value');
    near(one('pg', seq(-0.7, -0.2, 0.5)).grad, -0.5, 'pg grad');
    // On-policy (ρ = 1): psr = −log π on passes, nsr = +log π on fails, w-reinforce = −λ log π / +log π.
    near(one('psr', seq(-0.3, -0.3, 0, true)).grad, -1, 'psr');
    near(one('nsr', seq(-0.3, -0.3, 0, false)).grad, 1, 'nsr');
    near(one('w-reinforce', seq(-0.3, -0.3, 0, true)).grad, -0.1, 'w-reinforce pass');
    near(one('w-reinforce', seq(-0.3, -0.3, 0, false)).grad, 1, 'w-reinforce fail');
    near(one('w-reinforce', seq(-0.3, -0.3, 0, true), { ...DEFAULT_LOSS_OPTIONS, lambda: 0.5 }).grad, -0.5, 'λ');
    // The completions psr / nsr ignore have A = 0 (they stay in the aggregation's denominator, as in RLVR-Decomposed).
    for (const [name, pass] of [['psr', false], ['nsr', true]] as const) {
      const r = one(name, seq(-0.3, -0.3, 0, pass));
      assert.deepEqual([Math.abs(r.value), Math.abs(r.grad), r.clipped], [0, 0, 0], name);
    }
    assert.equal(policyLosses.get('psr').contributes!({ advantage: 0, pass: false }), false);
    assert.equal(policyLosses.get('psr').contributes!({ advantage: 0, pass: true }), true);
    assert.equal(policyLosses.get('nsr').contributes!({ advantage: 0.5, pass: true }), false);
    assert.equal(policyLosses.get('ppo-clip').contributes!({ advantage: 0, pass: true }), false);
    assert.equal(policyLosses.get('ppo-clip').contributes!({ advantage: -0.1, pass: true }), true);
    assert.equal(policyLosses.get('w-reinforce').contributes, undefined);
    assert.equal(policyLosses.get('nft').contributes, undefined);
    // Wherever contributes() is false the loss and its gradient are exactly 0 (so leaving the completion out changes nothing).
    for (const name of policyLosses.names()) {
      const rule = policyLosses.get(name).contributes;
      if (!rule) continue;
      for (const [advantage, pass] of [[0, true], [0, false], [1, true], [-1, false], [0.5, false]] as const) {
        if (rule({ advantage, pass })) continue;
        const terms = policyLosses.get(name).compute({ logprobs: [-0.4, -1.2], oldLogprobs: [-0.5, -1], advantage, pass, passRate: 0.5 }, DEFAULT_LOSS_OPTIONS);
        assert.deepEqual([...terms.values, ...terms.grads].map(Math.abs), [0, 0, 0, 0], `${name} A=${advantage} pass=${pass}`);
      }
    }
  });

  test('topr: positives are plain REINFORCE; negatives are scaled by the truncated sequence ratio', () => {
    const positive = policyLosses.get('topr').compute({ logprobs: [-1, -2], oldLogprobs: [-3, -3], advantage: 1, pass: true, passRate: 0.5 }, DEFAULT_LOSS_OPTIONS);
    assert.deepEqual([...positive.grads], [-1, -1]); // no importance ratio for positives even far off-policy
    // Negative, π/μ = exp((−1 − −0.5) + (−2 − −1.5)) = e^−1 < 1: coefficient e^−1 · A.
    const tapered = policyLosses.get('topr').compute({ logprobs: [-1, -2], oldLogprobs: [-0.5, -1.5], advantage: -1, pass: false, passRate: 0.5 }, DEFAULT_LOSS_OPTIONS);
    near(tapered.grads[0], Math.exp(-1), 'taper');
    near(tapered.values[1], Math.exp(-1) * -2, 'value');
    // Negative with π/μ > 1: the ratio is truncated at 1.
    const truncated = policyLosses.get('topr').compute({ logprobs: [-0.1], oldLogprobs: [-2], advantage: -1, pass: false, passRate: 0.5 }, DEFAULT_LOSS_OPTIONS);
    near(truncated.grads[0], 1, 'truncated at 1');
  });

  test('nft: positives raise the likelihood ratio, negatives follow the implicit negative policy, weighted by 1 − r̂', () => {
    // r̂ = 0.25 → ω = 0.75. Positive: value −ω log ρ, grad −ω.
    const pos = one('nft', seq(Math.log(0.5), 0, 0, true, 0.25));
    near(pos.value, -0.75 * Math.log(0.5), 'positive value');
    near(pos.grad, -0.75, 'positive grad');
    // Negative at ρ = 0.5: proxy = (1 − 0.25·0.5)/(1 − 0.25) = 7/6 > 1; value −ω log(7/6); grad ω r̂ ρ / ((1 − r̂) proxy).
    const neg = one('nft', seq(Math.log(0.5), 0, 0, false, 0.25));
    near(neg.value, -0.75 * Math.log(7 / 6), 'negative value');
    near(neg.grad, (0.75 * 0.25 * 0.5) / (0.75 * (7 / 6)), 'negative grad');
    // Negative at ρ = 2: proxy = 1/3 < c = 1 → the value is floored (0) and the gradient passes straight through.
    const floored = one('nft', seq(Math.log(2), 0, 0, false, 0.25));
    near(floored.value, 0, 'floored value');
    near(floored.grad, (0.75 * 0.25 * 2) / 0.75, 'straight-through grad');
    assert.equal(floored.clipped, 1);
    // r̂ is clamped to [0.02, 0.98].
    near(one('nft', seq(0, 0, 0, true, 1)).grad, -0.02, 'clamped r̂', 1e-12);
  });

  test('d(value)/d(logprob) matches finite differences wherever the loss is smooth', () => {
    const rng = new Rng(7, 1);
    const h = 1e-6;
    const options = { ...DEFAULT_LOSS_OPTIONS, nftClamp: 1e-3 }; // a low floor keeps NFT's negatives in the smooth region
    for (const name of policyLosses.names()) {
      for (let trial = 0; trial < 50; trial++) {
        const n = 1 + Math.floor(rng.next() * 5);
        const logprobs = Array.from({ length: n }, () => -0.05 - rng.next() * 3);
        const oldLogprobs = logprobs.map((lp) => lp + (rng.next() - 0.5) * 0.3);
        const pass = rng.next() < 0.5;
        const s: SequenceInput = { logprobs, oldLogprobs, advantage: (rng.next() - 0.5) * 4, pass, passRate: 0.1 + rng.next() * 0.8 };
        if (name === 'topr' && s.advantage < 0) s.oldLogprobs = logprobs.map((lp) => lp - 1); // ρ_seq > 1: no taper, which has no gradient by design
        const terms = policyLosses.get(name).compute(s, options);
        if (terms.clipped) continue; // clipped tokens have no gradient by design
        for (let t = 0; t < n; t++) {
          const shifted = (delta: number) => policyLosses.get(name).compute({ ...s, logprobs: logprobs.map((lp, k) => (k === t ? lp + delta : lp)) }, options).values[t];
          const numeric = (shifted(h) - shifted(-h)) / (2 * h);
          assert.ok(Math.abs(numeric - terms.grads[t]) < 1e-5 * Math.max(1, Math.abs(numeric)), `${name} token ${t}: analytic ${terms.grads[t]} numeric ${numeric}`);
        }
      }
    }
  });

  test('unknown losses and KL penalties list the valid names', () => {
    assert.throws(() => policyLosses.get('ppo'), (e: Error) => e instanceof InvalidConfigError && /unknown policy loss "ppo"; valid: pg, ppo-clip, topr, psr, nsr, w-reinforce, nft/.test(e.message));
    assert.throws(() => klPenalties.get('k4'), /unknown KL penalty "k4"; valid: k1, k2, k3/);
  });
});

describe('KL penalties', () => {
  test('values and gradients of k1, k2, k3, and finite differences', () => {
    near(klPenalties.get('k1').compute(-1, -1.5).value, 0.5, 'k1');
    near(klPenalties.get('k2').compute(-1, -1.5).value, 0.125, 'k2');
    // k3 at log π − log π_ref = x: e^−x + x − 1.
    near(klPenalties.get('k3').compute(-1, -1.5).value, Math.exp(-0.5) + 0.5 - 1, 'k3');
    for (const name of ['k1', 'k2', 'k3']) {
      near(klPenalties.get(name).compute(-0.7, -0.7).value, 0, `${name} at equal`);
      for (const [lp, ref] of [[-1, -1.5], [-2, -0.3], [-0.2, -0.25]]) {
        const h = 1e-6;
        const numeric = (klPenalties.get(name).compute(lp + h, ref).value - klPenalties.get(name).compute(lp - h, ref).value) / (2 * h);
        near(klPenalties.get(name).compute(lp, ref).grad, numeric, `${name} grad at ${lp},${ref}`, 1e-6);
      }
    }
    // k3 is clamped at 10 (verl's low_var_kl): no gradient beyond.
    assert.deepEqual(klPenalties.get('k3').compute(-20, 0), { value: 10, grad: 0 });
  });
});

describe('aggregation and the batch loss function', () => {
  test('weights of each aggregation mode', () => {
    const lengths = [2, 4];
    assert.deepEqual(aggregationWeights(lengths, 'token-mean', 0), [1 / 6, 1 / 6]);
    assert.deepEqual(aggregationWeights(lengths, 'seq-mean-token-mean', 0), [1 / 4, 1 / 8]);
    assert.deepEqual(aggregationWeights(lengths, 'seq-mean-token-sum', 0), [1 / 2, 1 / 2]);
    assert.deepEqual(aggregationWeights(lengths, 'seq-mean-token-sum-norm', 10), [1 / 20, 1 / 20]);
    assert.throws(() => aggregationWeights(lengths, 'seq-mean-token-sum-norm', 0), /positive normalizing length/);
  });

  test('the LossFunction’s gradient is d(loss)/d(logprob) of the aggregated loss, zero on prompt positions', () => {
    const rng = new Rng(3, 2);
    const examples: RlExample[] = [3, 5, 2].map((n, i) => {
      const prompt = 2 + i;
      return {
        datum: { inputTokens: new Array(prompt + n).fill(1), targetTokens: new Array(prompt + n).fill(1) },
        oldLogprobs: Array.from({ length: n }, () => -0.5 - rng.next()),
        refLogprobs: Array.from({ length: n }, () => -0.5 - rng.next()),
        advantage: (rng.next() - 0.5) * 2,
        pass: i === 0,
        passRate: 0.4,
      };
    });
    const logprobs = examples.map((e) => Float32Array.from({ length: e.datum.inputTokens.length }, (_, t) => (t < e.datum.inputTokens.length - e.oldLogprobs.length ? -9 : e.oldLogprobs[t - (e.datum.inputTokens.length - e.oldLogprobs.length)] + (rng.next() - 0.5) * 0.1)));
    for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'] as const) {
      for (const loss of ['ppo-clip', 'w-reinforce', 'nft']) {
        const weights = aggregationWeights(examples.map((e) => e.oldLogprobs.length), aggregation, 8);
        const fn = policyLossFunction(examples, weights, { loss, options: { ...DEFAULT_LOSS_OPTIONS, clipLow: 10, clipHigh: 10, nftClamp: 1e-3 }, kl: { penalty: 'k3', coef: 0.3 } });
        const result = fn(logprobs, examples.map((e) => e.datum));
        const h = 1e-3; // logprobs are float32: a larger step
        examples.forEach((e, i) => {
          for (let t = 0; t < logprobs[i].length; t++) {
            const bumped = (delta: number) => fn(logprobs.map((row, k) => (k === i ? row.map((v, u) => (u === t ? v + delta : v)) : row)), examples.map((x) => x.datum)).loss;
            const numeric = (bumped(h) - bumped(-h)) / (2 * h);
            assert.ok(Math.abs(numeric - result.grad[i][t]) < 2e-3 * Math.max(1, Math.abs(numeric)), `${aggregation}/${loss} example ${i} position ${t}: ${result.grad[i][t]} vs ${numeric}`);
          }
        });
        assert.ok(result.metrics!['policy/kl_sum'] > 0);
        assert.equal(result.metrics!['policy/tokens'], 10);
      }
    }
  });
});
