/** `autodidact demo --fresh` starts its runs over without deleting anything autodidact did not write (issue 13: it deleted the whole --out directory). */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEMO_SETTINGS, runDemo, type DemoSettings } from '../../src/cli/demo.js';
import { RunDirectoryError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-demo-'));
after(() => rmSync(root, { recursive: true, force: true }));

const tiny: DemoSettings = {
  ...DEMO_SETTINGS,
  format: 'plain',
  model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 96 },
  labels: { count: 8, difficulties: [1] },
  sft: { ...DEMO_SETTINGS.sft, steps: 2 },
  curriculum: { start: 1, max: 1, promoteAt: 0.5, review: 0 },
  rounds: 1,
  perRound: 4,
  sample: { n: 2, temperature: 0.7 },
  train: { ...DEMO_SETTINGS.train, steps: 1 },
  evalCount: 4,
};

test('demo --fresh deletes only its runs\' own files: a file of the user\'s in --out survives, and one inside a run makes it refuse', { timeout: 120_000 }, async () => {
  const out = join(root, 'p');
  mkdirSync(out);
  writeFileSync(join(out, 'thesis.txt'), 'x');
  const options = { seed: 0, json: false, out, fresh: true, settings: tiny, methods: ['rest-em' as const] };
  assert.ok(await runDemo(options, () => {}));
  assert.equal(readFileSync(join(out, 'thesis.txt'), 'utf8'), 'x');
  assert.ok(existsSync(join(out, 'finished.json')));
  writeFileSync(join(out, 'sft', 'notes.txt'), 'mine');
  await assert.rejects(runDemo(options, () => {}), (error: Error) => error instanceof RunDirectoryError && error.message.includes('this run directory also holds notes.txt'));
  assert.equal(readFileSync(join(out, 'sft', 'notes.txt'), 'utf8'), 'mine');
  assert.ok(existsSync(join(out, 'sft', 'run.sqlite')), 'the refused run is untouched');
});
