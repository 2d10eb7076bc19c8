/**
 * Majority vote as a label-free reward: group voting (agreement, numeric
 * matching, ties, weak majorities, samples without an answer), the generic
 * group-scoring path, the recipe checks, and short loop runs through the
 * recipe path (self-training and RL on a scripted mock backend) where
 * training rewards come from the vote and held-out accuracy from the labels.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openRun } from '../../src/run/open-run.js';
import { runLoop } from '../../src/run/loop.js';
import { validateRecipe } from '../../src/recipe/load.js';
import { InvalidConfigError } from '../../src/errors.js';
import type { Task } from '../../src/spec/task.js';
import type { Verification, Verifier } from '../../src/spec/verifier.js';
import type { StoredSample } from '../../src/store/run-store.js';
import { scoreGroups } from '../../src/verifiers/groups.js';
import { majorityVoteVerifier } from '../../src/verifiers/vote.js';
import { MockBackend, type Answerer } from '../loop/mock-backend.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-vote-'));
after(() => rmSync(root, { recursive: true, force: true }));

const task: Task = { id: 't', prompt: '5+7=', family: 'addition', answer: '12' };
const vote = async (completions: string[], options: Parameters<typeof majorityVoteVerifier>[0] = {}) => (await scoreGroups(majorityVoteVerifier({ answerEnd: [';', '\n'], ...options }), [{ task, completions }]))[0];
const rewards = (verdicts: Verification[]) => verdicts.map((v) => (v.status === 'scored' ? v.reward : v.status));

describe('majorityVoteVerifier', () => {
  test('rewards agreement with the majority answer: 1 for it, 0 for other answers and for no answer', async () => {
    const verdicts = await vote(['12;', '12', '13;', 'junk;', '12;x']);
    assert.deepEqual(rewards(verdicts), [1, 1, 0, 0, 1]);
    assert.deepEqual(verdicts.map((v) => v.status === 'scored' && v.pass), [true, true, false, false, true]);
    assert.deepEqual(verdicts.map((v) => (v.status === 'scored' ? v.extracted : undefined)), ['12', '12', '13', 'junk', '12']);
    const [agree, , disagree] = verdicts;
    assert.equal(agree.status === 'scored' && agree.feedback, 'agrees with the majority answer "12" (3 of 5 samples)');
    assert.equal(disagree.status === 'scored' && disagree.feedback, 'disagrees with the majority answer "12" (3 of 5 samples)');
  });

  test('match: numeric counts 012, 12 and 12.0 as one answer; exact keeps them apart', async () => {
    assert.deepEqual(rewards(await vote(['012', '12', '12.0', '13'], { match: 'numeric' })), [1, 1, 1, 0]);
    const exact = await vote(['012', '12', '12.0', '13']);
    assert.ok(exact.every((v) => v.status === 'not-applicable'), 'four different answers tie');
    assert.deepEqual(rewards(await vote([' Twelve ', 'twelve', 'TWELVE ', '13'], { match: 'normalized' })), [1, 1, 1, 0]);
  });

  test('a tie for first place abstains (no label), whatever the sample order', async () => {
    for (const completions of [['1', '1', '2', '2'], ['2', '1', '2', '1', '3']]) {
      const verdicts = await vote(completions);
      assert.ok(verdicts.every((v) => v.status === 'not-applicable' && /^no majority: "\d", "\d" tie with 2 of \d samples each$/.test(v.reason)), JSON.stringify(verdicts));
    }
  });

  test('a winner below minAgreement abstains; the denominator counts samples without an answer', async () => {
    const weak = await vote(['1', '1', '2', '3', '4']);
    assert.ok(weak.every((v) => v.status === 'not-applicable' && v.reason === 'no majority: the most common answer "1" has 2 of 5 samples, below minAgreement 0.5'));
    assert.deepEqual(rewards(await vote(['1', '1', '2', '3', '4'], { minAgreement: 0.4 })), [1, 1, 0, 0, 0]);
    // Two of four samples have no answer after the marker: "5" has half the group.
    const marked = await vote(['>5', '12>5', 'junk', ''], { answerMarker: '>' });
    assert.deepEqual(rewards(marked), [1, 1, 0, 0]);
    assert.deepEqual(marked.slice(2).map((v) => v.status === 'scored' && v.feedback), ['no answer found: the completion has no ">"', 'no answer found: the completion has no ">"']);
    assert.ok((await vote(['>5', '12>5', 'junk', ''], { answerMarker: '>', minAgreement: 0.6 })).every((v) => v.status === 'not-applicable'));
  });

  test('a group with no answer at all abstains; a lone completion has no group', async () => {
    const none = await vote(['no marker', 'none', '>'], { answerMarker: '>' });
    assert.ok(none.every((v) => v.status === 'not-applicable' && v.reason === 'no majority: none of the 3 samples has an answer to vote on'));
    const lone = await majorityVoteVerifier().verify(task, '12');
    assert.equal(lone.status, 'not-applicable');
    assert.match(lone.status === 'not-applicable' ? lone.reason : '', /a lone completion has no group to vote with/);
  });

  test('groups are voted independently', async () => {
    const verifier = majorityVoteVerifier();
    const verdicts = await scoreGroups(verifier, [
      { task, completions: ['1', '1', '2'] },
      { task: { ...task, id: 'u' }, completions: ['2', '3', '3'] },
    ]);
    assert.deepEqual(verdicts.map(rewards), [[1, 1, 0], [0, 1, 1]]);
    assert.throws(() => majorityVoteVerifier({ minAgreement: 1.5 }), /minAgreement must be in \[0, 1\]/);
  });
});

describe('scoreGroups', () => {
  test('falls back to verify per completion, and refuses a verifyGroups answer of the wrong shape', async () => {
    const plain: Verifier = { name: 'len', version: '1', verify: (_task, completion) => ({ status: 'scored', reward: completion.length % 2, pass: completion.length % 2 === 1, feedback: '' }) };
    assert.deepEqual((await scoreGroups(plain, [{ task, completions: ['a', 'ab'] }, { task, completions: [] }])).map(rewards), [[1, 0], []]);
    const short: Verifier = { ...plain, name: 'short', verifyGroups: async (groups) => groups.map(() => []) };
    await assert.rejects(scoreGroups(short, [{ task, completions: ['a'] }]), /verifier short 1: verifyGroups returned 0 verdicts for the 1 completions of group 0/);
    const few: Verifier = { ...plain, name: 'few', verifyGroups: async () => [] };
    await assert.rejects(scoreGroups(few, [{ task, completions: ['a'] }]), /returned 0 groups for 1/);
  });
});

/** A recipe on the mock backend's plain additions; `over` replaces whole sections. */
const recipeOf = (over: Record<string, unknown> = {}) =>
  validateRecipe({
    name: 'vote-loop',
    seed: 5,
    rounds: 1,
    tasks: { family: 'addition', perRound: 12 },
    warmup: { count: 6, difficulties: [1], steps: 2, batchSize: 4 },
    curriculum: { kind: 'fixed', difficulty: 2 },
    sample: { n: 4, temperature: 0.7, maxTokens: 8, stop: [';'], chunk: 5 },
    accept: { capPerTask: 1 },
    train: { steps: 2, batchSize: 8, includeLabeled: false },
    verifier: { kind: 'majority-vote', match: 'numeric' },
    eval: { count: 6 },
    ...over,
  });

