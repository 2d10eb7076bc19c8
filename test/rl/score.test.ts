/** SCoRe's per-turn targets (Stage I KL placement, Stage II reward shaping) on hand-computed cases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import { scoreTargets, scoreTargetsOfRewards, type ScoreSettings } from '../../src/learn/score.js';
import type { Task } from '../../src/spec/task.js';
import type { Turn } from '../../src/spec/trajectory.js';

const stage1: ScoreSettings = { stage: 1, beta1: 0.01, beta2: 0.1, alpha: 10 };
const stage2: ScoreSettings = { ...stage1, stage: 2 };
const task: Task = { id: 't', family: 'addition', prompt: '1+1=' };
const turn = (reward: number | null): Turn => ({ observation: '', observationTokens: [], action: '', actionTokens: [], logprobs: [], behaviourLogprobs: [], finishReason: 'stop', reward, feedback: '' });

describe('SCoRe targets', () => {
  test('Stage I: attempt 1 gets no reward and the strong KL β2; attempt 2 gets r2 and β1', () => {
    for (const [r1, r2] of [[0, 1], [1, 0], [1, 1], [null, 1]] as const) {
      assert.deepEqual(scoreTargetsOfRewards(r1, r2, stage1), { turns: [{ reward: 0, klCoefficient: 0.1 }, { reward: r2, klCoefficient: 0.01 }], total: r2 });
    }
  });

  test('Stage II: r̂2 = r2 + α(r2 − r1) on attempt 2, r1 on attempt 1, β1 on both; total r1 + r2 + α(r2 − r1)', () => {
    // [r1, r2, r̂2, total] with α = 10
    const cases = [
      [0, 1, 11, 11], // wrong → right: the bonus
      [1, 0, -10, -9], // right → wrong: the penalty
      [1, 1, 1, 2], // right → right: no bonus
      [0, 0, 0, 0],
      [0.25, 0.75, 5.75, 6], // partial rewards: 0.75 + 10·0.5
    ];
    for (const [r1, r2, shaped, total] of cases) {
      const targets = scoreTargetsOfRewards(r1, r2, stage2)!;
      assert.deepEqual(targets.turns, [{ reward: r1, klCoefficient: 0.01 }, { reward: shaped, klCoefficient: 0.01 }], `r1=${r1} r2=${r2}`);
      assert.equal(targets.total, total, `total r1=${r1} r2=${r2}`);
    }
    // α = 0: plain multi-turn RL on the sum of rewards.
    assert.equal(scoreTargetsOfRewards(0, 1, { ...stage2, alpha: 0 })!.total, 1);
  });

  test('a reward the stage needs that was not scored (null) gives no targets, never a 0', () => {
    assert.equal(scoreTargetsOfRewards(1, null, stage1), null);
    assert.equal(scoreTargetsOfRewards(null, 1, stage2), null);
    assert.equal(scoreTargetsOfRewards(1, null, stage2), null);
  });

  test('from a trajectory: its two turns’ rewards; another number of turns, or bad settings, are errors', () => {
    assert.deepEqual(scoreTargets({ task, turns: [turn(0), turn(1)] }, stage2)!.turns[1], { reward: 11, klCoefficient: 0.01 });
    assert.throws(() => scoreTargets({ task, turns: [turn(1)] }, stage2), (e: Error) => e instanceof InvalidArgumentError && /task "t" has 1 turns \(use twoAttemptEnvironment\)/.test(e.message));
    assert.throws(() => scoreTargetsOfRewards(0, 1, { ...stage2, alpha: -1 }), (e: Error) => e instanceof InvalidConfigError && e.field === 'score.alpha');
    assert.throws(() => scoreTargetsOfRewards(0, 1, { ...stage2, stage: 3 as 1 }), (e: Error) => e instanceof InvalidConfigError && e.field === 'score.stage');
  });
});
