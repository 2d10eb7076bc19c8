/** `fixed`: the same draws every round, whatever the history. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fixedController } from '../../src/controllers/fixed.js';
import { InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import { controllerInput, deepFreeze, defaultPlan, finishedRound, taskRecord } from './fixtures.js';

describe('fixed controller', () => {
  test('difficulty: the whole round at it, every round, whatever happened', () => {
    const fixed = fixedController({ difficulty: 3 });
    const first = fixed.plan(controllerInput(1, []));
    assert.deepEqual(first.plan.draws, [{ difficulty: 3, category: 'd3', count: 10 }]);
    assert.equal(first.plan.frontier, 3);
    assert.deepEqual(first.plan.setBy, { draws: 'fixed', frontier: 'fixed' });
    const history = [finishedRound(1, [taskRecord('a', 'd3', 4, 4)]), finishedRound(2, [taskRecord('b', 'd3', 4, 0)])];
    assert.deepEqual(fixed.plan(controllerInput(3, history)).plan, { ...first.plan, round: 3 });
  });

  test('categories: their counts, whatever the round size; `d<k>` draws by difficulty; no frontier', () => {
    const fixed = fixedController({ categories: { d1: 4, algebra: 12 } });
    const { plan } = fixed.plan(controllerInput(2, [], { plan: { ...defaultPlan(2, 64), frontier: 5 } }));
    assert.deepEqual(plan.draws, [{ difficulty: 1, category: 'd1', count: 4 }, { category: 'algebra', count: 12 }]);
    assert.equal('frontier' in plan, false, 'the frontier of the plan so far is cleared');
    assert.deepEqual(plan.setBy, { draws: 'fixed', frontier: 'fixed' });
    assert.deepEqual(plan.sampling, defaultPlan(2).sampling, 'sampling untouched');
  });

  test('leaves the plan it was given as it was', () => {
    const input = deepFreeze(controllerInput<null>(1, [], { plan: { ...defaultPlan(1), frontier: 2 } }));
    fixedController({ difficulty: 3 }).plan(input);
    fixedController({ categories: { d2: 1 } }).plan(input);
    assert.equal(input.plan.frontier, 2);
  });

  test('a plan so far of no tasks is an error naming the fix', () => {
    const empty = { ...defaultPlan(1), draws: [] };
    assert.throws(() => fixedController({ difficulty: 1 }).plan(controllerInput(1, [], { plan: empty })), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.message, "Invalid argument `plan.draws`: fixed divides the round's tasks among its draws, but the plan so far draws 0 tasks; start the plan with one draw of the round's task count (tasks.perRound)");
      return true;
    });
  });

  test('options: exactly one of difficulty and categories, word for word', () => {
    const message = (options: object) => {
      try {
        fixedController(options as never, 'controllers.0');
      } catch (error) {
        assert.ok(error instanceof InvalidConfigError);
        return error.message;
      }
      assert.fail('no error');
    };
    const exactlyOne = 'Invalid config field `controllers.0`: set exactly one of `difficulty` (the whole round at one difficulty) or `categories` (a task count per category)';
    assert.equal(message({}), exactlyOne);
    assert.equal(message({ difficulty: 2, categories: { a: 1 } }), exactlyOne);
    assert.equal(message({ categories: {} }), 'Invalid config field `controllers.0.categories`: names no category; give at least one, e.g. `{ d1: 8 }`');
    assert.equal(message({ categories: { a: 0 } }), 'Invalid config field `controllers.0.categories.a`: must be > 0, got number 0');
    assert.equal(message({ difficuly: 2 }), 'Invalid config field `controllers.0.difficuly`: unknown key — did you mean `difficulty`?');
  });
});
