/**
 * SCoRe inside the policy-gradient method: hand-computed per-attempt examples
 * (credit, advantages, KL coefficients, datums from the trajectory's tokens),
 * two-attempt trajectories in the run store (a `sample` row and a
 * `correction` row whose parent is the first attempt, rebuilt into the same
 * turns), and recipes/score.yaml
 * end to end at a tiny scale with its correction metrics.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Trajectory, Turn } from '../../src/spec/trajectory.js';
import { loadTrajectoryTurns, selfCorrectionExamples, storeTrajectories, type Member } from '../../src/run/trajectories.js';
import { RunStore } from '../../src/store/run-store.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { runRecipe } from '../../src/cli/run.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-score-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const turn = (observation: number[], action: number[], reward: number, pass: boolean): Turn => ({
  observation: String.fromCharCode(...observation.filter((t) => t < 256)),
  observationTokens: observation,
  action: String.fromCharCode(...action),
  actionTokens: action,
  logprobs: action.map(() => -1),
  behaviourLogprobs: action.map(() => -0.5),
  finishReason: 'stop',
  reward,
  feedback: pass ? 'right' : 'wrong',
  verification: { status: 'scored', reward, pass, feedback: pass ? 'right' : 'wrong' },
});
const task = { id: 't', family: 'addition', prompt: '1+1=' };
/** A two-attempt trajectory with rewards r1, r2. */
const episode = (r1: number, r2: number, index: number): Trajectory => ({
  task,
  turns: [turn([256, 49, 43, 49, 61], [50 + index], r1, r1 === 1), turn([33], [51 + index], r2, r2 === 1)],
  reward: r2,
  pass: r2 === 1,
  policyVersion: 'v',
  sampling: { n: 3, temperature: 1, maxTokens: 4, seed: 0 },
  provenance: { round: 1, step: 0, kind: 'sample', sampleIndex: index, environment: { name: 'two-attempt(match)', version: '1' } },
});
const turnsOf = (store: RunStore, id: number) => loadTrajectoryTurns(store, id).turns;
const members = (rewards: [number, number][]): Member[] => rewards.map(([r1, r2], i) => ({ trajectory: episode(r1, r2, i), group: 0, pass: r2 === 1, passRate: 0 }));

