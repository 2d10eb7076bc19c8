/** Self-training building blocks on the embedded engine and on a recording mock backend. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { acceptPassing, evaluate, fineTune, sampleAndVerify, sftDatum, type Attempt } from '../../src/learn/steps.js';
import { stringFamily } from '../../src/tasks/strings.js';
import type { Task } from '../../src/spec/task.js';
import type { Verification } from '../../src/spec/verifier.js';

const tokenizer = new ByteTokenizer();

describe('self-training steps', () => {
  test('sftDatum scores the completion and the EOS after it, not the prompt', () => {
    const datum = sftDatum(tokenizer, 'ab=', 'ba;');
    // BOS a b = | b a ; EOS: 8 tokens, 7 predictions, the last 4 of which are the completion + EOS
    assert.deepEqual(Array.from(datum.weights!), [0, 0, 0, 1, 1, 1, 1]);
    assert.equal(datum.targetTokens[datum.targetTokens.length - 1], tokenizer.eosId);
  });

  test('acceptPassing keeps passing attempts, distinct ones, at most capPerTask per task', () => {
    const task = (id: string): Task => ({ id, family: 'f', prompt: 'p' });
    const verdict = (pass: boolean): Verification => ({ status: 'scored', reward: pass ? 1 : 0, pass, feedback: '' });
    const attempt = (id: string, completion: string, pass: boolean, sample: number): Attempt => ({ task: task(id), sample, completion, tokens: [], logprobs: [], finishReason: 'stop', verification: verdict(pass) });
    const groups = [
      [attempt('a', 'x', true, 0), attempt('a', 'x', true, 1), attempt('a', 'y', true, 2), attempt('a', 'z', true, 3)],
      [attempt('b', 'w', false, 0), { ...attempt('b', 'v', true, 1), verification: { status: 'error', error: 'boom' } as Verification }],
    ];
    const accepted = acceptPassing(groups, { capPerTask: 2 });
    assert.deepEqual(accepted.map((a) => `${a.task.id}:${a.completion}`), ['a:x', 'a:y']);
  });

  test('fine-tuning on a family\'s solutions raises greedy accuracy; verified self-samples are accepted', async () => {
    const family = stringFamily({ operation: 'reverse' });
    const train = [1, 2, 3].flatMap((difficulty) => family.generate({ count: 60, difficulty, seed: 1, split: 'train' }));
    const heldOut = [1, 2, 3].flatMap((difficulty) => family.generate({ count: 20, difficulty, seed: 1, split: 'heldout' }));
    const backend = await EmbeddedBackend.create({ model: { dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: 32, seed: 2 } });
    try {
      const settings = { maxTokens: 6, stop: [';'] };
      const before = await evaluate(backend, heldOut, family.verifier, settings);
      const losses = await fineTune(backend, tokenizer, train.map((t) => ({ prompt: t.prompt, completion: t.solution! })), { steps: 400, batchSize: 32, learningRate: 3e-3, seed: 4 });
      const after = await evaluate(backend, heldOut, family.verifier, settings);
      console.log(`  loss ${losses[0].toFixed(2)} → ${losses.at(-1)!.toFixed(2)}; greedy accuracy ${before.accuracy.toFixed(2)} → ${after.accuracy.toFixed(2)}`, after.byDifficulty);
      assert.ok(losses.at(-1)! < losses[0] / 3);
      assert.ok(after.accuracy >= before.accuracy + 0.5, `accuracy ${before.accuracy} → ${after.accuracy}`);
      const groups = await sampleAndVerify(backend, heldOut.slice(0, 10), family.verifier, { n: 3, temperature: 0.7, maxTokens: 6, stop: [';'], seed: 5 });
      assert.equal(groups.length, 10);
      assert.ok(groups.every((g) => g.length === 3 && g.every((a) => a.verification.status === 'scored')));
      assert.ok(acceptPassing(groups, { capPerTask: 1 }).length >= 5);
    } finally {
      await backend.close();
    }
  });
});

describe('fineTune batching', () => {
  test('examples of different groups never share a batch; every example is seen once per epoch', async () => {
    const { MockBackend, decodeDatum } = await import('./mock-backend.js');
    const backend = new MockBackend();
    const examples = [
      ...Array.from({ length: 10 }, (_, i) => ({ prompt: `${i}+1=`, completion: `${i + 1};` })),
      ...Array.from({ length: 6 }, (_, i) => ({ prompt: `long reflection prompt ${i}|`, completion: `${i};`, group: 'reflection' })),
    ];
    // batch size 4: the task group gives 4+4+2, the reflection group 4+2 → 5 batches per epoch
    await fineTune(backend, tokenizer, examples, { steps: 5, batchSize: 4, learningRate: 1e-3, seed: 1 });
    const batches = backend.calls.filter((c) => c.op === 'forwardBackward').map((c) => (c as { batch: Parameters<typeof decodeDatum>[0][] }).batch.map((d) => decodeDatum(d).prompt));
    assert.equal(batches.length, 5);
    for (const batch of batches) {
      const reflection = batch.filter((p) => p.startsWith('long')).length;
      assert.ok(reflection === 0 || reflection === batch.length, `mixed batch: ${batch.join(' ')}`);
    }
    assert.deepEqual(batches.flat().sort(), examples.map((e) => e.prompt).sort());
  });
});
