/** The controller registry and controllers run in order over one round. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildController, controllers, planRound } from '../../src/controllers/index.js';
import { InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import type { ProbeRecord } from '../../src/spec/controller.js';
import { deepFreeze, defaultPlan, finishedRound, taskRecord } from './fixtures.js';

describe('controller registry', () => {
  test('every built-in, by name, from validated options', () => {
    assert.deepEqual(controllers.names(), ['fixed', 'easy-to-hard', 'sec', 'learnability', 'b-star']);
    const built = [buildController('fixed', { difficulty: 1 }), buildController('easy-to-hard', { start: 1, max: 3 }), buildController('sec', { categories: ['d1'] }), buildController('learnability'), buildController('b-star')];
    assert.deepEqual(built.map((controller) => controller.name), controllers.names());
    assert.deepEqual(buildController('b-star').probe, { temperatures: [0.4, 0.6, 0.8, 1.0, 1.2], tasks: 8, n: 8 });
    assert.equal(buildController('sec', { categories: ['d1'] }).probe, undefined);
  });

  test('an unknown name lists the valid ones; bad options name their field', () => {
    assert.throws(() => buildController('bstar', {}, 'controllers.1'), (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError);
      assert.equal(error.field, 'controllers.1.kind');
      assert.equal(error.message, 'Invalid config field `controllers.1.kind`: unknown controller "bstar"; valid: fixed, easy-to-hard, sec, learnability, b-star');
      return true;
    });
    assert.throws(() => buildController('sec', { categories: ['d1'], temprature: 2 }, 'controllers.0'), { message: 'Invalid config field `controllers.0.temprature`: unknown key — did you mean `temperature`?' });
    assert.throws(() => buildController('learnability', { floor: 'low' }, 'controllers.2'), { message: 'Invalid config field `controllers.2.floor`: expected number, got string "low"' });
  });
});

describe('planRound', () => {
  const history = [
    finishedRound(1, [taskRecord('a', 'd1', 4, 4, { difficulty: 1 }), taskRecord('b', 'd1', 4, 2, { difficulty: 1 })], { frontier: 1 }),
  ];
  const probes: ProbeRecord[] = [
    { taskId: 'a', temperature: 0.8, completion: 'x', reward: 1, correct: true },
    { taskId: 'a', temperature: 1.2, completion: 'y', reward: 0, correct: false },
  ];

  test('a curriculum sets the draws, learnability the weights, B-STaR the temperature and threshold', () => {
    const list = [buildController('easy-to-hard', { start: 1, max: 3, review: 0.5 }), buildController('learnability', { window: 1 }), buildController('b-star', { temperatures: [0.8, 1.2], thresholds: [1], nStar: 1 })];
    const input = deepFreeze({ round: 2, history, plan: defaultPlan(2, 8), states: {}, seed: 3, probes: { 'b-star': probes } });
    const output = planRound(list, input);
    assert.deepEqual(output.plan.draws, [{ difficulty: 2, category: 'd2', count: 4 }, { difficulty: 1, category: 'd1', count: 4 }]);
    assert.deepEqual(output.plan.taskWeights, { a: 0.01, b: 0.25 });
    assert.equal(output.plan.sampling.temperature, 0.8);
    assert.equal(output.plan.acceptThreshold, 1);
    assert.deepEqual(output.plan.setBy, { frontier: 'easy-to-hard', draws: 'easy-to-hard', taskWeights: 'learnability', defaultTaskWeight: 'learnability', 'sampling.temperature': 'b-star', acceptThreshold: 'b-star' });
    assert.deepEqual(output.states, { 'easy-to-hard': { frontier: 2 }, learnability: { tasksTried: 2 }, 'b-star': { temperature: 0.8, threshold: 1 } });
    assert.equal(output.metrics['curriculum/frontier'], 2);
    assert.equal(output.metrics['curriculum/tasks_tried'], 2);
    assert.equal(output.metrics['bstar/balance'], 1);
    assert.deepEqual(planRound(list, input), output, 'same input, same plan');
  });

  test('each controller gets its own state and probes; the seed reaches the bandit', () => {
    const sec = buildController('sec', { categories: ['d1', 'd2', 'd3'] });
    const run = (seed: number) => planRound([sec], { round: 2, history, plan: defaultPlan(2, 12), states: { sec: { q: { d1: 1, d2: 0, d3: 0 }, through: 1 } }, seed });
    const first = run(5);
    assert.deepEqual(first.states.sec, { q: { d1: 1, d2: 0, d3: 0 }, through: 1 }, 'round 1 already folded in: Q as stored');
    assert.deepEqual(run(5), first);
    assert.ok([6, 7, 8, 9].some((seed) => JSON.stringify(run(seed).plan.draws) !== JSON.stringify(first.plan.draws)));
  });

  test('two controllers of one name are an error', () => {
    const twice = [buildController('learnability'), buildController('learnability')];
    assert.throws(() => planRound(twice, { round: 1, history: [], plan: defaultPlan(1), states: {}, seed: 1 }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.message, 'Invalid argument `controllers`: "learnability" appears twice; each controller keeps one state per run, so list it once');
      return true;
    });
  });
});
