import { statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { CheckpointFormatError } from '../errors.js';
import { loadCheckpoint } from '../engine/checkpoint.js';
import { byteLevelAlphabet } from '../engine/hf-tokenizer.js';
import type { ModelConfig } from '../engine/config.js';
import { tsKernels } from '../engine/kernels-ts.js';
import type { NamedTensor } from '../engine/model.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import { GgufType, writeGguf, type GgufTensorInput, type GgufValue } from './gguf-format.js';

/**
 * Export of a checkpoint (Hugging Face LlamaForCausalLM layout) to a GGUF file
 * of architecture `llama`, mapped the way llama.cpp's convert_hf_to_gguf.py maps
 * a float32 HF llama. llama.cpp (through node-llama-cpp) loads it and agrees with
 * the engine (test/export/gguf.test.ts); Ollama, which uses llama.cpp's loader,
 * is not checked here.
 *
 *   model.embed_tokens.weight                 → token_embd.weight
 *   model.layers.N.input_layernorm.weight      → blk.N.attn_norm.weight
 *   model.layers.N.self_attn.{q,k}_proj.weight → blk.N.attn_{q,k}.weight   (rows permuted, see below)
 *   model.layers.N.self_attn.v_proj.weight     → blk.N.attn_v.weight
 *   model.layers.N.self_attn.o_proj.weight     → blk.N.attn_output.weight
 *   model.layers.N.post_attention_layernorm    → blk.N.ffn_norm.weight
 *   model.layers.N.mlp.{gate,up,down}_proj     → blk.N.ffn_{gate,up,down}.weight
 *   model.norm.weight                          → output_norm.weight
 *   lm_head.weight                             → output.weight (absent when tied: llama.cpp reuses token_embd)
 *
 * Rotary positions: HF (and this engine) rotate the two halves of each head
 * (pairs (i, i + D/2)); llama.cpp's `llama` rope rotates adjacent pairs
 * (2i, 2i + 1). Permuting the rows of Wq and Wk within each head — row 2i+j of
 * the GGUF head is row j·D/2 + i of ours — makes the two compute the same
 * attention scores (q·k is invariant under one permutation applied to both).
 *
 * Tokenizer: our ByteTokenizer as a byte-level BPE vocabulary (tokenizer.ggml.model
 * `gpt2`, as Llama 3 and GPT-2 models ship) with no merges, whose ids are ours:
 * id b < 256 is byte b, spelled as GPT-2's printable stand-in character for that
 * byte (type NORMAL); then BOS `<s>`, EOS `</s>` and PAD `<pad>` (type CONTROL);
 * then `<unused_N>` up to vocabSize (type UNUSED). With no merges llama.cpp's
 * BPE tokenizer turns any text into one token per UTF-8 byte — exactly our ids.
 * A SentencePiece (`llama`) vocabulary of `<0xNN>` byte tokens does not: its
 * tokenizer rewrites every space as U+2581 "▁" before the lookup, so id 32
 * needs the piece "▁", and then the character "▁" in input text tokenizes to
 * 32 instead of its bytes E2 96 81 (measured with node-llama-cpp 3.21.1).
 */

/** What exportGguf wrote. */
export interface GgufExportResult {
  /** Number of tensors in the file. */
  tensors: number;
  /** File size in bytes. */
  bytes: number;
  /** Path of the written file. */
  path: string;
}

/** GGUF token types (llama.cpp's `llama_token_type`). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Alignment of the tensor data (GGUF's default, written explicitly). */
const ALIGNMENT = 32;

/**
 * Writes the checkpoint at `checkpointDir` as a GGUF v3 file at `outPath`
 * (synchronous): architecture `llama`, float32 tensors, the byte vocabulary.
 * Throws CheckpointFormatError for a checkpoint it cannot read or a model
 * llama.cpp cannot express (positionEncoding `none`).
 */
export function exportGguf(checkpointDir: string, outPath: string): GgufExportResult {
  const loaded = loadCheckpoint(checkpointDir, tsKernels);
  const config = loaded.model.config;
  if (config.positionEncoding !== 'rope') {
    throw new CheckpointFormatError(checkpointDir, `positionEncoding is "${config.positionEncoding}"; llama.cpp's llama architecture always applies rotary positions, so a NoPE model cannot be exported to GGUF (train with model.positionEncoding "rope" to export)`);
  }
  const metadata = ggufMetadata(config, loaded.tokenizer, basename(resolve(checkpointDir)));
  const tensors = ggufTensors(config, loaded.model.namedTensors('params'));
  const path = resolve(outPath);
  writeGguf(path, metadata, tensors);
  return { tensors: tensors.length, bytes: statSync(path).size, path };
}

/** The llama.* hyperparameters, general.* keys and the tokenizer of a model config, in writing order. */
export function ggufMetadata(config: ModelConfig, tokenizer: Tokenizer, name: string): Map<string, GgufValue> {
  const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
  const f32 = (value: number): GgufValue => ({ type: GgufType.FLOAT32, value });
  const text = (value: string): GgufValue => ({ type: GgufType.STRING, value });
  const bool = (value: boolean): GgufValue => ({ type: GgufType.BOOL, value });
  const vocabulary = byteVocabulary(tokenizer, config.vocabSize);
  return new Map<string, GgufValue>([
    ['general.architecture', text('llama')],
    ['general.name', text(name)],
    ['general.file_type', u32(0)], // all tensors F32
    ['general.alignment', u32(ALIGNMENT)],
    ['llama.vocab_size', u32(config.vocabSize)],
    ['llama.context_length', u32(config.maxSeqLen)],
    ['llama.embedding_length', u32(config.dModel)],
    ['llama.block_count', u32(config.nLayers)],
    ['llama.feed_forward_length', u32(config.ffnHidden)],
    ['llama.attention.head_count', u32(config.nHeads)],
    ['llama.attention.head_count_kv', u32(config.nHeads)],
    ['llama.attention.layer_norm_rms_epsilon', f32(config.rmsNormEps)],
    ['llama.rope.freq_base', f32(config.ropeTheta)],
    ['llama.rope.dimension_count', u32(config.dModel / config.nHeads)],
    ['tokenizer.ggml.model', text('gpt2')],
    ['tokenizer.ggml.pre', text('default')], // llama.cpp's default split regex; it never changes bytes
    ['tokenizer.ggml.tokens', { type: GgufType.ARRAY, itemType: GgufType.STRING, value: vocabulary.tokens }],
    ['tokenizer.ggml.token_type', { type: GgufType.ARRAY, itemType: GgufType.INT32, value: vocabulary.types }],
    ['tokenizer.ggml.merges', { type: GgufType.ARRAY, itemType: GgufType.STRING, value: [] }],
    ['tokenizer.ggml.bos_token_id', u32(tokenizer.bosId)],
    ['tokenizer.ggml.eos_token_id', u32(tokenizer.eosId)],
    ['tokenizer.ggml.padding_token_id', u32(tokenizer.padId)],
    ['tokenizer.ggml.add_bos_token', bool(true)], // the engine starts every prompt with BOS
    ['tokenizer.ggml.add_eos_token', bool(false)],
  ]);
}

/** Token strings and types of the byte tokenizer padded to `vocabSize` ids (see the module comment). */
export function byteVocabulary(tokenizer: Tokenizer, vocabSize: number): { tokens: string[]; types: number[] } {
  const specials = new Map<number, string>([
    [tokenizer.bosId, '<s>'],
    [tokenizer.eosId, '</s>'], // a name llama.cpp knows as end-of-generation
    [tokenizer.padId, '<pad>'],
  ]);
  const characters = byteLevelAlphabet(); // GPT-2's byte-to-character table, as tokenizer.ggml.model gpt2 expects
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const bytes = tokenizer.tokenBytes(id);
    if (specials.has(id)) {
      tokens.push(specials.get(id)!);
      types.push(TokenType.CONTROL);
    } else if (bytes.length === 1 && id === bytes[0]) {
      tokens.push(characters[bytes[0]]);
      types.push(TokenType.NORMAL);
    } else if (bytes.length === 0) {
      tokens.push(`<unused_${id}>`);
      types.push(TokenType.UNUSED);
    } else {
      throw new CheckpointFormatError('tokenizer', `token ${id} stands for bytes [${Array.from(bytes)}]; GGUF export supports the byte tokenizer (id b = byte b) only`);
    }
  }
  return { tokens, types };
}

