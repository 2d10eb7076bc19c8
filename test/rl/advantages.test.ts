/** Advantage estimators against hand-computed, table-driven cases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { advantageEstimators, bnpoAdvantages, computeAdvantages, logBetaDensity, logGamma, type AdvantageInput } from '../../src/learn/algorithms/advantages.js';
import { Registry } from '../../src/registry.js';
import { InvalidConfigError } from '../../src/errors.js';

const close = (actual: readonly number[], expected: readonly number[], tol = 1e-6, label = '') => {
  assert.equal(actual.length, expected.length, `${label}: length`);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `${label}[${i}]: ${a} vs ${expected[i]}`));
};

/** Groups of rewards → an AdvantageInput with unit lengths (or the given ones). */
const input = (groups: number[][], lengths?: number[]): AdvantageInput => ({
  rewards: groups.flat(),
  groups: groups.flatMap((g, i) => g.map(() => i)),
  lengths: lengths ?? groups.flat().map(() => 1),
});

describe('advantage estimators', () => {
  test('table-driven cases', () => {
    const s = 0.5 / Math.sqrt(1 / 3); // (r − 0.5) / std, std of [1,0,0,1] (Bessel) = √(1/3)
    const cases: { name: string; input: AdvantageInput; options?: Record<string, number>; expected: number[] }[] = [
      { name: 'grpo', input: input([[1, 0, 0, 1]]), options: { epsilon: 0 }, expected: [s, -s, -s, s] },
      { name: 'grpo', input: input([[1, 0, 0, 1], [1]]), options: { epsilon: 0 }, expected: [s, -s, -s, s, 1] }, // a group of one keeps r (verl)
      { name: 'dr-grpo', input: input([[1, 0, 0, 1], [0.5, 0]]), expected: [0.5, -0.5, -0.5, 0.5, 0.25, -0.25] },
      { name: 'rloo', input: input([[1, 0, 0, 0]]), expected: [1, -1 / 3, -1 / 3, -1 / 3] },
      { name: 'rloo', input: input([[3, 1], [2]]), expected: [2, -2, 2] },
      // tokens [1 | 0 0 0]: mean 0.25, var (0.75² + 3·0.25²)/3 = 0.25 → std 0.5
      { name: 'reinforce++', input: input([[1, 0]], [1, 3]), expected: [1.5, -0.5].map((v) => v * Math.sqrt(0.25 / (0.25 + 1e-8))) },
      // group means removed first: [0.5, −0.5 | 0, 0], tokens 1 each → mean 0, var 0.5/3
      { name: 'reinforce++-baseline', input: input([[1, 0], [1, 1]]), expected: [0.5, -0.5, 0, 0].map((v) => v / Math.sqrt(0.5 / 3 + 1e-8)) },
      { name: 'self-critical', input: { ...input([[1, 0], [0, 0]]), greedyRewards: new Map([[0, 1], [1, 0]]) }, expected: [0, -1, 0, 0] },
      { name: 'reinforce', input: input([[1, 0]]), options: { baseline: 0.5, scale: 2 }, expected: [1, -1] },
      { name: 'reinforce', input: input([[1, 0]]), expected: [1, 0] },
    ];
    for (const c of cases) close(computeAdvantages(c.name, c.input, c.options).advantages, c.expected, 1e-6, c.name);
  });

  test('a group whose rewards are all equal gets zero advantage (group baselines)', () => {
    for (const name of ['grpo', 'dr-grpo', 'rloo', 'reinforce++-baseline', 'bnpo']) {
      const { advantages } = computeAdvantages(name, input([[1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1]]));
      close(advantages.slice(0, 7), [0, 0, 0, 0, 0, 0, 0], 1e-9, name);
      assert.ok(advantages.slice(7).some((a) => a !== 0), `${name}: the mixed group has signal`);
    }
  });

  test('group statistics from the sampler override the batch’s (Reinforce-Ada’s global baselines)', () => {
    const statistics = new Map([[0, { mean: 0.25, std: 0.5, count: 8 }]]);
    close(computeAdvantages('dr-grpo', { ...input([[1, 0]]), groupStatistics: statistics }).advantages, [0.75, -0.25], 1e-12, 'dr-grpo');
    close(computeAdvantages('grpo', { ...input([[1, 0]]), groupStatistics: statistics }, { epsilon: 0 }).advantages, [1.5, -0.5], 1e-12, 'grpo');
    // RLOO over all 8: the mean of the other 7 is (0.25·8 − r) / 7.
    close(computeAdvantages('rloo', { ...input([[1, 0]]), groupStatistics: statistics }).advantages, [1 - 1 / 7, 0 - 2 / 7], 1e-12, 'rloo');
  });

  test('log Γ and the Beta density match known values', () => {
    assert.ok(Math.abs(logGamma(5) - Math.log(24)) < 1e-12);
    assert.ok(Math.abs(logGamma(0.5) - 0.5 * Math.log(Math.PI)) < 1e-12);
    assert.ok(Math.abs(logGamma(10.5) - Math.log(1133278.3889487855)) < 1e-10);
    assert.ok(Math.abs(Math.exp(logBetaDensity(0.5, 2, 2)) - 1.5) < 1e-12); // 6·x(1−x)
    assert.ok(Math.abs(Math.exp(logBetaDensity(0.5, 1.5, 1.5)) - 4 / Math.PI) < 1e-12); // √(x(1−x)) / B(3/2, 3/2), B = π/8
    assert.ok(Math.abs(Math.exp(logBetaDensity(0.3, 1, 1)) - 1) < 1e-12);
    assert.ok(Math.abs(Math.exp(logBetaDensity(0.2, 3, 1)) - 3 * 0.04) < 1e-12); // 3x²
  });

  test('bnpo: method-of-moments Beta fit and (r − p) / density', () => {
    // p = [0.5, 0.25]: m = 0.375, v = 0.03125, m(1−m)/v − 1 = 6.5 → a = 2.4375, b = 4.0625, α = 1 + a/3, β = 1 + b/3.
    const groups = [[1, 1, 0, 0], [1, 0, 0, 0]];
    const { advantages, alpha, beta } = bnpoAdvantages(groups.flat(), groups.flatMap((g, i) => g.map(() => i)));
    assert.ok(Math.abs(alpha - (1 + 2.4375 / 3)) < 1e-12 && Math.abs(beta - (1 + 4.0625 / 3)) < 1e-12, `α ${alpha} β ${beta}`);
    const f = (p: number) => Math.exp(logBetaDensity(p, alpha, beta));
    close(advantages, [0.5 / f(0.5), 0.5 / f(0.5), -0.5 / f(0.5), -0.5 / f(0.5), 0.75 / f(0.25), -0.25 / f(0.25), -0.25 / f(0.25), -0.25 / f(0.25)], 1e-9, 'bnpo');
    // A spread of success rates wider than Beta(1, 1)'s gives α = β = 1: REINFORCE with the group mean.
    const wide = [[1, 1, 1, 1], [0, 0, 0, 1]];
    const r = bnpoAdvantages(wide.flat(), [0, 0, 0, 0, 1, 1, 1, 1]);
    assert.equal(r.alpha, 1);
    close(r.advantages, [0, 0, 0, 0, -0.25, -0.25, -0.25, 0.75], 1e-12, 'bnpo α=β=1');
    assert.throws(() => bnpoAdvantages([2, 0], [0, 0]), /rewards in \[0, 1\]/);
  });

  test('bnpo advantage decomposition averages per-component advantages', () => {
    const parts = [[1, 1], [1, 0], [0, 0], [0, 1], [1, 1], [0, 0]];
    const groups = [0, 0, 0, 1, 1, 1];
    const rewards = parts.map((p) => p[0] + p[1]);
    const combined = computeAdvantages('bnpo', { rewards, groups, lengths: rewards.map(() => 1), rewardParts: parts }).advantages;
    const a0 = bnpoAdvantages(parts.map((p) => p[0]), groups).advantages;
    const a1 = bnpoAdvantages(parts.map((p) => p[1]), groups).advantages;
    close(combined, a0.map((a, i) => (a + a1[i]) / 2), 1e-12, 'decomposition');
  });

  test('unknown names list the valid ones; a taken name cannot be registered twice', () => {
    assert.throws(
      () => computeAdvantages('gpro', input([[1, 0]])),
      (error: Error) => error instanceof InvalidConfigError && /unknown advantage estimator "gpro"; valid: grpo, dr-grpo, rloo/.test(error.message) && /rl\.advantage/.test(error.message),
    );
    assert.throws(() => advantageEstimators.register('grpo', { description: '', estimate: () => ({ advantages: [] }) }), /already registered/);
    const registry = new Registry<number>('thing', 'x.thing');
    registry.register('a', 1);
    assert.throws(() => registry.register('a', 2), /"a" is already registered/);
  });

  test('self-critical needs the greedy rewards; mismatched inputs are refused', () => {
    assert.throws(() => computeAdvantages('self-critical', input([[1, 0]])), /greedy/);
    assert.throws(() => computeAdvantages('grpo', { rewards: [1, 0], groups: [0], lengths: [1, 1] }), /must match/);
    assert.throws(() => computeAdvantages('grpo', { rewards: [1, Number.NaN], groups: [0, 0], lengths: [1, 1] }), /reward 1 is NaN/);
  });
});