/** Class 0 (a % 3 = 0): 3 right, 1 wrong. Class 1: 2 right, 2 wrong (a tie). Class 2: 1 right, 3 the same wrong answer. Sample 0 is always right. */
const voting: Answerer = ({ a, sum, index }) => String(a % 3 === 0 ? (index < 3 ? sum : sum + 1) : a % 3 === 1 ? (index < 2 ? sum : sum + 1) : index === 0 ? sum : sum + 1);
const classOf = (t: Task) => (t.meta as { a: number }).a % 3;

async function runRecipe(recipe: ReturnType<typeof recipeOf>, answer: Answerer) {
  const out = mkdtempSync(join(root, 'run-'));
  const { parts, close } = await openRun(recipe, { out, baseDir: out, backend: new MockBackend(answer) });
  try {
    const result = await runLoop(parts);
    return { result, store: parts.store, samples: parts.store.loadSamples(1, 'sample'), tasks: new Map((parts.store.loadTasks(1, 'train') ?? []).map((t) => [t.id, t])), metrics: parts.store.metrics(1), accepted: parts.store.samplesById(parts.store.acceptedIds(1, 1)) };
  } finally {
    await close();
  }
}

/** The verdict a sample should get from the vote: by its task's class and its index. */
function expectedReward(task: Task, sample: StoredSample): number | 'not-applicable' {
  const k = classOf(task);
  if (k === 1) return 'not-applicable';
  if (k === 0) return sample.sampleIndex < 3 ? 1 : 0;
  return sample.sampleIndex === 0 ? 0 : 1;
}

