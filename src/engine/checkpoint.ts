import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointFormatError, InvalidConfigError } from '../errors.js';
import { resolveModelConfig, type ModelConfig } from './config.js';
import type { Kernels } from './kernels.js';
import { Model } from './model.js';
import type { AdamW } from './optimizer.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { ByteTokenizer, type Tokenizer } from './tokenizer.js';
import { huggingFaceTokenizerFiles } from './hf-tokenizer.js';

/**
 * A checkpoint is a directory that Hugging Face transformers opens as it is
 * (`LlamaForCausalLM.from_pretrained(dir)`):
 *   config.json            LlamaConfig fields
 *   model.safetensors      F32 tensors under LlamaForCausalLM's names
 *   autodidact.json        our model config (seed, init, positionEncoding), tokenizer, optimizer step
 *   optimizer.safetensors  AdamW moments (exp_avg, exp_avg_sq) for resuming training
 *   tokenizer.json, tokenizer_config.json  the tokenizer for transformers (see hf-tokenizer.ts)
 * A model with positionEncoding `none` (NoPE) still writes config.json, but
 * transformers would run it with rotary positions: only this engine reads it right.
 * It is written to a temporary directory and renamed into place, so a killed
 * save never leaves a half-written checkpoint behind.
 */
const FORMAT = 'autodidact-checkpoint';
const VERSION = 1;

/** The LlamaConfig fields of config.json for a model config. */
export function toLlamaConfig(config: ModelConfig, tokenizer: Tokenizer): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    intermediate_size: config.ffnHidden,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nHeads,
    head_dim: config.dModel / config.nHeads,
    max_position_embeddings: config.maxSeqLen,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: config.tieEmbeddings,
    hidden_act: 'silu',
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    initializer_range: config.initStd,
    bos_token_id: tokenizer.bosId,
    eos_token_id: tokenizer.eosId,
    pad_token_id: tokenizer.padId,
    torch_dtype: 'float32',
  };
}

/** Reads the model config back from config.json (LlamaConfig), checking what the engine supports. */
export function fromLlamaConfig(path: string, llama: Record<string, unknown>, extra: Partial<ModelConfig> = {}): ModelConfig {
  const need = (key: string) => {
    if (llama[key] === undefined) throw new CheckpointFormatError(path, `config.json lacks "${key}"`);
    return llama[key];
  };
  if (llama.model_type !== undefined && llama.model_type !== 'llama') throw new CheckpointFormatError(path, `config.json model_type is "${String(llama.model_type)}"; only "llama" is supported`);
  if (llama.hidden_act !== undefined && llama.hidden_act !== 'silu') throw new CheckpointFormatError(path, `config.json hidden_act is "${String(llama.hidden_act)}"; only "silu" is supported`);
  if (llama.attention_bias === true || llama.mlp_bias === true) throw new CheckpointFormatError(path, 'config.json asks for biases; the engine has none');
  if (llama.rope_scaling !== undefined && llama.rope_scaling !== null) throw new CheckpointFormatError(path, 'config.json sets rope_scaling; the engine supports plain rotary positions only');
  const heads = need('num_attention_heads');
  if (llama.num_key_value_heads !== undefined && llama.num_key_value_heads !== heads) throw new CheckpointFormatError(path, `num_key_value_heads ${String(llama.num_key_value_heads)} ≠ num_attention_heads ${String(heads)}; grouped-query attention is not supported`);
  const ropeParameters = llama.rope_parameters as { rope_theta?: number } | undefined;
  try {
    return resolveModelConfig(
      {
        vocabSize: need('vocab_size') as number,
        dModel: need('hidden_size') as number,
        nLayers: need('num_hidden_layers') as number,
        nHeads: heads as number,
        ffnHidden: need('intermediate_size') as number,
        maxSeqLen: need('max_position_embeddings') as number,
        ropeTheta: (llama.rope_theta ?? ropeParameters?.rope_theta ?? 10000) as number,
        rmsNormEps: (llama.rms_norm_eps ?? 1e-6) as number,
        tieEmbeddings: (llama.tie_word_embeddings ?? false) as boolean,
        initStd: (llama.initializer_range ?? 0.02) as number,
        seed: extra.seed ?? 0,
        // Not a LlamaConfig field: autodidact.json records it (a transformers checkpoint has rotary positions).
        positionEncoding: extra.positionEncoding ?? 'rope',
      },
      'config.json',
    );
  } catch (error) {
    if (error instanceof InvalidConfigError) throw new CheckpointFormatError(path, error.message);
    throw error;
  }
}

export interface SaveOptions {
  tokenizer: Tokenizer;
  optimizer?: AdamW;
  /** Free-form JSON stored in autodidact.json (e.g. training step, run id). */
  extra?: Record<string, unknown>;
}