/** The checkpoint's tensors under llama.cpp's names, Wq and Wk rows permuted for llama.cpp's rope. */
export function ggufTensors(config: ModelConfig, named: readonly NamedTensor[]): GgufTensorInput[] {
  const out: GgufTensorInput[] = [];
  for (const tensor of named) {
    const name = ggufName(tensor.name);
    const isQueryOrKey = /\.self_attn\.[qk]_proj\.weight$/.test(tensor.name);
    const data = isQueryOrKey ? permuteRotaryRows(tensor.data, config.nHeads, tensor.shape[0], tensor.shape[1]) : tensor.data;
    out.push({ name, shape: tensor.shape, data });
  }
  return out;
}

/** llama.cpp's tensor name for a LlamaForCausalLM tensor name. */
export function ggufName(hfName: string): string {
  if (hfName === 'model.embed_tokens.weight') return 'token_embd.weight';
  if (hfName === 'model.norm.weight') return 'output_norm.weight';
  if (hfName === 'lm_head.weight') return 'output.weight';
  const match = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(hfName);
  const parts: Record<string, string> = {
    input_layernorm: 'attn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    post_attention_layernorm: 'ffn_norm',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
  };
  if (match && parts[match[2]]) return `blk.${match[1]}.${parts[match[2]]}.weight`;
  throw new CheckpointFormatError('model.safetensors', `tensor ${hfName} has no llama.cpp name`);
}

/**
 * Rows of a (rows, cols) projection reordered within each of `heads` heads of
 * size D = rows / heads: output row h·D + 2i + j is input row h·D + j·D/2 + i
 * (HF rotate-half pairs → llama.cpp adjacent pairs; convert_hf_to_gguf's `permute`).
 */
export function permuteRotaryRows(weights: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  return moveRotaryRows(weights, heads, rows, cols, false);
}

/** Inverse of permuteRotaryRows: llama.cpp row order back to HF's. */
export function unpermuteRotaryRows(weights: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  return moveRotaryRows(weights, heads, rows, cols, true);
}

/** Moves row h·D + j·D/2 + i to h·D + 2i + j (or back, `inverse`). */
function moveRotaryRows(weights: Float32Array, heads: number, rows: number, cols: number, inverse: boolean): Float32Array {
  const D = rows / heads;
  const half = D / 2;
  const out = new Float32Array(weights.length); // (rows, cols)
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const hf = (h * D + j * half + i) * cols;
        const llama = (h * D + 2 * i + j) * cols;
        const [from, to] = inverse ? [llama, hf] : [hf, llama];
        out.set(weights.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}
