import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { exportGguf } from '../../src/export/gguf.js';
import { LlamaCppPolicy } from '../../src/policies/llamacpp.js';
import { trainedCheckpoint } from '../export/fixture.js';
import { loadLlamaCpp } from '../helpers.js';

/** The llamacpp policy on a tiny trained checkpoint (node-llama-cpp's prebuilt CPU binary, one thread). */
const tokenizer = new ByteTokenizer();
const PROMPTS = ['the cat', 'a dog sat', 'on the'];
const settings = { n: 3, temperature: 1, maxTokens: 16, seed: 7 };
let checkpoint: string;
let policy: LlamaCppPolicy;
const work = mkdtempSync(join(tmpdir(), 'autodidact-llamacpp-test-'));
const cleanup: string[] = [work];
const { llama: probe, skip } = await loadLlamaCpp(); // skipped, with the reason, where llama.cpp's binary does not load
await probe?.dispose(); // the policy loads its own

before(async () => {
  if (skip) return;
  checkpoint = await trainedCheckpoint();
  cleanup.push(dirname(checkpoint));
  policy = await LlamaCppPolicy.create({ source: checkpoint });
});
after(async () => {
  await policy?.close();
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

describe('LlamaCppPolicy', { skip }, () => {
  test('returns n completions per prompt whose tokens decode to the text, with per-token logprobs', async () => {
    const result = await policy.sample(PROMPTS, settings);
    assert.equal(policy.name, 'llamacpp');
    assert.equal(policy.version, basename(checkpoint));
    assert.equal(result.length, PROMPTS.length);
    for (const group of result) {
      assert.equal(group.length, settings.n);
      for (const completion of group) {
        assert.equal(completion.logprobs.length, completion.tokens.length);
        assert.ok(completion.logprobs.every((value) => Number.isFinite(value) && value <= 0), 'logprobs are finite and ≤ 0');
        const textTokens = completion.tokens.at(-1) === tokenizer.eosId ? completion.tokens.slice(0, -1) : completion.tokens;
        assert.equal(tokenizer.decode(textTokens), completion.text);
        if (completion.finishReason === 'length') assert.equal(completion.tokens.length, settings.maxTokens);
        else assert.equal(completion.tokens.at(-1), tokenizer.eosId);
      }
    }
  });

  test('the same seed gives the same samples; another seed gives others', async () => {
    const first = await policy.sample(PROMPTS, settings);
    const again = await policy.sample(PROMPTS, settings);
    assert.deepEqual(again, first);
    const other = await policy.sample(PROMPTS, { ...settings, seed: 8 });
    assert.notDeepEqual(other.map((g) => g.map((c) => c.tokens)), first.map((g) => g.map((c) => c.tokens)));
    // A sample does not depend on the other prompts in the call: stream (seed, i, j).
    const alone = await policy.sample([PROMPTS[0]], settings);
    assert.deepEqual(alone[0], first[0]);
  });

  test('parallel sequences give the same tokens, with logprobs equal up to float rounding', async () => {
    const parallel = await LlamaCppPolicy.create({ source: checkpoint, parallel: 4 });
    try {
      const one = await policy.sample(PROMPTS, settings);
      const four = await parallel.sample(PROMPTS, settings);
      assert.deepEqual(four.map((g) => g.map((c) => c.tokens)), one.map((g) => g.map((c) => c.tokens)));
      let worst = 0;
      four.forEach((group, i) => group.forEach((completion, j) => completion.logprobs.forEach((value, t) => (worst = Math.max(worst, Math.abs(value - one[i][j].logprobs[t]))))));
      console.log(`  parallel 4 against 1: max |logprob difference| ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-4, `max |logprob difference| ${worst} exceeds 1e-4`);
    } finally {
      await parallel.close();
    }
  });

  test("logprobs are the engine's (temperature 1) and greedy decoding is the engine's", async () => {
    const backend = await EmbeddedBackend.create({ checkpoint });
    try {
      const result = await policy.sample(PROMPTS, { ...settings, temperature: 0.8, topP: 0.9 });
      let worst = 0;
      for (const [i, group] of result.entries()) {
        const prompt = tokenizer.encode(PROMPTS[i], { addBos: true });
        const batch = group.map((completion) => {
          const sequence = [...prompt, ...completion.tokens];
          return { inputTokens: sequence.slice(0, -1), targetTokens: sequence.slice(1) };
        });
        const { logprobs } = await backend.forward(batch);
        group.forEach((completion, j) => {
          completion.logprobs.forEach((value, t) => (worst = Math.max(worst, Math.abs(value - logprobs[j][prompt.length - 1 + t]))));
        });
      }
      console.log(`  max |logprob difference| against the engine's forward: ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-4, `max |logprob difference| ${worst} exceeds 1e-4`);

      const greedy = await policy.sample(PROMPTS, { n: 1, temperature: 0, maxTokens: 24, seed: 0 });
      const engine = await backend.sample(PROMPTS, { n: 1, temperature: 0, maxTokens: 24, seed: 0 });
      assert.deepEqual(greedy.map((g) => g[0].tokens), engine.map((g) => g[0].tokens));
      assert.deepEqual(greedy.map((g) => g[0].text), engine.map((g) => g[0].text));
    } finally {
      await backend.close();
    }
  });

  test('stop strings end a completion and are cut from text and tokens; maxTokens bounds its length', async () => {
    const stopped = await policy.sample(['the cat sat on the mat'], { n: 4, temperature: 1, maxTokens: 40, seed: 3, stop: ['.'] });
    const hits = stopped[0].filter((completion) => completion.finishReason === 'stop' && completion.tokens.at(-1) !== tokenizer.eosId);
    assert.ok(hits.length > 0, `the model trained on sentences ending in "." stops at one: ${JSON.stringify(stopped[0].map((c) => c.text))}`);
    for (const completion of stopped[0]) {
      assert.ok(!completion.text.includes('.'), `no stop string in ${JSON.stringify(completion.text)}`);
      assert.equal(tokenizer.decode(completion.tokens.filter((id) => id !== tokenizer.eosId)), completion.text);
      assert.equal(completion.logprobs.length, completion.tokens.length);
    }
    const short = await policy.sample(['the cat'], { n: 2, temperature: 1, maxTokens: 3, seed: 1, stopTokenIds: [] });
    for (const completion of short[0]) {
      assert.equal(completion.tokens.length, 3);
      assert.equal(completion.finishReason, 'length');
    }
    await assert.rejects(policy.sample(['x'.repeat(200)], settings), InvalidArgumentError);
  });

  test('loads a .gguf file, follows reload(checkpoint) and refuses calls after close()', async () => {
    const ggufPath = join(work, 'model.gguf');
    exportGguf(checkpoint, ggufPath);
    const fromFile = await LlamaCppPolicy.create({ source: ggufPath, version: 'v1' });
    try {
      assert.equal(fromFile.version, 'v1');
      assert.deepEqual(await fromFile.sample(PROMPTS, settings), await policy.sample(PROMPTS, settings));
      const other = await trainedCheckpoint({ steps: 3, model: { seed: 11 } });
      cleanup.push(dirname(other));
      const before = await fromFile.sample(PROMPTS, settings);
      await fromFile.reload(other, 'v2');
      assert.equal(fromFile.version, 'v2');
      const afterReload = await fromFile.sample(PROMPTS, settings);
      assert.notDeepEqual(afterReload, before);
      const backend = await EmbeddedBackend.create({ checkpoint: other });
      const engine = await backend.sample(PROMPTS, { n: 1, temperature: 0, maxTokens: 12 });
      await backend.close();
      const greedy = await fromFile.sample(PROMPTS, { n: 1, temperature: 0, maxTokens: 12, seed: 0 });
      assert.deepEqual(greedy.map((g) => g[0].tokens), engine.map((g) => g[0].tokens), 'greedy decoding follows the reloaded weights');
    } finally {
      await fromFile.close();
    }
    await assert.rejects(fromFile.sample(PROMPTS, settings), /closed/);
    await assert.rejects(LlamaCppPolicy.create({ source: join(work, 'absent') }), InvalidArgumentError);
  });
});
