/** `learnability`: p(1 − p) weights of recent solve rates, a prior for untried tasks, a floor. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { learnabilityController, recentSolveRates } from '../../src/controllers/learnability.js';
import { controllerInput, deepFreeze, finishedRound, taskRecord } from './fixtures.js';

const history = [
  finishedRound(1, [taskRecord('a', 'd1', 4, 0), taskRecord('b', 'd1', 4, 1)]),
  // `d` twice in one round: its records add up (0 of 4 in all).
  finishedRound(2, [taskRecord('a', 'd1', 4, 2), taskRecord('d', 'd2', 2, 0), taskRecord('d', 'd2', 2, 0)]),
  finishedRound(3, [taskRecord('a', 'd1', 4, 4), taskRecord('c', 'd2', 4, 4), taskRecord('untried', 'd2', 0, 0)]),
];

describe('learnability controller', () => {
  test('solve rates over the last K rounds each task was tried', () => {
    // a: rounds 2 and 3 (K = 2): 6 of 8; b: 1 of 4; c: 4 of 4; d: 0 of 4; `untried` had no attempts.
    assert.deepEqual([...recentSolveRates(history, 2)], [['a', 0.75], ['b', 0.25], ['d', 0], ['c', 1]]);
    assert.deepEqual(recentSolveRates(history, 1).get('a'), 1);
    assert.deepEqual(recentSolveRates(history, 3).get('a'), 0.5);
  });

  test('weights p(1 − p), floored; untried tasks get the prior; metrics by hand', () => {
    const { plan, metrics, state } = learnabilityController({ window: 2, floor: 0.01 }).plan(controllerInput(4, history));
    // a: 0.75·0.25 = 0.1875; b: 0.25·0.75 = 0.1875; c, d: 0 → the floor 0.01.
    assert.deepEqual(plan.taskWeights, { a: 0.1875, b: 0.1875, d: 0.01, c: 0.01 });
    assert.equal(plan.defaultTaskWeight, 0.25, 'the prior: the largest p(1 − p)');
    assert.deepEqual(metrics, { 'curriculum/tasks_tried': 4, 'curriculum/learnability_mean': (0.1875 + 0.1875 + 0 + 0) / 4, 'curriculum/learnable_share': 0.5 });
    assert.deepEqual(state, { tasksTried: 4 });
    assert.deepEqual(plan.setBy, { taskWeights: 'learnability', defaultTaskWeight: 'learnability' });
    assert.deepEqual(plan.draws, controllerInput(4, []).plan.draws, 'draws untouched');
  });

  test('before any round: no weights, the prior for every task; a prior under the floor is raised to it', () => {
    const { plan, metrics } = learnabilityController({}).plan(controllerInput(1, []));
    assert.deepEqual(plan.taskWeights, {});
    assert.equal(plan.defaultTaskWeight, 0.25);
    assert.deepEqual(metrics, { 'curriculum/tasks_tried': 0 });
    assert.equal(learnabilityController({ prior: 0, floor: 0.05 }).plan(controllerInput(1, [])).plan.defaultTaskWeight, 0.05);
  });

  test('same input, same plan; the input is left as it was', () => {
    const input = deepFreeze(controllerInput<never>(4, history));
    const controller = learnabilityController({ window: 2 });
    assert.deepEqual(controller.plan(input), controller.plan(input));
  });

  test('options, word for word', () => {
    assert.throws(() => learnabilityController({ floor: 0 }, 'controllers.2'), { name: 'InvalidConfigError', message: 'Invalid config field `controllers.2.floor`: must be > 0, got number 0' });
    assert.throws(() => learnabilityController({ prior: 0.3 }, 'controllers.2'), { message: 'Invalid config field `controllers.2.prior`: must be ≤ 0.25, got number 0.3' });
    assert.throws(() => learnabilityController({ window: 0 }, 'controllers.2'), { message: 'Invalid config field `controllers.2.window`: must be > 0, got number 0' });
    assert.throws(() => learnabilityController({ windw: 3 } as never, 'controllers.2'), { message: 'Invalid config field `controllers.2.windw`: unknown key — did you mean `window`?' });
  });
});
