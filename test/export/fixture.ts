import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import type { ModelConfigInput } from '../../src/engine/config.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';

/** Repetitive text a tiny model learns in a few dozen steps, so its next-token distributions are far from uniform. */
export const TRAINING_TEXT = 'the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log. ';

/**
 * Trains a tiny llama-style model for `steps` AdamW steps on TRAINING_TEXT
 * (windows of 32 bytes, BOS first) and saves it; returns the checkpoint directory.
 */
export async function trainedCheckpoint(options: { steps?: number; model?: ModelConfigInput } = {}): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'autodidact-gguf-')), 'checkpoint');
  const backend = await EmbeddedBackend.create({ model: { dModel: 48, nLayers: 2, nHeads: 4, maxSeqLen: 96, seed: 3, ...options.model } });
  try {
    const tokenizer = new ByteTokenizer();
    const ids = tokenizer.encode(TRAINING_TEXT.repeat(4));
    const T = 32;
    for (let step = 0; step < (options.steps ?? 40); step++) {
      const batch = Array.from({ length: 8 }, (_, b) => {
        const start = (step * 13 + b * 29) % (ids.length - T);
        const sequence = [tokenizer.bosId, ...ids.slice(start, start + T)];
        return { inputTokens: sequence.slice(0, -1), targetTokens: sequence.slice(1), weights: new Array(T).fill(1 / (8 * T)) };
      });
      await backend.forwardBackward(batch, 'cross_entropy');
      await backend.optimStep({ learningRate: 1e-2 });
    }
    await backend.save(dir);
  } finally {
    await backend.close();
  }
  return dir;
}
