/**
 * The engine against Hugging Face transformers: scripts/make-hf-fixture.mjs
 * saved seeded tiny checkpoints with this engine, opened them with
 * LlamaForCausalLM.from_pretrained and recorded logits, loss, every gradient
 * and the losses of 10 AdamW steps. Here the engine, native and TypeScript,
 * loads the same checkpoints and must reproduce those numbers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EngineCore } from '../../src/engine/engine.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { assertClose, kernelImplementations } from '../helpers.js';

const fixtures = ['hf-tiny', 'hf-tiny-tied'];

for (const impl of kernelImplementations()) {
  for (const fixture of fixtures) {
    describe(`${impl.name} kernels reproduce transformers on ${fixture}`, { skip: impl.skip }, () => {
      const dir = fileURLToPath(new URL(`../../../test/fixtures/${fixture}/`, import.meta.url));
      const batch = JSON.parse(readFileSync(`${dir}batch.json`, 'utf8')) as {
        input_tokens: number[][];
        target_tokens: number[][];
        optim: { lr: number; beta1: number; beta2: number; eps: number; weight_decay: number; grad_clip_norm: number; steps: number };
      };
      const reference = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as { loss: number; step_losses: number[] };
      const tensors = readSafetensors(`${dir}reference.safetensors`).tensors;
      const count = batch.input_tokens.flat().length;
      const data = batch.input_tokens.map((inputTokens, b) => ({ inputTokens, targetTokens: batch.target_tokens[b], weights: inputTokens.map(() => 1 / count) }));

      test('logits (as log-softmax), loss and the gradient of every parameter', () => {
        const engine = new EngineCore({ checkpoint: `${dir}checkpoint`, kernels: impl.name });
        const [B, T] = [batch.input_tokens.length, batch.input_tokens[0].length];
        const V = engine.model.config.vocabSize;
        const tokens = Int32Array.from(batch.input_tokens.flat());
        const targets = Int32Array.from(batch.target_tokens.flat());
        engine.model.forward(tokens, targets, B, T);
        const ours = Float32Array.from(engine.model.lastProbabilities()!, Math.log);
        const logits = tensors.get('logits')!.data;
        const expected = new Float32Array(B * T * V);
        for (let n = 0; n < B * T; n++) {
          const row = logits.subarray(n * V, (n + 1) * V);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0));
          for (let v = 0; v < V; v++) expected[n * V + v] = row[v] - lse;
        }
        assertClose('log-softmax(logits)', ours, expected, 1e-5, 1e-5);

        engine.model.zeroGrad();
        const { loss, logprobs } = engine.forwardBackwardCrossEntropy(data);
        assertClose('target logprobs', logprobs.flatMap((row) => Array.from(row)), tensors.get('logprobs')!.data, 1e-5, 1e-5);
        assertClose('loss', [loss], [reference.loss], 1e-6, 1e-6);
        const grads = engine.model.namedTensors('grads');
        assert.equal(grads.length, [...tensors.keys()].filter((k) => k.startsWith('grad.')).length, 'same number of parameters');
        for (const grad of grads) {
          const expectedGrad = tensors.get(`grad.${grad.name}`);
          assert.ok(expectedGrad, `reference has grad.${grad.name}`);
          assertClose(`grad ${grad.name}`, grad.data, expectedGrad.data, 2e-4, 1e-7);
        }
      });

      test(`losses of ${batch.optim.steps} AdamW steps`, () => {
        const engine = new EngineCore({ checkpoint: `${dir}checkpoint`, kernels: impl.name });
        const losses: number[] = [];
        for (let step = 0; step < batch.optim.steps; step++) {
          losses.push(engine.forwardBackwardCrossEntropy(data).loss);
          engine.optimStep({
            learningRate: batch.optim.lr,
            beta1: batch.optim.beta1,
            beta2: batch.optim.beta2,
            eps: batch.optim.eps,
            weightDecay: batch.optim.weight_decay,
            gradClipNorm: batch.optim.grad_clip_norm,
          });
        }
        assertClose('step losses', losses, reference.step_losses, 1e-5);
      });
    });
  }
}