export function saveCheckpoint(dir: string, model: Model, options: SaveOptions): void {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const temporary = join(parent, `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(temporary);
  writeFileSync(join(temporary, 'config.json'), JSON.stringify(toLlamaConfig(model.config, options.tokenizer), null, 2) + '\n');
  writeSafetensors(join(temporary, 'model.safetensors'), model.namedTensors('params'), { format: 'pt' });
  if (options.optimizer) {
    writeSafetensors(join(temporary, 'optimizer.safetensors'), [
      { name: 'exp_avg', shape: [options.optimizer.m.length], data: options.optimizer.m },
      { name: 'exp_avg_sq', shape: [options.optimizer.v.length], data: options.optimizer.v },
    ]);
  }
  const meta = {
    format: FORMAT,
    version: VERSION,
    model: model.config,
    tokenizer: options.tokenizer.toJSON(),
    optimizer: options.optimizer ? { kind: 'adamw', step: options.optimizer.step } : null,
    extra: options.extra ?? {},
  };
  writeFileSync(join(temporary, 'autodidact.json'), JSON.stringify(meta, null, 2) + '\n');
  // tokenizer.json + tokenizer_config.json, so transformers and TRL open the checkpoint with its tokenizer.
  for (const [name, text] of Object.entries(huggingFaceTokenizerFiles(options.tokenizer, { modelMaxLength: model.config.maxSeqLen }) ?? {})) writeFileSync(join(temporary, name), text);
  const old = `${temporary}.old`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(temporary, dir);
  rmSync(old, { recursive: true, force: true });
}

export interface LoadedCheckpoint {
  model: Model;
  tokenizer: Tokenizer;
  /** AdamW state when the checkpoint has it. */
  optimizer: { step: number; m: Float32Array; v: Float32Array } | null;
  extra: Record<string, unknown>;
}

/** Loads a checkpoint written by saveCheckpoint, or a float32 LlamaForCausalLM saved by transformers. */
export function loadCheckpoint(dir: string, kernels: Kernels): LoadedCheckpoint {
  if (!existsSync(dir)) throw new CheckpointFormatError(dir, 'directory does not exist');
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new CheckpointFormatError(dir, 'config.json is missing (not a checkpoint directory?)');
  const llama = readJson(configPath);
  const metaPath = join(dir, 'autodidact.json');
  const meta = existsSync(metaPath) ? readJson(metaPath) : null;
  if (meta && meta.format !== FORMAT) throw new CheckpointFormatError(metaPath, `format is "${String(meta.format)}", expected "${FORMAT}"`);
  if (meta && typeof meta.version === 'number' && meta.version > VERSION) throw new CheckpointFormatError(metaPath, `version ${meta.version} is newer than this engine reads (${VERSION}); upgrade autodidact`);
  const saved = (meta?.model ?? {}) as Partial<ModelConfig>;
  const config = fromLlamaConfig(dir, llama, saved);
  const tokenizer = tokenizerFrom(metaPath, (meta?.tokenizer ?? { kind: 'byte' }) as { kind: string });
  if (tokenizer.vocabSize > config.vocabSize) throw new CheckpointFormatError(dir, `vocab_size ${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} ids`);

  const model = new Model(config, kernels);
  const weightsPath = join(dir, 'model.safetensors');
  const { tensors } = readSafetensors(weightsPath);
  const expected = model.namedTensors('params');
  for (const tensor of expected) {
    const found = tensors.get(tensor.name);
    if (!found) throw new CheckpointFormatError(weightsPath, `tensor ${tensor.name} is missing`);
    if (found.shape.join(',') !== tensor.shape.join(',')) throw new CheckpointFormatError(weightsPath, `tensor ${tensor.name} has shape [${found.shape}], config.json implies [${tensor.shape}]`);
    const bad = found.data.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) throw new CheckpointFormatError(weightsPath, `tensor ${tensor.name} holds ${found.data[bad]} at index ${bad}: the weights are corrupt (or training diverged before this save)`);
    tensor.data.set(found.data);
  }
  const known = new Set(expected.map((t) => t.name));
  for (const name of tensors.keys()) {
    if (known.has(name)) continue;
    if (name === 'lm_head.weight' && config.tieEmbeddings) continue; // some writers store the tied head too
    if (name.endsWith('rotary_emb.inv_freq')) continue;
    throw new CheckpointFormatError(weightsPath, `unexpected tensor ${name} (does config.json match these weights?)`);
  }

  let optimizer: LoadedCheckpoint['optimizer'] = null;
  const optimizerPath = join(dir, 'optimizer.safetensors');
  const optimizerMeta = meta?.optimizer as { step?: number } | null | undefined;
  if (optimizerMeta && !(Number.isInteger(optimizerMeta.step) && (optimizerMeta.step as number) >= 0)) {
    throw new CheckpointFormatError(metaPath, `optimizer.step must be a non-negative integer, got ${JSON.stringify(optimizerMeta.step)}`);
  }
  if (optimizerMeta && existsSync(optimizerPath)) {
    const state = readSafetensors(optimizerPath).tensors;
    const m = state.get('exp_avg');
    const v = state.get('exp_avg_sq');
    if (!m || !v) throw new CheckpointFormatError(optimizerPath, 'needs tensors exp_avg and exp_avg_sq');
    if (m.data.length !== model.params.length || v.data.length !== model.params.length) {
      throw new CheckpointFormatError(optimizerPath, `optimizer state has ${m.data.length} values, the model ${model.params.length} parameters`);
    }
    if (v.data.some((value) => !(value >= 0) || !Number.isFinite(value)) || m.data.some((value) => !Number.isFinite(value))) {
      throw new CheckpointFormatError(optimizerPath, 'optimizer moments hold non-finite (or negative second-moment) values');
    }
    optimizer = { step: optimizerMeta.step as number, m: m.data, v: v.data };
  } else if (optimizerMeta) {
    throw new CheckpointFormatError(dir, 'autodidact.json records optimizer state but optimizer.safetensors is missing');
  }
  return { model, tokenizer, optimizer, extra: (meta?.extra ?? {}) as Record<string, unknown> };
}

/** A checkpoint's JSON file as an object; a missing, unreadable or malformed one is a CheckpointFormatError naming it. */
export function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CheckpointFormatError(path, `cannot read (${(error as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CheckpointFormatError(path, `is not a JSON object (${(error as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new CheckpointFormatError(path, 'is not a JSON object (not an object)');
  return value as Record<string, unknown>;
}

function tokenizerFrom(path: string, description: { kind: string }): Tokenizer {
  if (description.kind === 'byte') return new ByteTokenizer();
  throw new CheckpointFormatError(path, `unknown tokenizer kind "${description.kind}" (this engine knows "byte")`);
}
