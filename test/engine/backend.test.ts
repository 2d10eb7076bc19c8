/** The async embedded backend: worker thread, custom losses, errors across the thread boundary. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import { datumFromSequence } from '../../src/engine/engine.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { CheckpointFormatError, InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import type { LossFunction } from '../../src/spec/training-backend.js';
import { assertClose } from '../helpers.js';

const work = mkdtempSync(join(tmpdir(), 'autodidact-backend-'));
after(() => rmSync(work, { recursive: true, force: true }));
const tokenizer = new ByteTokenizer();
const batch = ['the event loop', 'keeps turning'].map((text) => datumFromSequence(tokenizer.encode(text, { addBos: true })));

describe('EmbeddedBackend', () => {
  test('training runs off the main thread: timers keep firing during a long step', async () => {
    const backend = await EmbeddedBackend.create({ model: { dModel: 256, nLayers: 4, nHeads: 4, maxSeqLen: 128, seed: 1 } });
    try {
      const long = Array.from({ length: 16 }, (_, i) => datumFromSequence(Array.from({ length: 128 }, (_, t) => (i * 31 + t * 7) % 256)));
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = performance.now();
      for (let step = 0; step < 3; step++) {
        await backend.forwardBackward(long, 'cross_entropy');
        await backend.optimStep({ learningRate: 1e-3 });
      }
      const elapsed = performance.now() - started;
      clearInterval(timer);
      console.log(`  ${ticks} timer ticks during ${elapsed.toFixed(0)} ms of training`);
      assert.ok(ticks >= Math.floor(elapsed / 5 / 4), `only ${ticks} ticks in ${elapsed.toFixed(0)} ms: the event loop was blocked`);
    } finally {
      await backend.close();
    }
  });

  test('a loss function of logprobs gives the same gradients as the built-in cross-entropy', async () => {
    const config = { model: { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 32, seed: 4 } };
    const builtIn = await EmbeddedBackend.create(config);
    const custom = await EmbeddedBackend.create(config);
    try {
      const nll: LossFunction = (logprobs) => ({
        loss: -logprobs.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0),
        grad: logprobs.map((row) => new Float32Array(row.length).fill(-1)),
        metrics: { 'custom/rows': logprobs.length },
      });
      const a = await builtIn.forwardBackward(batch, 'cross_entropy');
      const b = await custom.forwardBackward(batch, nll);
      assertClose('loss', [b.loss], [a.loss], 1e-6);
      assert.equal(b.metrics['custom/rows'], 2);
      const stepA = await builtIn.optimStep({ learningRate: 1e-2 });
      const stepB = await custom.optimStep({ learningRate: 1e-2 });
      assertClose('grad norm', [stepB.gradNorm], [stepA.gradNorm], 1e-6);
      const after = await builtIn.forward(batch);
      const afterCustom = await custom.forward(batch);
      assertClose('logprobs after one step', afterCustom.logprobs[0], after.logprobs[0], 1e-6, 1e-6);
    } finally {
      await builtIn.close();
      await custom.close();
    }
  });

  test('gradients accumulate across forwardBackward calls until optimStep', async () => {
    const config = { model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 32, seed: 8 } };
    const once = await EmbeddedBackend.create(config);
    const twice = await EmbeddedBackend.create(config);
    try {
      const half = batch.map((d) => ({ ...d, weights: Array.from(d.weights!, (w) => w / 2) }));
      await once.forwardBackward(batch, 'cross_entropy');
      await twice.forwardBackward(half, 'cross_entropy');
      await twice.forwardBackward(half, 'cross_entropy');
      const a = await once.optimStep({ learningRate: 1e-2 });
      const b = await twice.optimStep({ learningRate: 1e-2 });
      assertClose('accumulated grad norm', [b.gradNorm], [a.gradNorm], 1e-5);
    } finally {
      await once.close();
      await twice.close();
    }
  });

  test('sampling, saving and loading through the worker', async () => {
    const backend = await EmbeddedBackend.create({ model: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 32, seed: 2 } });
    try {
      const first = await backend.sample(['hi'], { n: 2, maxTokens: 5, seed: 3, stopTokenIds: [] });
      assert.equal(first.length, 1);
      assert.equal(first[0].length, 2);
      const ids = await backend.sample([[256, 104, 105]], { n: 2, maxTokens: 5, seed: 3, stopTokenIds: [] });
      assert.deepEqual(ids, first, 'a string prompt is encoded with BOS first');
      const dir = join(work, 'ckpt');
      await backend.save(dir);
      await backend.forwardBackward(batch, 'cross_entropy');
      await backend.optimStep({ learningRate: 0.1 });
      assert.notDeepEqual(await backend.sample(['hi'], { n: 2, maxTokens: 5, seed: 3, stopTokenIds: [] }), [first[0]]);
      await backend.load(dir);
      assert.deepEqual(await backend.sample(['hi'], { n: 2, maxTokens: 5, seed: 3, stopTokenIds: [] }), [first[0]]);
      assert.equal(backend.info().optimizerStep, 0);
    } finally {
      await backend.close();
    }
  });

  test('a second backend can start while another trains; calls after close() are refused', async () => {
    const config = { model: { dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: 64, seed: 5 } };
    const first = await EmbeddedBackend.create(config);
    const training = (async () => {
      for (let step = 0; step < 20; step++) {
        await first.forwardBackward(batch, 'cross_entropy');
        await first.optimStep({ learningRate: 1e-3 });
      }
    })();
    const second = await EmbeddedBackend.create(config);
    const { logprobs } = await second.forward(batch);
    assert.equal(logprobs.length, 2);
    await training;
    const closing = second.close();
    await assert.rejects(second.forward(batch), /closed/);
    await closing;
    await first.close();
  });

  test('an idle backend does not keep the process alive', () => {
    const entry = new URL('../../src/index.js', import.meta.url).href;
    const script = `import { EmbeddedBackend } from '${entry}';
      const backend = await EmbeddedBackend.create({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 16 } });
      const [[sample]] = await backend.sample(['hi'], { maxTokens: 3, stopTokenIds: [] });
      console.log(sample.tokens.length);`;
    const file = join(work, 'idle.mjs');
    writeFileSync(file, script);
    const child = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), '3');
  });

  test('errors keep their class and message across the thread boundary', async () => {
    await assert.rejects(EmbeddedBackend.create({ model: { dModel: 30, nHeads: 4 } }), (error: unknown) => error instanceof InvalidConfigError && /model.dModel/.test(error.message));
    await assert.rejects(EmbeddedBackend.create({ checkpoint: join(work, 'missing') }), CheckpointFormatError);
    const backend = await EmbeddedBackend.create({ model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 16 } });
    try {
      await assert.rejects(backend.forward([{ inputTokens: [1, 300], targetTokens: [2, 3] }]), InvalidArgumentError);
      await assert.rejects(backend.forwardBackward(batch.slice(0, 1).map((d) => ({ ...d, inputTokens: [1], targetTokens: [2], weights: [1] })), () => ({ loss: NaN, grad: [[0]] })), /returned NaN/);
      // The backend is still usable after errors.
      const { logprobs } = await backend.forward([{ inputTokens: [1, 2], targetTokens: [2, 3] }]);
      assert.equal(logprobs[0].length, 2);
    } finally {
      await backend.close();
    }
    await assert.rejects(backend.forward(batch), /closed/);
  });
});