describe('SCoRe examples', () => {
  test('Stage I: attempt 1 gets zero advantage and KL β2; attempt 2 its group-normalized r2 and β1', () => {
    const { examples } = selfCorrectionExamples(members([[0, 1], [1, 0], [0, 0]]), { stage: 1, alpha: 10, beta1: 0.01, beta2: 0.1 }, 'grpo', {});
    assert.deepEqual(examples.slice(0, 3).map((e) => [e.advantage, e.klCoef]), [[0, 0.1], [0, 0.1], [0, 0.1]]);
    // r2 = [1, 0, 0]: mean 1/3, std (Bessel) √(1/3): advantages (1 − 1/3)/0.57735 = 1.1547, −0.57735, −0.57735.
    const second = examples.slice(3).map((e) => e.advantage);
    assert.ok(Math.abs(second[0] - 1.1547) < 1e-4 && Math.abs(second[1] + 0.57735) < 1e-4 && Math.abs(second[2] + 0.57735) < 1e-4, `${second}`);
    assert.ok(examples.slice(3).every((e) => e.klCoef === 0.01));
  });

  test('Stage II: attempt 1 is credited with r1, attempt 2 with r̂2 = r2 + α(r2 − r1); the datums are the tokens before each attempt', () => {
    const { examples } = selfCorrectionExamples(members([[0, 1], [1, 0]]), { stage: 2, alpha: 2, beta1: 0.01, beta2: 0.1 }, 'grpo', {});
    // r1 = [0, 1]; r̂2 = [1 + 2·1, 0 + 2·(−1)] = [3, −2]. Two members: (x − mean)/std with std = |a − b|/√2.
    const [a1, b1, a2, b2] = examples.map((e) => e.advantage);
    assert.ok(Math.abs(a1 + Math.SQRT1_2) < 1e-6 && Math.abs(b1 - Math.SQRT1_2) < 1e-6, `attempt 1: ${a1}, ${b1}`);
    assert.ok(Math.abs(a2 - Math.SQRT1_2) < 1e-6 && Math.abs(b2 + Math.SQRT1_2) < 1e-6, `attempt 2: ${a2}, ${b2}`);
    assert.ok(examples.every((e) => e.klCoef === 0.01));
    // Attempt 1's datum ends at its action; attempt 2's holds prompt, attempt 1, the instruction, attempt 2; each trains only its own action.
    assert.deepEqual(Array.from(examples[0].datum.targetTokens), [49, 43, 49, 61, 50]);
    assert.deepEqual(Array.from(examples[2].datum.targetTokens), [49, 43, 49, 61, 50, 33, 51]);
    assert.deepEqual(Array.from(examples[2].datum.weights!), [0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(examples[2].oldLogprobs, [-0.5], 'behaviour logprobs');
  });
});

describe('two-attempt trajectories in the run store', () => {
  test('one sample row and one correction row (its parent the first attempt), each with its verdict', () => {
    mkdirSync(join(dir, 'store'));
    const store = new RunStore(join(dir, 'store', 'run.sqlite'));
    try {
      const trajectories = [episode(0, 1, 0), episode(1, 1, 1)];
      const ids = storeTrajectories(store, trajectories, new Map(), { temperature: 1 }, { name: 'match', version: '1' });
      const rows = store.loadSamples(1);
      assert.deepEqual(rows.map((r) => [r.kind, r.sampleIndex, r.parentId ?? null, r.completion, r.verification?.status === 'scored' && r.verification.reward]), [
        ['sample', 0, null, '2', 0],
        ['sample', 1, null, '3', 1],
        ['correction', 0, ids.get(trajectories[0]), '3', 1],
        ['correction', 1, ids.get(trajectories[1]), '4', 1],
      ]);
      assert.equal(rows[2].prompt, '1+1=2!', 'a correction row reads the whole episode before it');
    } finally {
      store.close();
    }
  });

  test('a stored episode is rebuilt into the turns the rollout made: observations and their tokens, actions, both logprobs, rewards and feedback', () => {
    mkdirSync(join(dir, 'rebuilt'));
    const store = new RunStore(join(dir, 'rebuilt', 'run.sqlite'));
    try {
      // The second episode's second attempt got a verifier error: no reward, the error as feedback (as the environment gives it).
      const failed = episode(1, 0, 1);
      failed.turns[1] = { ...failed.turns[1], reward: null, feedback: 'verifier error: timed out', verification: { status: 'error', error: 'timed out' } };
      const trajectories = [episode(0, 1, 0), failed];
      const ids = storeTrajectories(store, trajectories, new Map(), { temperature: 0.7 }, { name: 'match', version: '1' });
      for (const trajectory of trajectories) {
        const { sampleIds, turns } = loadTrajectoryTurns(store, ids.get(trajectory)!);
        assert.deepEqual(turns, trajectory.turns);
        assert.equal(sampleIds[0], ids.get(trajectory));
        assert.deepEqual(loadTrajectoryTurns(store, sampleIds[1]).turns, trajectory.turns, 'from its second turn too');
        assert.deepEqual(store.samplesById(sampleIds).map((s) => [s.kind, s.turn, s.prompt]), [['sample', 0, '1+1='], ['correction', 1, '1+1=' + trajectory.turns[0].action + '!']]);
      }
      assert.deepEqual(turnsOf(store, ids.get(trajectories[0])!).map((t) => t.behaviourLogprobs), [[-0.5], [-0.5]], 'behaviour logprobs stored apart from the temperature-1 ones');
    } finally {
      store.close();
    }
  });
});

test('recipes/score.yaml runs end to end (tiny model): two attempts per episode, correction metrics in training and evaluation', { timeout: 300_000 }, async () => {
  const recipesDir = new URL('../../../recipes/', import.meta.url).pathname;
  const recipe = loadRecipe(join(recipesDir, 'score.yaml'), ['rounds=1', 'model.config={dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 160}', 'warmup.count=20', 'warmup.steps=10', 'tasks.perRound=8', 'eval.count=4', 'rl.steps=2', 'rl.promptsPerStep=2', 'sample.n=4']);
  const out = join(dir, 'score-run');
  const result = await runRecipe(recipe, { out, baseDir: recipesDir, log: () => {}, formatRound: () => null });
  const m = result.rounds[1].metrics;
  for (const key of ['correction/acc_t1', 'correction/acc_t2', 'correction/delta', 'correction/i_to_c', 'correction/c_to_i', 'eval/correction/acc_t1', 'eval/correction/acc_t2', 'eval/correction/delta', 'policy/kl', 'policy/grad_norm']) assert.ok(Number.isFinite(m[key]), `${key} = ${m[key]}`);
  assert.ok(Number.isFinite(result.rounds[0].metrics['eval/correction/acc_t2']), 'the baseline is evaluated on two attempts too');
  const store = new RunStore(join(out, 'run.sqlite'));
  try {
    const rows = store.loadSamples(1);
    const first = rows.filter((r) => r.kind === 'sample');
    const second = rows.filter((r) => r.kind === 'correction');
    assert.equal(first.length, 2 * 2 * 4, 'steps × prompts × n first attempts');
    assert.equal(second.length, first.length, 'each episode has its second attempt');
    const byId = new Map(first.map((r) => [r.id, r]));
    for (const row of second) assert.ok(row.prompt.startsWith(byId.get(row.parentId!)!.prompt + byId.get(row.parentId!)!.completion), 'the correction reads its first attempt');
    // Each turn's row holds its behaviour logprobs and its own observation's tokens, so the episode is rebuilt from the store.
    for (const row of rows) assert.equal(row.behaviourLogprobs?.length, row.tokens.length, `sample ${row.id}'s behaviour logprobs`);
    for (const row of second) {
      assert.equal(row.turn, 1);
      const { sampleIds, turns } = loadTrajectoryTurns(store, row.id);
      assert.deepEqual(sampleIds, [row.parentId, row.id]);
      assert.deepEqual(turns.map((t) => t.actionTokens), [byId.get(row.parentId!)!.tokens, row.tokens]);
      assert.equal(turns[0].observation + turns[0].action + turns[1].observation, row.prompt);
      assert.ok(turns.every((t) => t.observationTokens.length > 0), 'observation tokens stored');
    }
  } finally {
    store.close();
  }
});
