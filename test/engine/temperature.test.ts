/**
 * Behaviour logprobs and tempered forwards: a sample drawn at temperature T
 * (and top-p) reports log p of each token under the distribution it was drawn
 * from, and forward({ temperature: T }) recomputes the same numbers, with
 * gradients that match finite differences.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineCore, datumFromSequence, meanOverTokens } from '../../src/engine/engine.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Rng } from '../../src/engine/random.js';
import { assertClose, kernelImplementations } from '../helpers.js';

const tiny = { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 48, seed: 11, initStd: 0.2 };

/** log softmax(row / temperature) restricted to the top-p nucleus, at `id`, recomputed from a full forward's logits. */
function nucleusLogprob(logits: Float32Array, id: number, temperature: number, topP: number): number {
  const max = Math.max(...logits);
  const weights = Array.from(logits, (x) => Math.exp((x - max) / temperature));
  const sum = weights.reduce((a, b) => a + b, 0);
  const order = weights.map((_, v) => v).sort((a, b) => weights[b] - weights[a] || a - b);
  let mass = 0;
  const kept = new Set<number>();
  for (const v of order) {
    if (mass >= topP * sum) break;
    mass += weights[v];
    kept.add(v);
  }
  assert.ok(kept.has(id), `token ${id} was drawn from outside the nucleus`);
  return Math.log(weights[id]) - Math.log(mass);
}

for (const impl of kernelImplementations()) {
  describe(`${impl.name} engine: behaviour logprobs`, { skip: impl.skip }, () => {
    test('at temperature 1 and top-p 1 the behaviour logprobs are the policy logprobs', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const [[sample]] = engine.sample(['Hi'], { n: 1, maxTokens: 10, temperature: 1, seed: 3, stopTokenIds: [] });
      assert.deepEqual(sample.behaviourLogprobs, sample.logprobs);
    });

    test('greedy decoding has behaviour logprob 0 at every token', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const [[sample]] = engine.sample(['Hi'], { n: 1, maxTokens: 10, temperature: 0, seed: 3, stopTokenIds: [] });
      assert.deepEqual(sample.behaviourLogprobs, new Array(10).fill(0));
    });

    for (const [temperature, topP] of [[0.6, 1], [1.7, 1], [0.8, 0.9]] as const) {
      test(`at temperature ${temperature}, top-p ${topP}: behaviour logprobs match a recomputation from a full forward; forward({ temperature }) gives them without top-p`, () => {
        const engine = new EngineCore({ kernels: impl.name, model: tiny });
        const prompt = 'abc';
        const promptIds = engine.tokenizer.encode(prompt, { addBos: true });
        const samples = engine.sample([prompt], { n: 4, maxTokens: 12, temperature, topP, seed: 9, stopTokenIds: [] })[0];
        const V = engine.model.config.vocabSize;
        for (const sample of samples) {
          const sequence = [...promptIds, ...sample.tokens];
          const datum = datumFromSequence(sequence);
          // The logits of a full forward: log softmax at temperature 1 is logits − logsumexp, so the logprob rows recover them up to a constant.
          engine.forward([datum]);
          const probs = engine.model.lastProbabilities()!;
          const expected = sample.tokens.map((id, t) => {
            const row = probs.subarray((promptIds.length - 1 + t) * V, (promptIds.length + t) * V);
            return nucleusLogprob(Float32Array.from(row, (p) => Math.log(p)), id, temperature, topP);
          });
          assertClose('behaviour logprobs vs recomputed', sample.behaviourLogprobs!, expected, 1e-4, 1e-4);
          const tempered = engine.forward([datum], { temperature }).logprobs[0].slice(promptIds.length - 1);
          if (topP === 1) assertClose('behaviour logprobs vs forward({ temperature })', sample.behaviourLogprobs!, tempered, 1e-4, 1e-4);
          else for (let t = 0; t < tempered.length; t++) assert.ok(sample.behaviourLogprobs![t] >= tempered[t] - 1e-5, 'the nucleus renormalizes upwards');
          assertClose('policy logprobs stay at temperature 1', sample.logprobs, engine.forward([datum]).logprobs[0].slice(promptIds.length - 1), 1e-4, 1e-4);
        }
      });
    }

    test('a tempered forward-backward matches finite differences', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const model = engine.model;
      const datum = datumFromSequence(Array.from({ length: 16 }, (_, i) => 65 + ((i * 5) % 26)));
      const batch = meanOverTokens([datum]);
      const temperature = 0.7;
      model.zeroGrad();
      engine.forwardBackwardCrossEntropy(batch, { temperature });
      const grads = Float32Array.from(model.grads);
      model.zeroGrad();
      const start = Float32Array.from(model.params);
      const rng = new Rng(8);
      const u = Float32Array.from(start, () => rng.next() * 2 - 1);
      const lossAt = (epsilon: number) => {
        for (let i = 0; i < start.length; i++) model.params[i] = start[i] + epsilon * u[i];
        return engine.forward([datum], { temperature }).logprobs[0].reduce((sum, lp) => sum - lp, 0) / datum.targetTokens.length;
      };
      const epsilon = 1e-3;
      const numeric = (lossAt(epsilon) - lossAt(-epsilon)) / (2 * epsilon);
      model.params.set(start);
      const analytic = grads.reduce((sum, g, i) => sum + g * u[i], 0);
      console.log(`  directional derivative at T=${temperature}: analytic ${analytic.toFixed(5)}, finite differences ${numeric.toFixed(5)}`);
      assert.ok(Math.abs(analytic - numeric) <= 2e-2 * Math.abs(analytic) + 1e-3, `analytic ${analytic} vs numeric ${numeric}`);
    });

    test('forward refuses temperature 0 and negative temperatures, naming the argument', () => {
      const engine = new EngineCore({ kernels: impl.name, model: tiny });
      const datum = datumFromSequence([1, 65, 66, 67]);
      for (const temperature of [0, -1, Number.NaN]) assert.throws(() => engine.forward([datum], { temperature }), (error: unknown) => error instanceof InvalidArgumentError && /temperature/.test(error.message));
    });
  });
}
