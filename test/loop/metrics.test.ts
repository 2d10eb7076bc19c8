/** pass@k, exploration/exploitation figures and majority vote, against hand-computed cases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exploreExploit, meanPassAtK, passAtK } from '../../src/monitors/metrics.js';
import type { Attempt } from '../../src/learn/steps.js';
import { majorityVote } from '../../src/verifiers/consensus.js';

const attempt = (task: string, completion: string, pass: boolean): Attempt => ({
  task: { id: task, family: 'f', prompt: 'p' },
  sample: 0,
  completion,
  tokens: [],
  logprobs: [],
  finishReason: 'stop',
  verification: { status: 'scored', reward: pass ? 1 : 0, pass, feedback: '' },
});

describe('pass@k', () => {
  test('unbiased estimator, table-driven', () => {
    const cases: [number, number, number, number][] = [
      [10, 0, 1, 0],
      [10, 10, 1, 1],
      [10, 3, 1, 0.3],
      [4, 1, 2, 0.5], // 1 − C(3,2)/C(4,2) = 1 − 3/6
      [5, 2, 2, 0.7], // 1 − C(3,2)/C(5,2) = 1 − 3/10
      [10, 8, 3, 1], // fewer than k failures: always solved
    ];
    for (const [n, c, k, expected] of cases) assert.ok(Math.abs(passAtK(n, c, k) - expected) < 1e-12, `pass@${k} n=${n} c=${c}`);
    assert.throws(() => passAtK(4, 5, 1), /0 ≤ c ≤ n/);
    assert.throws(() => passAtK(4, 1, 5), /1 ≤ k ≤ n/);
  });

  test('mean over tasks, skipping k larger than the samples', () => {
    const groups = [
      [attempt('a', 'x', true), attempt('a', 'y', false)],
      [attempt('b', 'x', false), attempt('b', 'y', false)],
    ];
    assert.deepEqual(meanPassAtK(groups, [1, 2, 4]), { 'pass@1': 0.25, 'pass@2': 0.5 });
  });
});

describe('exploration and exploitation', () => {
  test('distinct correct answers, solved share, accept precision and recall', () => {
    const a1 = attempt('a', '1', true);
    const a2 = attempt('a', '1', true);
    const a3 = attempt('a', '2', true);
    const b1 = attempt('b', '9', true); // the verifier passed it, the ground truth says wrong
    const b2 = attempt('b', '8', false);
    const groups = [[a1, a2, a3], [b1, b2]];
    const accepted = [a1, a3, b1];
    const truth = new Set([a1, a2, a3]);
    const metrics = exploreExploit(groups, accepted, (a) => truth.has(a));
    assert.deepEqual(metrics, {
      'explore/distinct_correct_per_task': 1.5,
      'explore/frac_tasks_solved': 1,
      'exploit/precision': 2 / 3,
      'exploit/recall': 2 / 3,
    });
    assert.equal(exploreExploit(groups, accepted)['exploit/precision'], undefined, 'no ground truth, no precision');
  });
});

describe('majority vote', () => {
  test('the most frequent extracted answer wins when enough samples agree', () => {
    const vote = majorityVote(['12;', '12;', '13;', 'junk', '12 ;'], { answerEnd: [';'] });
    assert.equal(vote.answer, '12');
    assert.equal(vote.agreement, 3 / 5);
    assert.deepEqual([...vote.counts], [['12', 3], ['13', 1], ['junk', 1]]);
    assert.equal(majorityVote(['1;', '2;', '3;'], { answerEnd: [';'] }).answer, null, 'no majority');
    assert.equal(majorityVote(['1;', '2;', '3;'], { answerEnd: [';'], minAgreement: 0.3 }).answer, '1', 'ties go to the first seen');
    assert.equal(majorityVote(['A;', 'a;'], { answerEnd: [';'], normalize: (s) => s.toLowerCase() }).agreement, 1);
    assert.deepEqual(majorityVote([]).answer, null);
  });
});
