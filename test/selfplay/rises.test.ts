/**
 * The issue's claim, as a test: `recipes/absolute-zero.yaml` (seed 0, its
 * first two rounds) raises the solver's accuracy on the hand-written held-out
 * programs with no task data — the base is pretrained on executions of random
 * programs only (deduction), and self-play does the rest.
 *
 * This is seed 0 of five measured (docs/results.md): held-out rose in four
 * seeds and fell in one (seed 2, −5.0 points after four rounds), so the test
 * pins one seeded run, not a guarantee for every seed. Measured on 2 threads,
 * 2026-11-26: 23.3% → 25.6% → 27.2%. About 4 minutes on 2 cores.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runRecipe } from '../../src/cli/run.js';
import { loadRecipe } from '../../src/recipe/load.js';

test('absolute-zero self-play raises held-out solver accuracy (seed 0, two rounds)', { timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'autodidact-selfplay-rises-'));
  try {
    const recipe = loadRecipe(new URL('../../../recipes/absolute-zero.yaml', import.meta.url).pathname);
    const result = await runRecipe({ ...recipe, seed: 0, rounds: 2 }, { out: dir, baseDir: dir, log: () => {}, formatRound: () => null });
    const accuracy = result.rounds.map((r) => r.evaluation.accuracy);
    const byType = result.rounds.map((r) => r.evaluation.byDifficulty);
    console.log(`  held-out accuracy by round: ${accuracy.map((a) => `${(a * 100).toFixed(1)}%`).join(' → ')}`);
    console.log(`  deduction / abduction / induction: ${byType.map((b) => ['1', '2', '3'].map((d) => `${Math.round((b[d] ?? 0) * 100)}`).join(' / ')).join(' → ')}`);
    assert.equal(result.rounds.length, 3);
    // 180 held-out tasks: +0.02 is 4 tasks more (measured: 7 more).
    assert.ok(accuracy[2] >= accuracy[0] + 0.02, `after two rounds ${accuracy[2]} should be ≥ the base's ${accuracy[0]} + 0.02`);
    assert.ok(accuracy[1] > accuracy[0], `round 1 ${accuracy[1]} should be above the base's ${accuracy[0]}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
