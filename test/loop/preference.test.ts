/**
 * The preference method (online iterative DPO, src/run/methods/preference.ts)
 * end to end on the embedded engine at a tiny scale: pairs are a passing and a
 * failing attempt at one task, the loss is finite, every parameter tensor moves,
 * the metrics are there, a run stopped and reopened stores what an
 * uninterrupted one does; the pair curation and the NLL term by hand; ipo and
 * simpo (no reference engine) as peers; the recipe errors word for word.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { openRun } from '../../src/run/open-run.js';
import { runLoop } from '../../src/run/loop.js';
import { methodOf } from '../../src/run/methods/index.js';
import { preferencePairs, withChosenNll } from '../../src/run/methods/preference.js';
import { loadRecipe, validateRecipe } from '../../src/recipe/load.js';
import type { Recipe, RecipeInput } from '../../src/recipe/schema.js';
import { RunStore, type StoredSample } from '../../src/store/run-store.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { preferenceLossFunction } from '../../src/learn/algorithms/preference.js';
import type { Datum } from '../../src/spec/training-backend.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-preference-'));
after(() => rmSync(root, { recursive: true, force: true }));
const repository = fileURLToPath(new URL('../../../', import.meta.url));

/** A tiny model, SFT on short sums until it is right about half the time on one digit, then two rounds of DPO on one-digit sums. */
const base: RecipeInput = {
  name: 'dpo-test',
  seed: 3,
  rounds: 2,
  model: { config: { dModel: 48, nLayers: 2, nHeads: 4, maxSeqLen: 24 } },
  tasks: { family: 'addition', options: { format: 'plain' }, perRound: 24 },
  warmup: { count: 100, difficulties: [1, 2], steps: 300, batchSize: 32, learningRate: 3e-3 },
  curriculum: { kind: 'fixed', difficulty: 1 },
  sample: { n: 4, temperature: 1, maxTokens: 6, chunk: 8 },
  preference: { loss: 'dpo', beta: 1, pairsPerTask: 2, steps: 4, batchSize: 8, learningRate: 1e-4 },
  eval: { count: 10 },
};

/** Runs a recipe into `out`; with `stopEvery`, each opening stops at its stopEvery-th shouldStop check and the run is reopened (new engines) until it finishes. */
async function run(recipe: Recipe, out: string, stopEvery?: number): Promise<number> {
  for (let opens = 1; ; opens++) {
    const { parts, close } = await openRun(recipe, { out: join(root, out), baseDir: root });
    let checks = 0;
    try {
      const result = await runLoop(parts, stopEvery ? { shouldStop: () => ++checks === stopEvery } : {});
      if (!result.stopped) return opens;
    } finally {
      await close();
    }
  }
}

/** What a run stored that the method decides: its pairs (by sample key), round metrics (timings left out), and the final weights. */
function stored(out: string, rounds: number) {
  const store = new RunStore(join(root, out, 'run.sqlite'), { readonly: true });
  try {
    const key = (s: StoredSample) => `${s.taskId}/${s.sampleIndex}`;
    return Array.from({ length: rounds + 1 }, (_, round) => {
      const byId = new Map(store.loadSamples(round).map((s) => [s.id, s]));
      return {
        pairs: store.pairs(round).map((p) => ({ task: p.taskId, chosen: byId.get(p.chosenId)!, rejected: byId.get(p.rejectedId)! })),
        pairKeys: store.pairs(round).map((p) => `${key(byId.get(p.chosenId)!)} > ${key(byId.get(p.rejectedId)!)}`),
        samples: [...byId.values()],
        tasks: store.loadTasks(round, 'train') ?? [],
        accepted: store.acceptedSet(round),
        metrics: Object.fromEntries(Object.entries(store.metrics(round)).filter(([k]) => !k.startsWith('timing_ms/'))),
        weights: readSafetensors(join(store.checkpoint(round)!.path, 'model.safetensors')).tensors,
      };
    });
  } finally {
    store.close();
  }
}