describe('majority vote in the loop, through the recipe', () => {
  test('self-training: samples are rewarded by the vote, ties abstain, held-out accuracy uses the labels, reward/label_* compare the two', async () => {
    const { result, samples, tasks, metrics, accepted } = await runRecipe(recipeOf(), voting);
    const classes = [0, 1, 2].map((k) => [...tasks.values()].filter((t) => classOf(t) === k).length);
    assert.ok(classes.every((c) => c > 0), `every class of task is drawn: ${classes}`);
    const [c0, c1, c2] = classes;
    for (const s of samples) {
      assert.deepEqual(s.verifier, { name: 'majority-vote', version: '1 (numeric, min 0.5)' });
      const v = s.verification!;
      assert.equal(v.status === 'scored' ? v.reward : v.status, expectedReward(tasks.get(s.taskId)!, s), `${s.prompt}${s.completion} #${s.sampleIndex}`);
    }
    // Accepted: the majority answer of class 0 (right) and class 2 (wrong) tasks, one each (capPerTask 1).
    assert.equal(accepted.length, c0 + c2);
    for (const s of accepted) assert.equal(Number(s.completion), Number(tasks.get(s.taskId)!.answer) + (classOf(tasks.get(s.taskId)!) === 2 ? 1 : 0));
    assert.equal(metrics['verify/not_applicable_rate'], c1 / tasks.size);
    assert.equal(metrics['reward/label_coverage'], (c0 + c2) / tasks.size);
    assert.equal(metrics['reward/label_agreement'], (4 * c0) / (4 * c0 + 4 * c2));
    assert.equal(metrics['reward/label_precision'], (3 * c0) / (3 * c0 + 3 * c2));
    assert.equal(metrics['reward/label_recall'], (3 * c0) / (3 * c0 + c2));
    assert.equal(metrics['reward/label_accuracy'], (3 * c0 + 2 * c1 + c2) / (4 * tasks.size));
    assert.equal(metrics['exploit/precision'], undefined, 'acceptance precision against the vote itself would read 1; the label monitor reports instead');
    // Greedy evaluation (sample 0, always right) is scored by the addition verifier: a vote over one sample would abstain.
    assert.deepEqual(result.rounds.map((r) => r.evaluation.accuracy), [1, 1]);
  });

  test('RL: each group is voted as one; groups without a majority are counted and left out of the step', async () => {
    const recipe = recipeOf({ rl: { steps: 2, promptsPerStep: 6, learningRate: 1e-4, kl: { track: false } }, accept: undefined, train: undefined });
    const { result, samples, tasks, metrics } = await runRecipe(recipe, voting);
    assert.equal(samples.length, 2 * 6 * 4);
    for (const s of samples) {
      assert.equal(s.verifier?.name, 'majority-vote');
      const v = s.verification!;
      assert.equal(v.status === 'scored' ? v.reward : v.status, expectedReward(tasks.get(s.taskId)!, s));
    }
    const abstained = samples.filter((s) => s.verification?.status === 'not-applicable').length;
    assert.equal(metrics['sampling/verify_errors'], abstained);
    // sampling/completions counts the completions the step could use: the abstentions are not among them.
    assert.equal(metrics['sampling/completions'], 48 - abstained);
    assert.ok(abstained > 0 && abstained < 48);
    assert.ok(Number.isFinite(metrics['reward/label_agreement']));
    assert.equal(result.rounds[1].evaluation.accuracy, 1);
  });
});

describe('recipe checks for majority-vote', () => {
  const refused = (over: Record<string, unknown>, field: string, message: RegExp) =>
    assert.throws(() => recipeOf(over), (e: Error) => e instanceof InvalidConfigError && e.field === field && message.test(e.message), `${field}: ${JSON.stringify(over)}`);

  test('each combination that cannot work is refused, naming the field and the fix', () => {
    refused({ sample: { n: 1 } }, 'sample.n', /a lone sample always agrees with itself; majority vote needs several samples per task/);
    refused({ reflect: { enabled: true } }, 'reflect.enabled', /majority-vote only says whether an answer agrees/);
    refused({ rationalize: { enabled: true } }, 'rationalize.enabled', /majority-vote is label-free/);
    refused({ rl: { advantage: 'self-critical' }, accept: undefined, train: undefined }, 'rl.advantage', /use grpo, rloo or dr-grpo/);
    refused({ rl: { sampling: { kind: 'reinforce-ada', perRound: 1 } }, accept: undefined, train: undefined }, 'rl.sampling.perRound', /is 1, and each Reinforce-Ada round votes on its own.*set rl.sampling.perRound ≥ 2/);
    assert.equal(recipeOf({ rl: { sampling: { kind: 'reinforce-ada', perRound: 2 } }, accept: undefined, train: undefined }).rl?.sampling.kind, 'reinforce-ada');
    refused({ accept: { by: 'majority' } }, 'accept.by', /use accept.by: verifier, or remove `verifier`/);
    refused({ verifier: { kind: 'majority-vote', minAgreement: 2 } }, 'verifier.minAgreement', /must be ≤ 1/);
    refused({ verifier: { kind: 'majority-vote', quorum: 2 } }, 'verifier.quorum', /unknown key/);
    refused({ verifier: { kind: 'vote' } }, 'verifier.kind', /expected one of: tasks, judge, majority-vote/);
  });

  test('the shipped recipe validates', async () => {
    const { loadRecipe } = await import('../../src/recipe/load.js');
    const recipe = loadRecipe(join(import.meta.dirname, '../../../recipes/majority-vote.yaml'));
    assert.deepEqual(recipe.verifier, { kind: 'majority-vote', answerMarker: '>', answerEnd: [';'], match: 'numeric', minAgreement: 0.5 });
  });
});
