/** `easy-to-hard` as a controller plans what today's easyToHardCurriculum + planCounts plan, for the same outcomes. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { easyToHardController, type EasyToHardOptions } from '../../src/controllers/easy-to-hard.js';
import { easyToHardCurriculum, planCounts } from './reference-curricula.js';
import type { RoundHistory, TaskRecord } from '../../src/spec/controller.js';
import type { RoundOutcome } from './reference-curricula.js';
import { controllerInput, deepFreeze, defaultPlan, finishedRound } from './fixtures.js';

/** What today's loop saves of a round for the curriculum (run-loop.ts saveOutcome): tasks and solved tasks per difficulty. */
function toOutcome(round: RoundHistory): RoundOutcome {
  const byDifficulty: RoundOutcome['byDifficulty'] = {};
  for (const task of round.tasks) {
    const entry = (byDifficulty[String(task.difficulty ?? 0)] ??= { tasks: 0, solved: 0 });
    entry.tasks++;
    if (task.passes > 0) entry.solved++;
  }
  return { round: round.round, frontier: round.plan.frontier as number, byDifficulty };
}

/**
 * Runs `rounds` rounds of the controller, each round's tasks solved or not by
 * `solved(round, difficulty, index)`, and checks every plan against today's
 * curriculum given the same outcomes.
 */
function assertSamePlans(options: Required<EasyToHardOptions>, total: number, rounds: number, solved: (round: number, difficulty: number, index: number) => boolean): void {
  const controller = easyToHardController(options);
  const today = easyToHardCurriculum(options);
  const history: RoundHistory[] = [];
  for (let round = 1; round <= rounds; round++) {
    const { plan } = controller.plan(controllerInput(round, history, { plan: defaultPlan(round, total) }));
    const expected = today.plan(round, history.map(toOutcome));
    assert.equal(plan.frontier, expected.frontier, `round ${round}: frontier`);
    assert.deepEqual(plan.draws.map((d) => ({ difficulty: d.difficulty, count: d.count })), planCounts(expected, total), `round ${round}: counts`);
    const tasks: TaskRecord[] = plan.draws.flatMap((draw) =>
      Array.from({ length: draw.count }, (_, i) => ({ taskId: `${round}-${draw.category}-${i}`, category: draw.category, difficulty: draw.difficulty, attempts: 4, passes: solved(round, draw.difficulty as number, i) ? 1 : 0, solved: solved(round, draw.difficulty as number, i), meanReward: 0 })),
    );
    history.push(finishedRound(round, tasks, plan));
  }
}

describe('easy-to-hard controller', () => {
  test('hand example: promotion at promoteAt, a review share below the frontier', () => {
    const controller = easyToHardController({ start: 1, max: 3, promoteAt: 0.6, review: 0.25, floor: 1 });
    const first = controller.plan(controllerInput(1, [], { plan: defaultPlan(1, 8) }));
    assert.deepEqual(first.plan.draws, [{ difficulty: 1, category: 'd1', count: 8 }]);
    assert.deepEqual(first.metrics, { 'curriculum/frontier': 1 });
    // 5 of 8 solved at d1 = 0.625 ≥ 0.6: up to d2, ⌊8 · 0.25⌋ = 2 review tasks at d1.
    const tasks = Array.from({ length: 8 }, (_, i) => ({ taskId: `t${i}`, category: 'd1', difficulty: 1, attempts: 4, passes: i < 5 ? 2 : 0, solved: i < 5, meanReward: 0 }));
    const second = controller.plan(controllerInput(2, [finishedRound(1, tasks, first.plan)], { plan: defaultPlan(2, 8) }));
    assert.equal(second.plan.frontier, 2);
    assert.deepEqual(second.plan.draws, [{ difficulty: 2, category: 'd2', count: 6 }, { difficulty: 1, category: 'd1', count: 2 }]);
    assert.deepEqual(second.metrics, { 'curriculum/frontier': 2, 'curriculum/frontier_solved': 0.625 });
    assert.deepEqual(second.state, { frontier: 2 });
    assert.deepEqual(second.plan.setBy, { frontier: 'easy-to-hard', draws: 'easy-to-hard' });
  });

  test('the same plans as today on scripted histories', () => {
    const options = { start: 1, max: 4, promoteAt: 0.6, review: 0.25, floor: 1 };
    // Solves everything: one step up per round, capped at max.
    assertSamePlans(options, 16, 6, () => true);
    // Solves nothing: stays at start.
    assertSamePlans(options, 16, 4, () => false);
    // Solves 5 of every 8 (0.625): promoted; then 4 of 8 at d2 (0.5): held there.
    assertSamePlans(options, 8, 5, (_round, difficulty, i) => (difficulty === 1 ? i < 5 : i < 4));
    // No review, a floor below the start, odd round sizes.
    assertSamePlans({ start: 3, max: 6, promoteAt: 0.5, review: 0, floor: 1 }, 7, 5, (round, _d, i) => (round + i) % 2 === 0);
    assertSamePlans({ start: 3, max: 6, promoteAt: 0.5, review: 0.4, floor: 1 }, 13, 6, (round, _d, i) => (round * 3 + i) % 4 !== 0);
  });

  test('the same plans as today on random histories (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.record({ start: fc.integer({ min: 1, max: 3 }), span: fc.integer({ min: 0, max: 3 }), promoteAt: fc.double({ min: 0, max: 1, noNaN: true }), review: fc.double({ min: 0, max: 1, noNaN: true }), below: fc.integer({ min: 0, max: 2 }) }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 1000 }),
        (o, total, rounds, salt) => {
          const options = { start: o.start, max: o.start + o.span, promoteAt: o.promoteAt, review: o.review, floor: o.start - o.below };
          assertSamePlans(options, total, rounds, (round, difficulty, i) => ((round * 31 + difficulty * 7 + i + salt) * 2654435761) % 7 < 4);
        },
      ),
      { numRuns: 200, seed: 42 },
    );
  });

  test('floor defaults to start; the input plan is left as it was', () => {
    const controller = easyToHardController({ start: 2, max: 3, promoteAt: 0.5, review: 0.5 });
    const input = deepFreeze(controllerInput<never>(1, [], { plan: defaultPlan(1, 10) }));
    assert.deepEqual(controller.plan(input).plan.draws, [{ difficulty: 2, category: 'd2', count: 10 }], 'nothing to review below the start');
    const solved = finishedRound(1, [{ taskId: 'a', category: 'd2', difficulty: 2, attempts: 1, passes: 1, solved: true, meanReward: 1 }], { frontier: 2 });
    assert.deepEqual(controller.plan(controllerInput(2, [solved], { plan: defaultPlan(2, 10) })).plan.draws, [{ difficulty: 3, category: 'd3', count: 5 }, { difficulty: 2, category: 'd2', count: 5 }]);
  });

  test('options, word for word', () => {
    assert.throws(() => easyToHardController({ start: 3, max: 2 }, 'controllers.1'), { name: 'InvalidConfigError', message: 'Invalid config field `controllers.1.max`: 2 is below controllers.1.start = 3; set max ≥ start' });
    assert.throws(() => easyToHardController({ start: 1, max: 3, promoteAt: 1.5 }, 'controllers.1'), { message: 'Invalid config field `controllers.1.promoteAt`: must be ≤ 1, got number 1.5' });
    assert.throws(() => easyToHardController({ max: 3 } as never, 'controllers.1'), { message: 'Invalid config field `controllers.1.start`: is required (expected number)' });
  });
});
