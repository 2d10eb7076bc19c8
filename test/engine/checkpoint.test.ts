/** Checkpoints: exact round trips, resumed training, and clear errors for broken directories. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EngineCore, datumFromSequence } from '../../src/engine/engine.js';
import { writeSafetensors } from '../../src/engine/safetensors.js';
import { CheckpointFormatError } from '../../src/errors.js';

const work = mkdtempSync(join(tmpdir(), 'autodidact-checkpoint-'));
after(() => rmSync(work, { recursive: true, force: true }));

const config = { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 32, seed: 9 };
const optim = { learningRate: 3e-3, weightDecay: 0.1, gradClipNorm: 1 };

function trainSteps(engine: EngineCore, steps: number): number[] {
  const batch = ['checkpoint round trip', 'resumes exactly'].map((text) => datumFromSequence(engine.tokenizer.encode(text, { addBos: true })));
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    losses.push(engine.forwardBackwardCrossEntropy(batch).loss);
    engine.optimStep(optim);
  }
  return losses;
}

describe('checkpoints', () => {
  test('save → load round-trips weights and optimizer state exactly; training resumes identically', () => {
    const engine = new EngineCore({ kernels: 'native', model: config });
    trainSteps(engine, 3);
    const dir = join(work, 'round-trip');
    engine.save(dir, { note: 'kept' });
    const loaded = new EngineCore({ kernels: 'native', checkpoint: dir });
    assert.deepEqual(loaded.model.config, engine.model.config);
    assert.deepEqual(loaded.model.params, engine.model.params);
    assert.deepEqual(loaded.optimizer.m, engine.optimizer.m);
    assert.deepEqual(loaded.optimizer.v, engine.optimizer.v);
    assert.equal(loaded.optimizer.step, 3);
    assert.deepEqual(trainSteps(loaded, 3), trainSteps(engine, 3));
    assert.deepEqual(loaded.model.params, engine.model.params);
    const meta = JSON.parse(readFileSync(join(dir, 'autodidact.json'), 'utf8'));
    assert.equal(meta.extra.note, 'kept');
  });

  test('positionEncoding none survives save → load (recorded in autodidact.json); the loaded model scores the same', () => {
    const engine = new EngineCore({ kernels: 'native', model: { ...config, positionEncoding: 'none' } });
    trainSteps(engine, 2);
    const dir = join(work, 'nope');
    engine.save(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, 'autodidact.json'), 'utf8')).model.positionEncoding, 'none');
    const loaded = new EngineCore({ kernels: 'native', checkpoint: dir });
    assert.equal(loaded.model.config.positionEncoding, 'none');
    assert.deepEqual(loaded.model.config, engine.model.config);
    const datum = datumFromSequence(engine.tokenizer.encode('no positions here', { addBos: true }));
    assert.deepEqual(loaded.forward([datum]).logprobs, engine.forward([datum]).logprobs);
    // Without autodidact.json (a transformers checkpoint) the model has rotary positions.
    rmSync(join(dir, 'autodidact.json'));
    assert.equal(new EngineCore({ kernels: 'native', checkpoint: dir }).model.config.positionEncoding, 'rope');
  });

  test('config.json carries the LlamaConfig fields transformers needs', () => {
    const dir = join(work, 'llama-config');
    new EngineCore({ kernels: 'ts', model: { ...config, tieEmbeddings: true } }).save(dir);
    const llama = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(llama.architectures, ['LlamaForCausalLM']);
    assert.equal(llama.hidden_size, 32);
    assert.equal(llama.intermediate_size, 128);
    assert.equal(llama.num_key_value_heads, 4);
    assert.equal(llama.tie_word_embeddings, true);
    assert.equal(llama.rms_norm_eps, 1e-5);
  });

  test('saving over an existing checkpoint replaces it atomically', () => {
    const dir = join(work, 'overwrite');
    const engine = new EngineCore({ kernels: 'native', model: config });
    engine.save(dir);
    trainSteps(engine, 1);
    engine.save(dir);
    assert.equal(new EngineCore({ kernels: 'native', checkpoint: dir }).optimizer.step, 1);
  });

  describe('broken checkpoints raise CheckpointFormatError naming the problem', () => {
    const good = join(work, 'good');
    new EngineCore({ kernels: 'ts', model: config }).save(good);
    const broken = (name: string, damage: (dir: string) => void) => {
      const dir = join(work, name);
      cpSync(good, dir, { recursive: true });
      damage(dir);
      return dir;
    };
    const expectError = (dir: string, pattern: RegExp) =>
      assert.throws(() => new EngineCore({ kernels: 'ts', checkpoint: dir }), (error: unknown) => {
        assert.ok(error instanceof CheckpointFormatError, `got ${String(error)}`);
        assert.match(error.message, pattern);
        return true;
      });

    test('missing directory', () => expectError(join(work, 'nowhere'), /directory does not exist/));
    test('missing config.json', () => expectError(broken('no-config', (d) => rmSync(join(d, 'config.json'))), /config.json is missing/));
    test('config.json not JSON', () => expectError(broken('bad-json', (d) => writeFileSync(join(d, 'config.json'), '{oops')), /not a JSON object/));
    test('truncated weights', () =>
      expectError(
        broken('truncated', (d) => truncateSync(join(d, 'model.safetensors'), statSync(join(d, 'model.safetensors')).size - 100)),
        /truncated/,
      ));
    test('not a safetensors file', () => expectError(broken('garbage', (d) => writeFileSync(join(d, 'model.safetensors'), 'hello world, not tensors')), /header length|not valid JSON/));
    test('config.json disagrees with the weights', () =>
      expectError(
        broken('shape', (d) => {
          const path = join(d, 'config.json');
          writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), intermediate_size: 64 }));
        }),
        /mlp.gate_proj.weight has shape \[128,32\], config.json implies \[64,32\]/,
      ));
    test('a tensor missing', () =>
      expectError(
        broken('missing-tensor', (d) => writeSafetensors(join(d, 'model.safetensors'), [{ name: 'model.norm.weight', shape: [32], data: new Float32Array(32) }])),
        /tensor model.embed_tokens.weight is missing/,
      ));
    test('unsupported architecture', () =>
      expectError(
        broken('gqa', (d) => {
          const path = join(d, 'config.json');
          writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), num_key_value_heads: 2 }));
        }),
        /grouped-query attention is not supported/,
      ));
    test('optimizer step that is not a non-negative integer', () => {
      for (const step of ['3', -1, 2.5]) {
        expectError(
          broken(`step-${String(step)}`, (d) => {
            const path = join(d, 'autodidact.json');
            const meta = JSON.parse(readFileSync(path, 'utf8'));
            writeFileSync(path, JSON.stringify({ ...meta, optimizer: { kind: 'adamw', step } }));
          }),
          /optimizer.step must be a non-negative integer/,
        );
      }
    });
    test('tensors whose byte ranges overlap', () =>
      expectError(
        broken('overlap', (d) => {
          const path = join(d, 'model.safetensors');
          const bytes = readFileSync(path);
          const length = Number(bytes.readBigUInt64LE(0));
          const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
          header['model.layers.0.self_attn.q_proj.weight'].data_offsets = header['model.layers.0.self_attn.k_proj.weight'].data_offsets;
          const json = Buffer.from(JSON.stringify(header).padEnd(length, ' '));
          assert.equal(json.length, length, 'the edited header fits in place');
          json.copy(bytes, 8);
          writeFileSync(path, bytes);
        }),
        /overlap in the file/,
      ));
    test('non-finite weights', () =>
      expectError(
        broken('nan', (d) => {
          const path = join(d, 'model.safetensors');
          const bytes = readFileSync(path);
          bytes.writeFloatLE(Number.NaN, bytes.length - 4);
          writeFileSync(path, bytes);
        }),
        /holds NaN/,
      ));
    test('a header that is not an object', () =>
      expectError(
        broken('null-header', (d) => {
          const bytes = Buffer.alloc(16);
          bytes.writeBigUInt64LE(8n);
          bytes.write('null    ', 8);
          writeFileSync(join(d, 'model.safetensors'), bytes);
        }),
        /header is not a JSON object/,
      ));
    test('optimizer state of the wrong size', () =>
      expectError(
        broken('optimizer', (d) => {
          writeSafetensors(join(d, 'optimizer.safetensors'), [
            { name: 'exp_avg', shape: [3], data: new Float32Array(3) },
            { name: 'exp_avg_sq', shape: [3], data: new Float32Array(3) },
          ]);
        }),
        /optimizer state has 3 values/,
      ));
  });
});
