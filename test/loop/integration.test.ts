/**
 * A small seeded self-training run on the real embedded engine: ReST-EM on
 * word reversal, 100 labels per length, then four rounds on unlabeled
 * 3-letter words. Held-out accuracy must rise at least 15 points above the
 * SFT baseline (measured: 7% → 36% on 2 threads, 2026-11-26).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openRun } from '../../src/run/open-run.js';
import { runLoop } from '../../src/run/loop.js';
import { validateRecipe } from '../../src/recipe/load.js';

test('rest-em on unlabeled words raises held-out accuracy above the SFT baseline', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'autodidact-integration-'));
  try {
    const recipe = validateRecipe({
      name: 'integration',
      seed: 0,
      rounds: 4,
      model: { config: { dModel: 64, nLayers: 2, nHeads: 2, maxSeqLen: 24 } },
      tasks: { family: 'string', options: { operation: 'reverse' }, perRound: 128 },
      warmup: { count: 100, difficulties: [2, 3], steps: 200, learningRate: 0.003 },
      curriculum: { kind: 'fixed', difficulty: 3 },
      sample: { n: 4, temperature: 0.8, maxTokens: 6, stop: [';'], chunk: 64 },
      accept: { by: 'verifier', capPerTask: 1 },
      train: { steps: 150, learningRate: 0.003, from: 'previous', data: 'all', includeLabeled: true },
      eval: { count: 100, difficulties: [3] },
    });
    const { parts, close } = await openRun(recipe, { out: dir, baseDir: dir });
    try {
      const result = await runLoop(parts);
      const accuracy = result.rounds.map((r) => r.evaluation.accuracy);
      console.log(`  held-out accuracy by round: ${accuracy.map((a) => `${(a * 100).toFixed(0)}%`).join(' → ')}`);
      assert.equal(result.rounds.length, 5);
      assert.ok(result.rounds.slice(1).every((r) => r.accepted > 0), 'every round accepts some of its own attempts');
      assert.ok(accuracy[4] >= accuracy[0] + 0.15, `final ${accuracy[4]} should be ≥ baseline ${accuracy[0]} + 0.15`);
    } finally {
      await close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
