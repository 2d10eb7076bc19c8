/**
 * Controllers in real runs (embedded engine, tiny scale): recipes/b-star.yaml
 * re-chooses the temperature and threshold each round from its probes, and
 * every sample of the round is drawn at the chosen temperature; learnability
 * over a fixed pool weights recurring tasks by their solve rates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadRecipe } from '../../src/recipe/load.js';
import { runRecipe } from '../../src/cli/run.js';
import { RunStore } from '../../src/store/run-store.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-controllers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const recipesDir = new URL('../../../recipes/', import.meta.url).pathname;
const tiny = ['model.config={dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 128}', 'warmup.count=20', 'warmup.steps=20', 'tasks.perRound=8', 'eval.count=4', 'train.steps=4'];

test('recipes/b-star.yaml: each round samples at the temperature its probes chose, accepts by the chosen threshold', { timeout: 300_000 }, async () => {
  const recipe = loadRecipe(join(recipesDir, 'b-star.yaml'), [...tiny, 'rounds=2', 'controllers=[{ kind: b-star, temperatures: [0.4, 1.3], thresholds: [1], nStar: 2, probeTasks: 2, probeSamples: 4 }]']);
  const out = join(dir, 'b-star');
  const result = await runRecipe(recipe, { out, baseDir: recipesDir, log: () => {}, formatRound: () => null });
  const store = new RunStore(join(out, 'run.sqlite'));
  try {
    for (const round of [1, 2]) {
      const stored = store.loadPlan(round)!;
      const m = result.rounds[round].metrics;
      assert.ok([0.4, 1.3].includes(m['bstar/temperature']), `round ${round}: bstar/temperature ${m['bstar/temperature']}`);
      assert.equal(stored.plan.sampling.temperature, m['bstar/temperature']);
      assert.equal(stored.plan.acceptThreshold, 1);
      assert.equal(stored.probes['b-star'].length, 2 * 2 * 4, 'probe tasks × temperatures × samples');
      assert.ok(Number.isFinite(m['bstar/balance']));
      const temperatures = new Set(store.loadSamples(round, 'sample').map((s) => s.sampler.temperature));
      assert.deepEqual([...temperatures], [m['bstar/temperature']], `round ${round}: every sample at the chosen temperature`);
    }
  } finally {
    store.close();
  }
});

test('learnability over a fixed pool: rounds draw from the pool, weighted by each task’s solve rate', { timeout: 300_000 }, async () => {
  const recipe = loadRecipe(join(recipesDir, 'rest-em.yaml'), [...tiny, 'rounds=2', 'tasks.pool=12', 'curriculum={kind: fixed, difficulty: 2}', 'controllers=[{ kind: learnability, window: 2 }]']);
  const out = join(dir, 'learnability');
  const result = await runRecipe(recipe, { out, baseDir: recipesDir, log: () => {}, formatRound: () => null });
  const store = new RunStore(join(out, 'run.sqlite'));
  try {
    const first = store.loadTasks(1, 'train')!;
    const second = store.loadTasks(2, 'train')!;
    assert.equal(first.length, 8);
    const seen = new Set(first.map((t) => t.id));
    assert.ok(second.some((t) => seen.has(t.id)), 'tasks recur across rounds (drawn from one pool)');
    const plan = store.loadPlan(2)!.plan;
    assert.equal(plan.setBy.taskWeights, 'learnability');
    // Weights are p(1 − p) of round 1's solve rates (floored), for the tasks round 1 tried.
    const samples = store.loadSamples(1, 'sample');
    for (const task of first) {
      const own = samples.filter((s) => s.taskId === task.id);
      const p = own.filter((s) => s.verification?.status === 'scored' && s.verification.pass).length / own.length;
      assert.ok(Math.abs(plan.taskWeights![task.id] - Math.max(p * (1 - p), 0.01)) < 1e-12, `task ${task.id}: weight ${plan.taskWeights![task.id]} for p = ${p}`);
    }
    assert.ok(Number.isFinite(result.rounds[2].metrics['curriculum/learnability_mean']));
  } finally {
    store.close();
  }
});