describe('preference rounds on the embedded engine', () => {
  const recipe = validateRecipe(base);

  test('pairs are a passing and a failing attempt at one task; the loss is finite; every parameter tensor moves; the metrics are there', { timeout: 300_000 }, async () => {
    assert.equal(methodOf(recipe).name, 'preference');
    await run(recipe, 'straight');
    const rounds = stored('straight', 2);
    for (const round of [1, 2]) {
      const { pairs, samples, tasks, accepted, metrics } = rounds[round];
      assert.ok(pairs.length > 0, `round ${round} made pairs`);
      for (const { task, chosen, rejected } of pairs) {
        assert.equal(chosen.taskId, task);
        assert.equal(rejected.taskId, task, 'chosen and rejected answer the same task');
        assert.ok(chosen.verification?.status === 'scored' && chosen.verification.pass, `chosen ${chosen.completion} passes`);
        assert.ok(rejected.verification?.status === 'scored' && !rejected.verification.pass, `rejected ${rejected.completion} fails`);
        assert.notEqual(chosen.completion, rejected.completion);
        assert.equal(chosen.round, round);
        assert.equal(rejected.round, round);
      }
      // At most pairsPerTask distinct pairs per task; a task without a pass or without a fail gives none, and is counted.
      const perTask = new Map<string, Set<string>>();
      for (const p of rounds[round].pairKeys) (perTask.get(p.split('/')[0]) ?? perTask.set(p.split('/')[0], new Set()).get(p.split('/')[0])!).add(p);
      const sampled = (id: string, pass: boolean) => samples.some((s) => s.taskId === id && s.verification?.status === 'scored' && s.verification.pass === pass);
      const withoutPair = tasks.filter((t) => !(sampled(t.id, true) && sampled(t.id, false)));
      assert.equal(metrics['pairs/tasks_without_pair'], withoutPair.length);
      assert.ok(withoutPair.every((t) => !perTask.has(t.id)));
      for (const [id, set] of perTask) assert.ok(set.size === pairs.filter((p) => p.task === id).length && set.size <= 2, `task ${id}: ${set.size} distinct pairs`);
      assert.equal(metrics['pairs/count'], pairs.length);
      assert.deepEqual(accepted.map((a) => a.sampleId), [...new Set(pairs.map((p) => p.chosen.id))].sort((a, b) => a - b), 'the chosen side is the accepted set');
      for (const key of ['preference/loss', 'preference/accuracy', 'preference/margin', 'preference/chosen_reward', 'preference/rejected_reward', 'preference/chosen_logprob', 'preference/grad_norm', 'preference/optimizer_steps', 'pairs/count', 'pairs/tasks_without_pair', 'reward/mean', 'eval/accuracy']) {
        assert.ok(Number.isFinite(metrics[key]), `round ${round}: ${key} = ${metrics[key]}`);
      }
      assert.ok(metrics['preference/loss'] > 0 && metrics['preference/grad_norm'] > 0);
      assert.equal(metrics['preference/optimizer_steps'], 4);
      console.log(`  round ${round}: ${pairs.length} pairs, ${withoutPair.length}/${tasks.length} tasks without one, reward/mean ${metrics['reward/mean'].toFixed(3)}, preference/loss ${metrics['preference/loss'].toFixed(4)}, accuracy ${metrics['preference/accuracy'].toFixed(2)}, margin ${metrics['preference/margin'].toFixed(4)}`);
      // Every parameter tensor moved in the round's update.
      const [before, after] = [rounds[round - 1].weights, rounds[round].weights];
      assert.ok(before.size > 0);
      for (const [name, tensor] of before) assert.ok(tensor.data.some((v, i) => v !== after.get(name)!.data[i]), `${name} did not change in round ${round}`);
    }
  });

  test('a run stopped every 3 checks and reopened stores the same pairs, metrics and weights as an uninterrupted one', { timeout: 300_000 }, async () => {
    const opens = await run(recipe, 'resumed', 3);
    assert.ok(opens > 4, `stopped ${opens - 1} times`);
    const [straight, resumed] = [stored('straight', 2), stored('resumed', 2)];
    for (const round of [1, 2]) {
      assert.deepEqual(resumed[round].pairKeys, straight[round].pairKeys, `round ${round}: the same pairs`);
      assert.deepEqual(resumed[round].metrics, straight[round].metrics, `round ${round}: the same metrics`);
      for (const [name, tensor] of straight[round].weights) assert.deepEqual(resumed[round].weights.get(name)!.data, tensor.data, `round ${round}: ${name} bit for bit`);
    }
  });

  test('ipo with the NLL term and a previous-round reference, and reference-free simpo (no reference engine), run as peers', { timeout: 300_000 }, async () => {
    const start = join(root, 'straight', 'checkpoints', 'round-0');
    for (const preference of [{ loss: 'ipo', beta: 0.5, reference: 'previous', nllCoef: 1 }, { loss: 'simpo', beta: 2, gamma: 0.5 }] as const) {
      const variant = validateRecipe({ ...base, name: `peer-${preference.loss}`, rounds: 1, model: { checkpoint: start }, preference: { ...base.preference, ...preference } });
      const { parts, close } = await openRun(variant, { out: join(root, variant.name), baseDir: root });
      try {
        assert.equal(parts.reference !== undefined, preference.loss === 'ipo', `${preference.loss}: a reference engine only when the loss reads one`);
        await runLoop(parts);
        const m = parts.store.metrics(1);
        for (const key of ['preference/loss', 'preference/grad_norm', ...(preference.loss === 'ipo' ? ['preference/nll'] : [])]) assert.ok(Number.isFinite(m[key]), `${preference.loss}: ${key} = ${m[key]}`);
        assert.equal(m['preference/nll'] === undefined, preference.loss === 'simpo', 'preference/nll only with nllCoef');
      } finally {
        await close();
      }
    }
  });
});

