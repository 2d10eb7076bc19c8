#!/usr/bin/env node
// Regenerates the Hugging Face reference fixtures in test/fixtures/:
//   1. writes seeded tiny checkpoints with our engine (untied and tied embeddings)
//      and a batch of real text,
//   2. runs scripts/hf_reference.py, which opens them with transformers'
//      LlamaForCausalLM and records logits, loss, every gradient and the losses
//      of 10 AdamW steps.
// The fixtures are checked in; test/engine/hf-reference.test.ts compares the
// engine against them. Needs `npm run build` and a Python with torch and
// transformers: AUTODIDACT_TORCH_PYTHON=/path/to/venv/bin/python.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineCore } from '../dist/src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.AUTODIDACT_TORCH_PYTHON ?? 'python3';
const texts = ['The cat sat on the mat.', 'Self-improvement loops!'];
const optim = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, grad_clip_norm: 1.0, steps: 10 };

for (const [name, tieEmbeddings] of [['hf-tiny', false], ['hf-tiny-tied', true]]) {
  const dir = join(root, 'test/fixtures', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const engine = new EngineCore({ kernels: 'ts', model: { vocabSize: 259, dModel: 32, nLayers: 2, nHeads: 4, ffnHidden: 64, maxSeqLen: 32, rmsNormEps: 1e-5, tieEmbeddings, seed: 1234 } });
  engine.save(join(dir, 'checkpoint'));
  rmSync(join(dir, 'checkpoint/optimizer.safetensors'));
  // A fresh checkpoint has no optimizer state worth keeping.
  const meta = join(dir, 'checkpoint/autodidact.json');
  writeFileSync(meta, JSON.stringify({ ...JSON.parse(readFileSync(meta, 'utf8')), optimizer: null }, null, 2) + '\n');
  const sequences = texts.map((text) => engine.tokenizer.encode(text, { addBos: true }).slice(0, 17));
  const batch = {
    input_tokens: sequences.map((s) => s.slice(0, -1)),
    target_tokens: sequences.map((s) => s.slice(1)),
    optim,
  };
  writeFileSync(join(dir, 'batch.json'), JSON.stringify(batch) + '\n');
  const run = spawnSync(python, [join(root, 'scripts/hf_reference.py'), '--checkpoint', join(dir, 'checkpoint'), '--batch', join(dir, 'batch.json'), '--out', dir], { stdio: 'inherit' });
  if (run.status !== 0) {
    console.error(`hf_reference.py failed for ${name} (set AUTODIDACT_TORCH_PYTHON to a Python with torch and transformers)`);
    process.exit(1);
  }
  console.log(`wrote test/fixtures/${name}`);
}
