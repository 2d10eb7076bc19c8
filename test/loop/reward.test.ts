/**
 * The reward-vs-labels monitor: its metrics from hand-made verdicts, with a
 * synchronous label verifier, an asynchronous one, and the code verifier
 * (asynchronous, sandboxed; code tasks carry tests, not an `answer`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { labelAgreementMonitor } from '../../src/verifiers/reward.js';
import type { Attempt } from '../../src/learn/steps.js';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import type { Sandbox } from '../../src/sandbox/run-types.js';
import type { RoundRecord } from '../../src/spec/monitor.js';
import type { Task } from '../../src/spec/task.js';
import type { Verification, Verifier } from '../../src/spec/verifier.js';
import { codeVerifier } from '../../src/tasks/code.js';
import { matchVerifier } from '../../src/verifiers/match.js';

const scored = (pass: boolean): Verification => ({ status: 'scored', reward: pass ? 1 : 0, pass, feedback: '' });
const abstained: Verification = { status: 'not-applicable', reason: 'no majority' };
const attempt = (task: Task, sample: number, completion: string, verification: Verification): Attempt => ({ task, sample, completion, tokens: [], logprobs: [], finishReason: 'stop', verification });
const recordOf = (groups: Attempt[][]): RoundRecord => ({ round: 1, groups, refinements: [], accepted: [] });

const labeled: Task = { id: 'a', prompt: '5+7=', family: 'addition', answer: '12' };
const unlabeled: Task = { id: 'b', prompt: '1+1=', family: 'addition' };
/** Labels: 12 (right), 12 (right), 13, 13. The reward passes sample 0 and 2, fails 1, abstains on 3; the unlabeled task counts nowhere. */
const round = recordOf([
  [attempt(labeled, 0, '12', scored(true)), attempt(labeled, 1, '12', scored(false)), attempt(labeled, 2, '13', scored(true)), attempt(labeled, 3, '13', abstained)],
  [attempt(unlabeled, 0, '2', scored(true))],
]);
const expected = {
  'reward/label_coverage': 3 / 4,
  'reward/label_agreement': 1 / 3,
  'reward/label_precision': 1 / 2,
  'reward/label_recall': 1 / 2,
  'reward/label_accuracy': 2 / 4,
};

/** The same verdicts as `labels`, a tick later. */
const asynchronous = (labels: Verifier): Verifier => ({ name: 'async', version: '1', verify: async (task, completion) => labels.verify(task, completion) });

describe('labelAgreementMonitor', () => {
  test('compares the reward with a synchronous label verifier over the labeled samples', async () => {
    assert.deepEqual(await labelAgreementMonitor(matchVerifier()).observe(round), expected);
  });

  test('an asynchronous label verifier gives the same metrics (it used to report nothing)', async () => {
    assert.deepEqual(await labelAgreementMonitor(asynchronous(matchVerifier())).observe(round), expected);
  });

  test('a round without labeled samples reports nothing', async () => {
    assert.deepEqual(await labelAgreementMonitor(asynchronous(matchVerifier())).observe(recordOf([[attempt(unlabeled, 0, '2', scored(true))]])), {});
  });

  describe('with the code verifier (tests, no answer)', () => {
    let sandbox: Sandbox;
    before(async () => {
      sandbox = await createSandbox({ timeoutMs: 300, memoryMb: 32, concurrency: 2 });
    });
    after(async () => sandbox.close());

    test('code tasks are labeled by their tests', async () => {
      const rev: Task = { id: 'js/rev', family: 'code', prompt: 'function rev(list) {\n', meta: { entryPoint: 'rev', tests: [{ args: [[1, 2]], expected: [2, 1] }] } };
      const right = '  return [...list].reverse();\n}\n';
      const wrong = '  return list;\n}\n';
      // A reward that passes both: one agrees with the tests, one does not.
      const metrics = await labelAgreementMonitor(codeVerifier(sandbox)).observe(recordOf([[attempt(rev, 0, right, scored(true)), attempt(rev, 1, wrong, scored(true))]]));
      assert.deepEqual(metrics, { 'reward/label_coverage': 1, 'reward/label_agreement': 1 / 2, 'reward/label_precision': 1 / 2, 'reward/label_recall': 1, 'reward/label_accuracy': 1 / 2 });
    });
  });
});
