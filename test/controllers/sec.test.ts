/** `sec`: the TD(0) values, Boltzmann probabilities and seeded category draws, checked by hand. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { learningGain, secController, type SecState } from '../../src/controllers/sec.js';
import type { RoundHistory } from '../../src/spec/controller.js';
import { controllerInput, deepFreeze, defaultPlan, finishedRound, taskRecord } from './fixtures.js';

const close = (actual: number, expected: number, label: string) => assert.ok(Math.abs(actual - expected) < 1e-6, `${label}: ${actual} ≠ ${expected}`);

/** Three rounds over arms d1, d2, d3 (α = 0.5, τ = 0.5, Q₀ = 0). */
const history: RoundHistory[] = [
  // r(d1) = mean(0.8, 0.4) = 0.6, r(d2) = 0.2; d3 not drawn.
  finishedRound(1, [taskRecord('a', 'd1', 4, 2, { meanAbsAdvantage: 0.8 }), taskRecord('b', 'd1', 4, 1, { meanAbsAdvantage: 0.4 }), taskRecord('c', 'd2', 4, 3, { meanAbsAdvantage: 0.2 })]),
  // Self-training round, no advantages: d1 tasks at 2/4 (2·√(½·½) = 1) and 4/4 (0): r(d1) = 0.5; d3 at 1/4: 2·√(3/16) = 0.8660254.
  finishedRound(2, [taskRecord('d', 'd1', 4, 2), taskRecord('e', 'd1', 4, 4), taskRecord('f', 'd3', 4, 1), taskRecord('skipped', 'd3', 0, 0), taskRecord('other', 'geometry', 4, 2)]),
  // r(d2) = 0.
  finishedRound(3, [taskRecord('g', 'd2', 4, 4, { meanAbsAdvantage: 0 })]),
];

/** Q and π by hand after each round (π ∝ exp(Q/0.5)). */
const expected = [
  { q: [0, 0, 0], p: [1 / 3, 1 / 3, 1 / 3] },
  // Q = (0.5·0.6, 0.5·0.2, 0) = (0.3, 0.1, 0); exp(0.6), exp(0.2), exp(0) = 1.822119, 1.221403, 1 over 4.043522.
  { q: [0.3, 0.1, 0], p: [0.4506267, 0.3020641, 0.2473092] },
  // Q(d1) = 0.5·0.5 + 0.5·0.3 = 0.4; Q(d2) kept; Q(d3) = 0.5·0.8660254 = 0.4330127.
  { q: [0.4, 0.1, 0.4330127], p: [0.3821074, 0.209705, 0.4081877] },
  // Q(d2) = 0.5·0 + 0.5·0.1 = 0.05.
  { q: [0.4, 0.05, 0.4330127], p: [0.389888, 0.1936126, 0.4164994] },
];

describe('sec controller', () => {
  const options = { categories: ['d1', 'd2', 'd3'], learningRate: 0.5, temperature: 0.5 };

  test('TD(0) values and Boltzmann probabilities over three rounds, by hand', () => {
    const sec = secController(options);
    let state: SecState | undefined;
    for (let round = 1; round <= 4; round++) {
      const output = sec.plan(controllerInput(round, history.slice(0, round - 1), { state, plan: defaultPlan(round, 12) }));
      ['d1', 'd2', 'd3'].forEach((category, i) => {
        close(output.metrics[`curriculum/q/${category}`], expected[round - 1].q[i], `round ${round} Q(${category})`);
        close(output.metrics[`curriculum/p/${category}`], expected[round - 1].p[i], `round ${round} π(${category})`);
      });
      assert.equal(output.state.through, round - 1);
      state = output.state;
    }
  });

  test('replaying the history without a state gives the same values as round-by-round updates', () => {
    const sec = secController(options);
    const replayed = sec.plan(controllerInput<SecState>(4, history));
    const stepped = sec.plan(controllerInput<SecState>(4, history, { state: { q: { d1: 0.4, d2: 0.1, d3: 0.4330127018922193 }, through: 2 } }));
    assert.deepEqual(replayed.state, stepped.state);
    assert.deepEqual(replayed.plan, stepped.plan);
  });

  test('each task’s category drawn from π: counts add up, follow π, and the draws are the arms drawn', () => {
    const sec = secController(options);
    const plan = defaultPlan(4, 20000);
    const { plan: planned, metrics } = sec.plan(controllerInput(4, history, { plan }));
    const counts = ['d1', 'd2', 'd3'].map((category) => metrics[`curriculum/selected/${category}`]);
    assert.equal(counts.reduce((a, b) => a + b, 0), 20000);
    counts.forEach((count, i) => assert.ok(Math.abs(count / 20000 - expected[3].p[i]) < 0.015, `share of arm ${i}: ${count / 20000} vs π ${expected[3].p[i]}`));
    assert.deepEqual(planned.draws, ['d1', 'd2', 'd3'].map((category, i) => ({ difficulty: i + 1, category, count: counts[i] })));
    assert.equal('frontier' in planned, false);
    assert.deepEqual(planned.setBy, { draws: 'sec', frontier: 'sec' });
  });

  test('same input and seed, same plan; another seed, other draws', () => {
    const sec = secController({ categories: ['algebra', 'geometry', 'number-theory'] });
    const input = deepFreeze(controllerInput<SecState>(2, history, { plan: defaultPlan(2, 16), seed: 11 }));
    const once = sec.plan(input);
    assert.deepEqual(sec.plan(input), once);
    assert.ok(once.plan.draws.every((draw) => draw.difficulty === undefined), 'family arms draw no difficulty');
    const others = [12, 13, 14, 15].map((seed) => sec.plan({ ...input, seed }).plan.draws);
    assert.ok(others.some((draws) => JSON.stringify(draws) !== JSON.stringify(once.plan.draws)), 'the seed picks the draws');
  });

  test('learning gain: mean |advantage| when recorded, else 2·√(p̂(1 − p̂))', () => {
    assert.equal(learningGain(taskRecord('a', 'd1', 4, 2, { meanAbsAdvantage: 0.3 })), 0.3);
    assert.equal(learningGain(taskRecord('a', 'd1', 4, 2)), 1);
    assert.equal(learningGain(taskRecord('a', 'd1', 4, 0)), 0);
    assert.equal(learningGain(taskRecord('a', 'd1', 4, 4)), 0);
    close(learningGain(taskRecord('a', 'd1', 4, 1)), Math.sqrt(3) / 2, 'p̂ = ¼');
  });

  test('options, word for word', () => {
    assert.throws(() => secController({} as never, 'controllers.0'), { name: 'InvalidConfigError', message: 'Invalid config field `controllers.0.categories`: is required (expected array)' });
    assert.throws(() => secController({ categories: [] }, 'controllers.0'), { message: 'Invalid config field `controllers.0.categories`: is empty; give at least one arm, e.g. `[d1, d2, d3]`' });
    assert.throws(() => secController({ categories: ['a', 'a'] }, 'controllers.0'), { message: 'Invalid config field `controllers.0.categories`: lists "a" twice; give each arm once' });
    assert.throws(() => secController({ categories: ['a'], temperature: 0 }, 'controllers.0'), { message: 'Invalid config field `controllers.0.temperature`: must be > 0, got number 0' });
    assert.throws(() => secController({ categories: ['a'], learningRate: 1.5 }, 'controllers.0'), { message: 'Invalid config field `controllers.0.learningRate`: must be ≤ 1, got number 1.5' });
  });
});
