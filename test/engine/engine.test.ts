/**
 * Behaviour of the engine as a whole: sampling (KV cache vs recomputation,
 * seeds, stops), learning, config and input errors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineCore, datumFromSequence, meanOverTokens } from '../../src/engine/engine.js';
import { resolveModelConfig } from '../../src/engine/config.js';
import { learningRateAt } from '../../src/engine/optimizer.js';
import { InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import { assertClose, kernelImplementations, maxAbsDiff } from '../helpers.js';
import { Rng } from '../../src/engine/random.js';

const tiny = { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 48, seed: 11 };

for (const impl of kernelImplementations()) {
  describe(`${impl.name} engine`, { skip: impl.skip }, () => {
    for (const positionEncoding of ['rope', 'none'] as const) {
      test(`KV-cached sampling gives the logprobs of a full forward recomputation (positionEncoding ${positionEncoding})`, () => {
      const engine = new EngineCore({ kernels: impl.name, model: { ...tiny, positionEncoding } });
      const prompts = ['Hello', 'a much longer prompt here'];
      const groups = engine.sample(prompts, { n: 3, maxTokens: 12, temperature: 1, seed: 5, stopTokenIds: [] });
      prompts.forEach((prompt, i) => {
        const promptIds = engine.tokenizer.encode(prompt, { addBos: true });
        for (const sample of groups[i]) {
          assert.equal(sample.tokens.length, 12);
          const sequence = [...promptIds, ...sample.tokens];
          const { logprobs } = engine.forward([datumFromSequence(sequence)]);
          const completion = logprobs[0].slice(promptIds.length - 1);
          assertClose(`prompt ${i} cached vs recomputed logprobs`, sample.logprobs, completion, 1e-4, 1e-4);
        }
      });
      });
    }

    test('positionEncoding none: no rotary positions (ropeTheta has no effect, rope gives other logits), and backward matches finite differences', () => {
      const datum = datumFromSequence(Array.from({ length: 20 }, (_, i) => 65 + ((i * 7) % 26)));
      // A wide init, so that attention is far from uniform and positions matter.
      const logprobsOf = (model: object) => new EngineCore({ kernels: impl.name, model: { ...tiny, initStd: 0.2, ...model } }).forward([datum]).logprobs[0];
      const nope = logprobsOf({ positionEncoding: 'none' });
      assert.deepEqual(logprobsOf({ positionEncoding: 'none', ropeTheta: 37 }), nope);
      assert.ok(maxAbsDiff(logprobsOf({ positionEncoding: 'rope' }), nope) > 1e-3, 'same weights with rotary positions give other logits');
      // Gradient along a random direction u: (L(p + εu) − L(p − εu)) / 2ε ≈ ∇L · u.
      const engine = new EngineCore({ kernels: impl.name, model: { ...tiny, initStd: 0.2, positionEncoding: 'none', dModel: 36, nHeads: 4 } });
      const model = engine.model;
      const batch = meanOverTokens([datum]);
      model.zeroGrad();
      engine.forwardBackwardCrossEntropy(batch);
      const grads = Float32Array.from(model.grads);
      model.zeroGrad();
      const start = Float32Array.from(model.params);
      const rng = new Rng(4);
      const u = Float32Array.from(start, () => rng.next() * 2 - 1);
      const lossAt = (epsilon: number) => {
        for (let i = 0; i < start.length; i++) model.params[i] = start[i] + epsilon * u[i];
        return engine.forward([datum]).logprobs[0].reduce((sum, lp) => sum - lp, 0) / datum.targetTokens.length;
      };
      const epsilon = 1e-3;
      const numeric = (lossAt(epsilon) - lossAt(-epsilon)) / (2 * epsilon);
      model.params.set(start);
      const analytic = grads.reduce((sum, g, i) => sum + g * u[i], 0);
      console.log(`  directional derivative: analytic ${analytic.toFixed(5)}, finite differences ${numeric.toFixed(5)}`);
      assert.ok(Math.abs(analytic - numeric) <= 2e-2 * Math.abs(analytic) + 1e-3, `analytic ${analytic} vs numeric ${numeric}`);
    });

    test('batching pads without changing results: a datum scores the same alone or beside a longer one', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const short = datumFromSequence(engine.tokenizer.encode('short', { addBos: true }));
      const long = datumFromSequence(engine.tokenizer.encode('a considerably longer sequence', { addBos: true }));
      const alone = engine.forward([short]).logprobs[0];
      const together = engine.forward([long, short]).logprobs;
      assert.equal(together[1].length, alone.length);
      assertClose('short datum alone vs padded in a batch', together[1], alone, 1e-5, 1e-6);
      // Gradients too: the padded batch's gradient is the sum of the two single-datum gradients.
      engine.forwardBackwardCrossEntropy([long, short]);
      const batched = Float32Array.from(engine.model.grads);
      engine.model.zeroGrad();
      engine.forwardBackwardCrossEntropy([long]);
      engine.forwardBackwardCrossEntropy([short]);
      assertClose('padded batch gradient vs summed gradients', batched, engine.model.grads, 1e-4, 1e-7);
      engine.model.zeroGrad();
    });

    test('forward returns the entropy of each next-token distribution on request', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const datum = datumFromSequence(engine.tokenizer.encode('entropy check', { addBos: true }));
      const { logprobs, entropy } = engine.forward([datum], { entropy: true });
      assert.ok(entropy);
      const V = engine.model.config.vocabSize;
      const probs = engine.model.lastProbabilities()!;
      const expected = Array.from({ length: logprobs[0].length }, (_, t) => {
        let h = 0;
        for (let v = 0; v < V; v++) h -= probs[t * V + v] * Math.log(probs[t * V + v]);
        return h;
      });
      assertClose('entropy', entropy[0], expected, 1e-5, 1e-5);
      assert.ok(entropy[0].every((h) => h > 0 && h <= Math.log(V) + 1e-4));
      assert.equal(engine.forward([datum]).entropy, undefined);
    });

    test('sampling reports the entropy of each next-token distribution on request, as a full forward computes it', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const promptIds = engine.tokenizer.encode('Hi', { addBos: true });
      for (const temperature of [1, 0.7]) {
        const [[sample]] = engine.sample(['Hi'], { n: 1, maxTokens: 10, temperature, seed: 3, stopTokenIds: [], entropy: true });
        const { logprobs, entropy } = engine.forward([datumFromSequence([...promptIds, ...sample.tokens])], { entropy: true });
        assertClose(`T=${temperature} sampled vs recomputed entropy`, sample.entropy!, entropy![0].slice(promptIds.length - 1), 1e-4, 1e-4);
        assertClose(`T=${temperature} sampled vs recomputed logprobs`, sample.logprobs, logprobs[0].slice(promptIds.length - 1), 1e-4, 1e-4);
      }
      assert.equal(engine.sample(['Hi'], { n: 1, maxTokens: 3, seed: 3 })[0][0].entropy, undefined);
    });

    test('forwardBackward returns the entropy of its own forward on request', async () => {
      const { EmbeddedBackend } = await import('../../src/engine/backend.js');
      const backend = await EmbeddedBackend.create({ kernels: impl.name, model: tiny });
      try {
        const datum = datumFromSequence([256, ...new TextEncoder().encode('entropy')]);
        const { entropy: expected } = await backend.forward([datum], { entropy: true });
        const result = await backend.forwardBackward([datum], (logprobs) => ({ loss: 0, grad: logprobs.map((row) => new Float32Array(row.length)) }), { entropy: true });
        assertClose('forwardBackward entropy', result.entropy![0], expected![0], 1e-6, 1e-6);
        assert.equal((await backend.forwardBackward([datum], 'cross_entropy')).entropy, undefined);
      } finally {
        await backend.close();
      }
    });

    test('the same seed gives the same samples; another seed gives others', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const options = { n: 4, maxTokens: 16, temperature: 1.2, topP: 0.95, stopTokenIds: [] };
      const a = engine.sample(['xyz'], { ...options, seed: 1 });
      const b = engine.sample(['xyz'], { ...options, seed: 1 });
      const c = engine.sample(['xyz'], { ...options, seed: 2 });
      assert.deepEqual(a, b);
      assert.notDeepEqual(a[0].map((s) => s.tokens), c[0].map((s) => s.tokens));
      // Samples do not depend on what else is in the batch.
      const alone = engine.sample(['xyz'], { ...options, seed: 1 });
      const together = engine.sample(['other prompt', 'xyz'], { ...options, seed: 1 });
      assert.deepEqual(alone[0][0].tokens.length, 16);
      assert.notDeepEqual(together[0], together[1]);
      assert.ok(a[0].some((s, j) => s.tokens.join() !== a[0][(j + 1) % 4].tokens.join()), 'n samples of one prompt differ');
    });

    test('temperature 0 is greedy: each token is the argmax of a full forward', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const [[sample]] = engine.sample(['greedy'], { temperature: 0, maxTokens: 8, stopTokenIds: [] });
      const prompt = engine.tokenizer.encode('greedy', { addBos: true });
      const sequence = [...prompt];
      for (const token of sample.tokens) {
        const V = engine.model.config.vocabSize;
        const T = sequence.length;
        engine.model.forward(Int32Array.from(sequence), new Int32Array(T), 1, T);
        const probs = engine.model.lastProbabilities()!.subarray((T - 1) * V, T * V);
        let best = 0;
        for (let v = 1; v < V; v++) if (probs[v] > probs[best]) best = v;
        assert.equal(token, best);
        sequence.push(token);
      }
    });

    test('a tiny model learns a pattern; every parameter changes; it then samples the pattern', () => {
      const engine = new EngineCore({ kernels: impl.name, model: { ...tiny, seed: 3 } });
      const before = Float32Array.from(engine.model.params);
      const texts = ['abcdabcdabcdabcd', 'bcdabcdabcdabcda', 'cdabcdabcdabcdab', 'dabcdabcdabcdabc'];
      const batch = meanOverTokens(texts.map((text) => datumFromSequence(engine.tokenizer.encode(text, { addBos: true }))));
      let loss = Infinity;
      for (let step = 0; step < 80; step++) {
        loss = engine.forwardBackwardCrossEntropy(batch).loss;
        engine.optimStep({ learningRate: learningRateAt({ kind: 'cosine', learningRate: 1e-2, warmupSteps: 5, totalSteps: 80 }, step), weightDecay: 0.01, gradClipNorm: 1 });
      }
      console.log(`  final loss ${loss.toFixed(4)}`);
      assert.ok(loss < 0.35, `loss ${loss} should fall below 0.35 (from ≈5.5)`);
      for (const tensor of engine.model.namedTensors('params')) {
        const start = tensor.data.byteOffset / 4;
        const changed = tensor.data.some((value, i) => value !== before[start + i]);
        assert.ok(changed, `${tensor.name} changed`);
      }
      const [[sample]] = engine.sample(['abcd'], { temperature: 0, maxTokens: 8, stopTokenIds: [] });
      assert.equal(sample.text, 'abcdabcd');
    });

    test('stop strings end a completion and are not returned; EOS is kept as a token', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const texts = ['<q>1+1=2;', '<q>2+2=4;', '<q>3+3=6;'];
      const batch = texts.map((text) => datumFromSequence([...engine.tokenizer.encode(text, { addBos: true }), engine.tokenizer.eosId]));
      for (let step = 0; step < 120; step++) {
        engine.forwardBackwardCrossEntropy(batch);
        engine.optimStep({ learningRate: 1e-2 });
      }
      const [[stopped]] = engine.sample(['<q>2+2'], { temperature: 0, maxTokens: 10, stop: [';'] });
      assert.equal(stopped.finishReason, 'stop');
      assert.equal(stopped.text, '=4');
      assert.equal(stopped.tokens.length, 2);
      assert.equal(stopped.logprobs.length, 2);
      const [[eos]] = engine.sample(['<q>2+2'], { temperature: 0, maxTokens: 10 });
      assert.equal(eos.finishReason, 'stop');
      assert.equal(eos.tokens.at(-1), engine.tokenizer.eosId);
      assert.equal(eos.text, '=4;');
      const [[cut]] = engine.sample(['<q>2+2'], { temperature: 0, maxTokens: 2 });
      assert.equal(cut.finishReason, 'length');
      assert.equal(cut.tokens.length, 2);
    });
  });
}

describe('errors name the field and the fix', () => {
  test('dModel not divisible by nHeads', () => {
    assert.throws(() => resolveModelConfig({ dModel: 30, nHeads: 4 }), (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError);
      assert.equal(error.field, 'model.dModel');
      assert.match(error.message, /not divisible by nHeads/);
      return true;
    });
  });

  test('an odd head size is refused with rotary positions and accepted without', () => {
    assert.throws(() => resolveModelConfig({ dModel: 36, nHeads: 4 }), (error: unknown) => error instanceof InvalidConfigError && error.field === 'model.nHeads' && /must be even/.test(error.message));
    assert.equal(resolveModelConfig({ dModel: 36, nHeads: 4, positionEncoding: 'none' }).positionEncoding, 'none');
    assert.equal(resolveModelConfig({}).positionEncoding, 'rope');
    assert.throws(() => resolveModelConfig({ positionEncoding: 'alibi' } as never), /`model.positionEncoding`/);
  });

  test('unknown key suggests the nearest valid one', () => {
    assert.throws(() => resolveModelConfig({ dmodel: 32 } as never), /`model.dmodel`: unknown key — did you mean `dModel`\?/);
  });

  test('wrong type names the expected type', () => {
    assert.throws(() => resolveModelConfig({ nLayers: 'four' } as never), /`model.nLayers`: expected number, got string "four"/);
  });

  test('a sequence longer than maxSeqLen', () => {
    const engine = new EngineCore({ kernels: 'ts', model: { ...tiny, maxSeqLen: 8 } });
    const long = datumFromSequence(Array.from({ length: 12 }, (_, i) => i));
    assert.throws(() => engine.forward([long]), (error: unknown) => error instanceof InvalidArgumentError && /batch\[0\]\.inputTokens.*longer than maxSeqLen 8/.test(error.message));
    assert.throws(() => engine.sample([Array.from({ length: 8 }, () => 65)]), /prompts\[0\].*maxSeqLen is 8/);
  });

  test('token ids out of range and misaligned targets', () => {
    const engine = new EngineCore({ kernels: 'ts', model: tiny });
    assert.throws(() => engine.forward([{ inputTokens: [1, 2, 999], targetTokens: [2, 3, 4] }]), /batch\[0\]\.inputTokens\[2\].*999 is outside \[0, 259\)/);
    assert.throws(() => engine.forward([{ inputTokens: [1, 2], targetTokens: [2] }]), /batch\[0\]\.targetTokens.*must align/);
    assert.throws(() => engine.optimStep({ learningRate: -1 }), /`optim.learningRate`/);
    assert.throws(() => engine.sample(['x'], { temperature: -1 }), /`sample.temperature`/);
  });

  test('Model refuses out-of-range ids and over-long sequences before any kernel runs', () => {
    for (const impl of kernelImplementations().filter((i) => !i.skip)) {
      const engine = new EngineCore({ kernels: impl.name, model: { ...tiny, maxSeqLen: 8 } });
      assert.throws(() => engine.model.forward(Int32Array.of(1e8, 1), Int32Array.of(1, 2), 1, 2), /tokens\[0\].*outside \[0, 259\)/);
      assert.throws(() => engine.model.forward(new Int32Array(40), new Int32Array(40), 1, 40), /`T`: must be in \[1, maxSeqLen = 8\]/);
      assert.throws(() => engine.model.backward(new Float32Array(1)), /forward\(\) first/);
    }
  });

  test('sampling edge cases: no prompts, and a stop token that is a byte stays out of the text', () => {
    const engine = new EngineCore({ kernels: 'ts', model: tiny });
    assert.deepEqual(engine.sample([]), []);
    const everyId = Array.from({ length: 259 }, (_, id) => id);
    const [[sample]] = engine.sample(['x'], { maxTokens: 4, stopTokenIds: everyId, seed: 3 });
    assert.equal(sample.tokens.length, 1);
    assert.equal(sample.finishReason, 'stop');
    assert.equal(sample.text, '');
  });

  test('learning-rate schedules', () => {
    const schedule = { kind: 'cosine' as const, learningRate: 1, warmupSteps: 10, totalSteps: 110, minLearningRate: 0.1 };
    assert.equal(learningRateAt(schedule, 0), 0.1);
    assert.equal(learningRateAt(schedule, 9), 1);
    assert.ok(Math.abs(learningRateAt(schedule, 60) - 0.55) < 1e-12);
    assert.ok(Math.abs(learningRateAt(schedule, 110) - 0.1) < 1e-12);
    assert.equal(learningRateAt({ ...schedule, kind: 'linear' }, 60), 0.55);
    assert.equal(learningRateAt({ ...schedule, kind: 'constant' }, 100), 1);
  });
});
