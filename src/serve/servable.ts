import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fromLlamaConfig, readJson as readCheckpointJson } from '../engine/checkpoint.js';
import type { ModelConfig } from '../engine/config.js';
import { CheckpointFormatError } from '../errors.js';

/** A checkpoint the server can serve: a directory with our files and the byte tokenizer. Returns its model config (config.json, read as the engine reads it). */
export function checkServable(dir: string): ModelConfig {
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'model.safetensors'))) throw new CheckpointFormatError(dir, 'no config.json and model.safetensors here; pass a checkpoint directory (e.g. runs/<run>/checkpoints/round-3)');
  const metaPath = join(dir, 'autodidact.json');
  if (existsSync(metaPath)) {
    const kind = (readCheckpointJson(metaPath) as { tokenizer?: { kind?: string } }).tokenizer?.kind ?? 'byte';
    if (kind !== 'byte') throw new CheckpointFormatError(dir, `tokenizer kind "${kind}": the server speaks the byte tokenizer only`);
  }
  return fromLlamaConfig(dir, readCheckpointJson(join(dir, 'config.json')));
}
