/** Self-correction metrics (SCoRe's accuracies and transitions, Confidence-vs-Critique) on hand-computed sets, including empty ones. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attemptOutcome, correctionMetrics, correctionMetricsOfOutcomes } from '../../src/monitors/correction.js';
import type { Turn } from '../../src/spec/trajectory.js';
import type { Verification } from '../../src/spec/verifier.js';

const near = (a: number, b: number, label: string) => assert.ok(Math.abs(a - b) <= 1e-12, `${label}: ${a} vs ${b}`);
const scored = (pass: boolean): Verification => ({ status: 'scored', reward: pass ? 1 : 0, pass, feedback: '' });
const turn = (verification?: Verification): Turn => ({ observation: '', observationTokens: [], action: '', actionTokens: [], logprobs: [], behaviourLogprobs: [], finishReason: 'stop', reward: verification?.status === 'scored' ? verification.reward : null, feedback: '', verification });
const trajectory = (first: boolean, second: boolean) => ({ turns: [turn(scored(first)), turn(scored(second))] });

describe('correction metrics', () => {
  test('ten problems: 3 right → right, 1 right → wrong, 2 wrong → right, 4 wrong → wrong', () => {
    const set = [
      ...Array.from({ length: 3 }, () => trajectory(true, true)),
      trajectory(true, false),
      ...Array.from({ length: 2 }, () => trajectory(false, true)),
      ...Array.from({ length: 4 }, () => trajectory(false, false)),
    ];
    const m = correctionMetrics(set);
    const expected: Record<string, number> = {
      'correction/acc_t1': 0.4,
      'correction/acc_t2': 0.5,
      'correction/delta': 0.1,
      'correction/i_to_c': 0.2, // 2 of all 10 problems
      'correction/c_to_i': 0.1,
      'correction/confidence': 3 / 4, // P(right at 2 | right at 1)
      'correction/critique': 2 / 6, // P(right at 2 | wrong at 1)
      'correction/problems': 10,
      'correction/right_t1': 4,
      'correction/wrong_t1': 6,
      'correction/unscored': 0,
    };
    assert.deepEqual(Object.keys(m).sort(), Object.keys(expected).sort());
    for (const [key, value] of Object.entries(expected)) near(m[key], value, key);
    // The identities: Δ = Δ^{i→c} − Δ^{c→i}, and acc_t2 = acc_t1·CL + (1 − acc_t1)·CS.
    near(m['correction/delta'], m['correction/i_to_c'] - m['correction/c_to_i'], 'delta identity');
    near(m['correction/acc_t2'], m['correction/acc_t1'] * m['correction/confidence'] + (1 - m['correction/acc_t1']) * m['correction/critique'], 'decomposition');
  });

  test('empty sets and empty denominators give 0 and a count, never NaN', () => {
    const empty = correctionMetrics([]);
    assert.ok(Object.values(empty).every((v) => v === 0), JSON.stringify(empty));
    // All right at attempt 1: critique has no denominator.
    const allRight = correctionMetricsOfOutcomes([{ first: true, second: true }, { first: true, second: false }]);
    assert.equal(allRight['correction/critique'], 0);
    assert.equal(allRight['correction/wrong_t1'], 0);
    near(allRight['correction/confidence'], 0.5, 'confidence');
    near(allRight['correction/delta'], -0.5, 'delta');
    // All wrong at attempt 1: confidence has no denominator.
    const allWrong = correctionMetricsOfOutcomes([{ first: false, second: true }]);
    assert.deepEqual([allWrong['correction/confidence'], allWrong['correction/right_t1'], allWrong['correction/critique']], [0, 0, 1]);
    assert.ok(Object.values(allRight).concat(Object.values(allWrong)).every(Number.isFinite));
  });

  test('trajectories without two scored attempts are left out and counted', () => {
    const unscoredSecond = { turns: [turn(scored(true)), turn({ status: 'error', error: 'timeout' })] };
    const noVerdict = { turns: [turn(), turn(scored(true))] };
    const oneTurn = { turns: [turn(scored(true))] };
    assert.equal(attemptOutcome(unscoredSecond), null);
    assert.equal(attemptOutcome(oneTurn), null);
    assert.deepEqual(attemptOutcome(trajectory(false, true)), { first: false, second: true });
    const m = correctionMetrics([unscoredSecond, noVerdict, oneTurn, trajectory(false, true)]);
    assert.equal(m['correction/unscored'], 3);
    assert.equal(m['correction/problems'], 1);
    assert.equal(m['correction/i_to_c'], 1);
  });
});
