/** The reference curricula (how the loop planned rounds before controllers): pure functions of the earlier rounds' outcomes, and how a plan becomes task counts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { easyToHardCurriculum, fixedCurriculum, planCounts } from './reference-curricula.js';
import type { RoundOutcome } from './reference-curricula.js';

const outcome = (round: number, frontier: number, solved: number, tasks = 10): RoundOutcome => ({ round, frontier, byDifficulty: { [frontier]: { tasks, solved } } });

describe('curricula', () => {
  test('fixed: every round at its difficulty, whatever happened', () => {
    const fixed = fixedCurriculum(3);
    assert.deepEqual(fixed.plan(1, []), { frontier: 3, counts: [{ difficulty: 3, count: -1 }] });
    assert.deepEqual(fixed.plan(4, [outcome(1, 3, 10), outcome(2, 3, 0)]), fixed.plan(1, []));
    assert.deepEqual(planCounts(fixed.plan(1, []), 10), [{ difficulty: 3, count: 10 }]);
  });

  test('easy-to-hard: moves up one after a round at the frontier reaches promoteAt, and only then', () => {
    const curriculum = easyToHardCurriculum({ start: 1, max: 3, promoteAt: 0.6, review: 0, floor: 1 });
    const frontier = (history: RoundOutcome[]) => curriculum.plan(history.length + 1, history).frontier;
    assert.equal(frontier([]), 1);
    assert.equal(frontier([outcome(1, 1, 6)]), 2, '6/10 reaches 0.6');
    assert.equal(frontier([outcome(1, 1, 5)]), 1, '5/10 does not');
    assert.equal(frontier([outcome(1, 1, 9), outcome(2, 2, 1)]), 2, 'a failed round keeps the frontier');
    assert.equal(frontier([outcome(1, 1, 9), outcome(2, 2, 9), outcome(3, 3, 10)]), 3, 'never past max');
    assert.equal(frontier([{ round: 1, frontier: 1, byDifficulty: { 2: { tasks: 10, solved: 10 } } }]), 1, 'no tasks at the frontier is no mastery');
    assert.equal(frontier([outcome(1, 1, 0, 0)]), 1, 'zero tasks is no mastery');
    assert.deepEqual(curriculum.plan(2, [outcome(1, 1, 6)]).counts, [{ difficulty: 2, count: -1 }], 'review 0: only the frontier');
  });

  test('easy-to-hard: a review share spread over the easier difficulties from the floor', () => {
    const curriculum = easyToHardCurriculum({ start: 3, max: 5, promoteAt: 0.5, review: 0.25, floor: 1 });
    const plan = curriculum.plan(1, []);
    assert.deepEqual(plan, { frontier: 3, counts: [{ difficulty: 3, count: -1 }, { difficulty: 1, count: -0.125 }, { difficulty: 2, count: -0.125 }] });
    assert.deepEqual(planCounts(plan, 100), [{ difficulty: 3, count: 76 }, { difficulty: 1, count: 12 }, { difficulty: 2, count: 12 }]);
    assert.deepEqual(planCounts(plan, 8), [{ difficulty: 3, count: 6 }, { difficulty: 1, count: 1 }, { difficulty: 2, count: 1 }]);
    assert.deepEqual(planCounts(plan, 3), [{ difficulty: 3, count: 3 }], 'shares rounding to 0 are left out');
    assert.deepEqual(easyToHardCurriculum({ start: 1, max: 3, promoteAt: 0.5, review: 0.25, floor: 1 }).plan(1, []).counts, [{ difficulty: 1, count: -1 }], 'nothing easier than the floor');
  });

  test('planCounts: fixed counts as given, shares of the rest, the frontier takes what is left', () => {
    assert.deepEqual(planCounts({ frontier: 2, counts: [{ difficulty: 1, count: 5 }, { difficulty: 2, count: -1 }] }, 20), [{ difficulty: 2, count: 15 }, { difficulty: 1, count: 5 }]);
    assert.deepEqual(planCounts({ frontier: 2, counts: [{ difficulty: 2, count: 4 }, { difficulty: 1, count: 6 }] }, 20), [{ difficulty: 2, count: 4 }, { difficulty: 1, count: 6 }], 'no share: counts as given');
    assert.deepEqual(planCounts({ frontier: 4, counts: [{ difficulty: 4, count: -1 }, { difficulty: 1, count: 3 }, { difficulty: 2, count: -0.5 }] }, 13), [{ difficulty: 4, count: 5 }, { difficulty: 1, count: 3 }, { difficulty: 2, count: 5 }]);
    for (const total of [1, 7, 64, 256]) {
      const counts = planCounts(easyToHardCurriculum({ start: 4, max: 6, promoteAt: 0.5, review: 0.3, floor: 1 }).plan(1, []), total);
      assert.equal(counts.reduce((sum, c) => sum + c.count, 0), total, `a round of ${total} gets ${total} tasks`);
    }
  });
});
