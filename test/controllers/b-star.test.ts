/** `b-star`: the balance score on a probe set computed by hand, and the choice it makes. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { balanceScore, bStarController, type BStarState } from '../../src/controllers/b-star.js';
import type { ProbeRecord } from '../../src/spec/controller.js';
import { controllerInput, deepFreeze, defaultPlan } from './fixtures.js';

const sample = (taskId: string, temperature: number, completion: string, reward: number, correct: boolean): ProbeRecord => ({ taskId, temperature, completion, reward, correct });

/**
 * Two tasks at two temperatures, n* = 2. Balance bs = min(n′/n*, 1) · n′/n per
 * task (n distinct selected, n′ of them correct), averaged over the tasks.
 */
const probes: ProbeRecord[] = [
  // T = 0.5, task A: a1 three times (correct, 1.0), a2 wrong (0.6).
  //   τ = 0.5: {a1 ✓, a2 ✗} → ½ · ½ = 0.25;  τ = 0.9: {a1 ✓} → ½ · 1 = 0.5
  sample('A', 0.5, 'a1', 1, true), sample('A', 0.5, 'a1', 1, true), sample('A', 0.5, 'a1', 1, true), sample('A', 0.5, 'a2', 0.6, false),
  // T = 0.5, task B: all wrong. τ = 0.5: {b1 ✗} → 0; τ = 0.9: {b1 ✗} → 0
  sample('B', 0.5, 'b1', 0.95, false), sample('B', 0.5, 'b2', 0.3, false), sample('B', 0.5, 'b3', 0.2, false), sample('B', 0.5, 'b4', 0.1, false),
  // T = 1.0, task A: τ = 0.5: {a1 ✓, a3 ✓, a4 ✓, a5 ✗} → min(3/2, 1) · ¾ = 0.75;  τ = 0.9: {a1 ✓, a3 ✓} → 1 · 1 = 1
  sample('A', 1, 'a1', 1, true), sample('A', 1, 'a3', 0.92, true), sample('A', 1, 'a4', 0.7, true), sample('A', 1, 'a5', 0.55, false),
  // T = 1.0, task B: τ = 0.5: {b5 ✓, b6 ✗} → ½ · ½ = 0.25;  τ = 0.9: {b5 ✓, b6 ✗} → 0.25
  sample('B', 1, 'b5', 0.95, true), sample('B', 1, 'b6', 0.91, false), sample('B', 1, 'b7', 0.4, false), sample('B', 1, 'b8', 0.2, false),
  // At a temperature that is not a candidate: ignored.
  sample('A', 2, 'z', 1, true),
];

const options = { temperatures: [0.5, 1], thresholds: [0.5, 0.9], nStar: 2, probeSamples: 4 };

describe('b-star controller', () => {
  test('balance scores of every candidate, by hand, and the best one chosen', () => {
    const { plan, metrics, state } = bStarController(options).plan(controllerInput(3, [], { probes }));
    assert.deepEqual(metrics, {
      'bstar/balance/t=0.5/threshold=0.5': (0.25 + 0) / 2,
      'bstar/balance/t=0.5/threshold=0.9': (0.5 + 0) / 2,
      'bstar/balance/t=1/threshold=0.5': (0.75 + 0.25) / 2,
      'bstar/balance/t=1/threshold=0.9': (1 + 0.25) / 2,
      'bstar/probe_tasks': 2,
      'bstar/balance': 0.625,
      'bstar/temperature': 1,
      'bstar/threshold': 0.9,
    });
    assert.equal(plan.sampling.temperature, 1);
    assert.equal(plan.acceptThreshold, 0.9);
    assert.deepEqual(plan.sampling, { ...defaultPlan(3).sampling, temperature: 1 }, 'n and top-p untouched');
    assert.deepEqual(plan.setBy, { 'sampling.temperature': 'b-star', acceptThreshold: 'b-star' });
    assert.deepEqual(state, { temperature: 1, threshold: 0.9 });
  });

  test('declares its probe: the candidate temperatures, tasks and samples per task', () => {
    assert.deepEqual(bStarController(options).probe, { temperatures: [0.5, 1], tasks: 8, n: 4 });
  });

  test('a task with nothing selected scores 0 and stays in the mean; n* caps exploration', () => {
    const hard = [sample('A', 1, 'x', 1, true), sample('A', 1, 'y', 1, true), sample('B', 1, 'w', 0.2, false)];
    assert.equal(balanceScore(hard, 0.5, 2), (1 + 0) / 2);
    assert.equal(balanceScore(hard, 0.5, 4), (0.5 + 0) / 2);
    assert.equal(balanceScore([], 0.5, 2), undefined);
  });

  test('ties go to the first candidate: temperatures in order, then thresholds', () => {
    const flat = [sample('A', 0.5, 'a', 1, true), sample('A', 1, 'a', 1, true)];
    const { metrics } = bStarController({ temperatures: [1, 0.5], thresholds: [0.9, 0.5], nStar: 1, probeSamples: 1 }).plan(controllerInput(1, [], { probes: flat }));
    assert.equal(metrics['bstar/balance'], 1);
    assert.equal(metrics['bstar/temperature'], 1);
    assert.equal(metrics['bstar/threshold'], 0.9);
  });

  test('no probes: the last choice is kept, or the plan left as it is', () => {
    const controller = bStarController(options);
    const none = controller.plan(controllerInput<BStarState>(1, []));
    assert.deepEqual(none.plan, defaultPlan(1));
    assert.equal(none.state, null);
    assert.deepEqual(none.metrics, { 'bstar/probe_tasks': 0 });
    const kept = controller.plan(controllerInput<BStarState>(2, [], { state: { temperature: 0.5, threshold: 0.9 } }));
    assert.equal(kept.plan.sampling.temperature, 0.5);
    assert.equal(kept.plan.acceptThreshold, 0.9);
    assert.deepEqual(kept.metrics, { 'bstar/probe_tasks': 0, 'bstar/temperature': 0.5, 'bstar/threshold': 0.9 });
  });

  test('same input, same plan; the input is left as it was', () => {
    const input = deepFreeze(controllerInput<BStarState>(3, [], { probes }));
    const controller = bStarController(options);
    assert.deepEqual(controller.plan(input), controller.plan(input));
    assert.equal(input.plan.sampling.temperature, 1);
  });

  test('options, word for word', () => {
    assert.throws(() => bStarController({ nStar: 9 }, 'controllers.3'), { name: 'InvalidConfigError', message: 'Invalid config field `controllers.3.nStar`: 9 is above controllers.3.probeSamples = 8, so no query could reach a balance of 1; set nStar ≤ probeSamples' });
    assert.throws(() => bStarController({ temperatures: [] }, 'controllers.3'), { message: 'Invalid config field `controllers.3.temperatures`: is empty; give at least one candidate temperature' });
    assert.throws(() => bStarController({ thresholds: [1, 1] }, 'controllers.3'), { message: 'Invalid config field `controllers.3.thresholds`: lists 1 twice; give each candidate once' });
    assert.throws(() => bStarController({ temperatures: [-1] }, 'controllers.3'), { message: 'Invalid config field `controllers.3.temperatures.0`: must be ≥ 0, got number -1' });
  });
});
