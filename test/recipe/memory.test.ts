/**
 * Values that validate but cannot fit in memory are refused when the recipe is
 * validated (and a model too big to allocate when the engine starts), naming
 * the field, the estimate and the limit, instead of dying late of a full heap.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InvalidConfigError } from '../../src/errors.js';
import { parameterCountOf, resolveModelConfig } from '../../src/engine/config.js';
import { EngineCore } from '../../src/engine/engine.js';
import { parameterCount } from '../../src/engine/model.js';
import { validateRecipe } from '../../src/recipe/load.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'autodidact-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const recipe = join(dir, 'ok.yaml');
writeFileSync(recipe, 'name: ok\nrounds: 1\ntasks: { family: addition }\n');
const base = { name: 'x', rounds: 1, tasks: { family: 'addition' } };

/** `autodidact run ok.yaml --dry-run --set <set>`: exits 2 within seconds with one line matching `message`. */
function refusesQuickly(set: string, message: RegExp) {
  const started = performance.now();
  const out = spawnSync(process.execPath, [cli, 'run', recipe, '--dry-run', '--set', set], { encoding: 'utf8', timeout: 60_000 });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(out.status, 2, `exit ${out.status} after ${seconds.toFixed(1)} s\n${out.stderr}`);
  assert.doesNotMatch(out.stderr, /\n\s+at /);
  assert.match(out.stderr.trim(), message);
  assert.ok(seconds < 20, `took ${seconds.toFixed(1)} s`);
}

describe('memory estimates refuse what cannot fit', () => {
  test('tasks.perRound=10000000 is refused at once with the estimate and the V8 heap limit', () => {
    refusesQuickly('tasks.perRound=10000000', /^autodidact: Invalid config field `tasks\.perRound`: 10000000 tasks and 40000000 samples of up to sample\.maxTokens = 64 tokens per round need about [\d.]+ GB of JavaScript heap \(estimate; .*\), above this process's V8 heap limit of [\d.]+ [GM]B; lower tasks\.perRound, sample\.n or sample\.maxTokens/);
  });

  test('model.config.dModel=65536 names the field and the parameter count, not a typed-array length', () => {
    refusesQuickly('model.config.dModel=65536', /^autodidact: Invalid config field `model\.config\.dModel`: gives 275 billion parameters, more than the 4\.29 billion one Float32Array holds/);
  });

  test('the field named is the one whose default shrinks the model most', () => {
    assert.throws(() => validateRecipe({ ...base, model: { config: { nLayers: 100000 } } }), { message: /^Invalid config field `model\.config\.nLayers`: gives 26\.2 billion parameters/ });
    assert.throws(() => validateRecipe({ ...base, model: { config: { dModel: 4096, ffnHidden: 40_000_000 } } }), { message: /^Invalid config field `model\.config\.ffnHidden`:/ });
  });

  test('held-out sets and training batches are estimated too', () => {
    assert.throws(() => validateRecipe({ ...base, eval: { count: 10_000_000 } }), { message: /^Invalid config field `eval\.count`: \d+ held-out tasks with one sample each need about/ });
    assert.throws(() => validateRecipe({ ...base, train: { batchSize: 100_000 } }), { message: /^Invalid config field `train\.batchSize`: 100000 training sequences of at least 64 tokens \(sample\.maxTokens\) need an activation buffer/ });
  });

  test('large settings that fit still validate', () => {
    assert.equal(validateRecipe({ ...base, tasks: { family: 'addition', perRound: 10_000 } }).tasks.perRound, 10_000);
    // A long context does not count against a recipe whose sequences are short.
    assert.equal(validateRecipe({ ...base, model: { config: { maxSeqLen: 4096 } }, train: { batchSize: 64 } }).model.config?.maxSeqLen, 4096);
  });

  test('the engine refuses a model it cannot allocate before allocating, naming the field', () => {
    assert.throws(() => new EngineCore({ model: { dModel: 65536 } }), (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError);
      assert.match(error.message, /^Invalid config field `model\.dModel`: gives 275 billion parameters/);
      return true;
    });
  });

  test("the closed-form parameter count is the engine's layout", () => {
    for (const config of [{}, { tieEmbeddings: true, vocabSize: 300, dModel: 32 }, { dModel: 48, nHeads: 4, nLayers: 3, ffnHidden: 100 }]) {
      const resolved = resolveModelConfig(config);
      assert.equal(parameterCountOf(resolved), parameterCount(resolved));
    }
  });
});