describe('pair curation and the NLL term', () => {
  const sample = (id: number, taskId: string, completion: string, verdict: boolean | 'error'): StoredSample => ({
    id, round: 1, kind: 'sample', taskId, sampleIndex: id, prompt: `${taskId}=`, completion, tokens: [1], logprobs: [-1], finishReason: 'stop', policyVersion: 'sft', sampler: {},
    verification: verdict === 'error' ? { status: 'error', error: 'boom' } : { status: 'scored', reward: verdict ? 1 : 0, pass: verdict, feedback: '' },
    verifier: { name: 'v', version: '1' },
  });
  const tasks = ['a', 'b', 'c', 'd'].map((id) => ({ id, prompt: `${id}=`, family: 'toy', meta: {} }));
  const samples = [
    sample(1, 'a', '1', true), sample(2, 'a', '1', true), sample(3, 'a', '2', false), sample(4, 'a', '3', false), sample(5, 'a', '4', true),
    sample(6, 'b', '1', true), sample(7, 'b', '1', true), // all pass
    sample(8, 'c', '2', false), sample(9, 'c', '1', 'error'), // a fail and an unscored sample: no pass
    sample(10, 'd', '5', true), sample(11, 'd', '6', false),
  ];

  test('distinct (chosen, rejected) combinations of distinct completions, capped per task, seeded; tasks without a pass or a fail counted', () => {
    const { pairs, tasksWithoutPair } = preferencePairs(tasks, samples, 3, 7);
    assert.equal(tasksWithoutPair, 2);
    const a = pairs.filter((p) => p.taskId === 'a');
    assert.equal(a.length, 3, 'task a: 2 distinct passes × 2 fails = 4 combinations, capped at 3');
    assert.equal(new Set(a.map((p) => `${p.chosenId}>${p.rejectedId}`)).size, 3);
    assert.ok(a.every((p) => [1, 5].includes(p.chosenId) && [3, 4].includes(p.rejectedId)), 'sample 2 repeats sample 1\'s completion');
    assert.deepEqual(pairs.filter((p) => p.taskId === 'd'), [{ taskId: 'd', chosenId: 10, rejectedId: 11 }]);
    assert.deepEqual(preferencePairs(tasks, samples, 3, 7), { pairs, tasksWithoutPair }, 'the same seed, the same pairs');
    assert.equal(preferencePairs(tasks, samples, 1, 7).pairs.length, 2);
  });

  test('withChosenNll adds coef × the chosen completion\'s token-mean NLL, and its gradient −coef/(pairs·|y_w|) on the chosen completion only', () => {
    const datum = (weights: number[]): Datum => ({ inputTokens: weights.map(() => 1), targetTokens: weights.map(() => 2), weights });
    const batch = [datum([0, 1, 1]), datum([0, 1, 1, 1])];
    const logprobs = [Float32Array.from([-5, -1, -2]), Float32Array.from([-5, -0.5, -1, -1.5])];
    const dpo = preferenceLossFunction({ loss: 'dpo', beta: 0.1 }, [-4, -2.5]);
    const plain = dpo(logprobs, batch);
    const withNll = withChosenNll(dpo, 0.5)(logprobs, batch);
    assert.ok(Math.abs(withNll.loss - (plain.loss + 0.5 * 1.5)) < 1e-6, `loss ${withNll.loss}: dpo ${plain.loss} + 0.5 × 3/2`);
    assert.equal(withNll.metrics!['preference/nll'], 1.5);
    assert.deepEqual(Array.from(withNll.grad[0]), Array.from(plain.grad[0]).map((g, t) => (t === 0 ? g : Math.fround(g - 0.25))));
    assert.deepEqual(Array.from(withNll.grad[1]), Array.from(plain.grad[1]), 'the rejected completion gets no NLL gradient');
    assert.equal(withChosenNll(dpo, 0), dpo);
  });
});

describe('preference recipe errors', () => {
  const refused = (recipe: unknown, message: string) => assert.throws(() => validateRecipe(recipe), (e: Error) => e.message === message || assert.fail(`got: ${e.message}`));
  const { warmup: _warmup, ...noWarmup } = base;

  test('one method per recipe, no other method\'s sections, two samples per task, the loss\'s own settings — word for word', () => {
    refused({ ...base, rl: {} }, 'Invalid config field `preference`: makes this a preference recipe, but `rl` makes it a policy-gradient one; a recipe runs one method: remove `preference` or `rl`');
    refused({ ...noWarmup, tasks: { family: 'programs' }, selfplay: {} }, 'Invalid config field `preference`: makes this a preference recipe, but `selfplay` makes it a self-play one; a recipe runs one method: remove `preference` or `selfplay`');
    refused({ ...base, train: { steps: 10 } }, 'Invalid config field `train`: is not read by the preference method (it trains preference.steps steps on pairs of a passing and a failing attempt (preference.learningRate)); remove `train`');
    refused({ ...base, accept: { capPerTask: 2 } }, 'Invalid config field `accept`: is not read by the preference method (it pairs a passing and a failing attempt instead of accepting passing ones); remove `accept`');
    refused({ ...base, method: 'self-training' }, 'Invalid config field `preference`: configures the preference method, but this recipe\'s method is self-training; a recipe runs one method: remove `preference`, or set method: preference');
    refused({ ...base, method: 'policy-gradient' }, 'Invalid config field `rl`: is missing: method policy-gradient is configured by its `rl` section; add it (see recipes/ for one of each), or choose another method');
    refused({ ...base, reflect: { enabled: true } }, 'Invalid config field `reflect.enabled`: is a self-training step; a preference recipe pairs the policy\'s own attempts instead. Remove it');
    refused({ ...base, sample: { n: 1 } }, 'Invalid config field `sample.n`: is 1, and a preference pair is a passing and a failing attempt at one task; set sample.n ≥ 2 (e.g. 4)');
    refused({ ...base, preference: { loss: 'kto' } }, 'Invalid config field `preference.loss`: unknown preference loss "kto"; valid: dpo, ipo, simpo');
    refused({ ...base, preference: { loss: 'dpo', gamma: 1 } }, 'Invalid config field `preference.gamma`: the dpo loss does not use it; remove it (read by: simpo)');
    refused({ ...base, preference: { loss: 'dpo', labelSmoothing: 0.5 } }, 'Invalid config field `preference.labelSmoothing`: must lie in [0, 0.5), got 0.5');
    refused({ ...base, preference: { loss: 'simpo', beta: 2, reference: 'base' } }, 'Invalid config field `preference.reference`: the simpo loss is reference-free and reads no reference; remove preference.reference');
    refused({ ...base, preference: { pairsPerTask: 0 } }, 'Invalid config field `preference.pairsPerTask`: must be > 0, got number 0');
    refused({ ...base, preference: { steps: 3, lerningRate: 1 } }, 'Invalid config field `preference.lerningRate`: unknown key — did you mean `learningRate`?');
  });

  test('a `preference:` field set on a self-training recipe names the self-training section it cannot share a recipe with; recipes/dpo.yaml loads', () => {
    assert.throws(() => loadRecipe(join(repository, 'recipes/rest-em.yaml'), ['preference.steps=3']), (e: Error) => e.message === 'Invalid config field `preference`: configures the preference method, but this recipe\'s method is self-training; a recipe runs one method: remove `preference`, or set method: preference' || assert.fail(e.message));
    assert.throws(() => loadRecipe(join(repository, 'recipes/grpo.yaml'), ['preference.loss=dpo']), (e: Error) => e.message.startsWith('Invalid config field `preference`: configures the preference method, but this recipe\'s method is policy-gradient') || assert.fail(e.message));
    const dpo = loadRecipe(join(repository, 'recipes/dpo.yaml'));
    assert.equal(methodOf(dpo).name, 'preference');
  });
});
