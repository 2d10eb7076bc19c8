import { totalmem } from 'node:os';
import { z } from 'zod';
import { InvalidConfigError } from '../errors.js';
import { parseConfig } from '../config/validate.js';

/** Shape and initialization of the embedded llama-style model. Plain data; unknown keys are errors. */
export const ModelConfigSchema = z
  .object({
    /** Number of token ids (rows of the embedding table). ≥ 259 for the byte tokenizer. */
    vocabSize: z.number().int().positive().default(259),
    /** Width of the residual stream (C). Must be divisible by nHeads. */
    dModel: z.number().int().positive().default(128),
    /** Number of transformer blocks. */
    nLayers: z.number().int().positive().default(4),
    /** Attention heads (H); with rotary positions the head size D = dModel / nHeads must be even (rotary pairs). */
    nHeads: z.number().int().positive().default(4),
    /** Hidden width of the SwiGLU MLP (F). Default 4·dModel when omitted. */
    ffnHidden: z.number().int().positive().optional(),
    /** Longest sequence (prompt + completion) the model accepts. */
    maxSeqLen: z.number().int().positive().default(128),
    /**
     * How attention sees positions: `rope` rotates queries and keys (rotary
     * positions, as in llama); `none` applies no positional encoding (NoPE), so
     * the causal mask alone tells tokens apart by position. NoPE length-generalizes
     * better on arithmetic (Kazemnejad et al. 2023). Not a LlamaConfig field:
     * checkpoints record it in autodidact.json.
     */
    positionEncoding: z.enum(['rope', 'none']).default('rope'),
    /** Rotary base θ (unused when positionEncoding is `none`). */
    ropeTheta: z.number().positive().default(10000),
    /** RMSNorm epsilon. */
    rmsNormEps: z.number().positive().default(1e-5),
    /** Share the embedding table with the LM head. */
    tieEmbeddings: z.boolean().default(false),
    /** Standard deviation of the normal initialization of matrices (residual projections get /√(2·nLayers)). */
    initStd: z.number().positive().default(0.02),
    /** Seed of the initialization. */
    seed: z.number().int().default(0),
  })
  .strict();

export type ModelConfigInput = z.input<typeof ModelConfigSchema>;
export type ModelConfig = Required<z.output<typeof ModelConfigSchema>>;

/** Validates a model config, fills defaults and checks the constraints between fields, and that the engine can allocate it. */
export function resolveModelConfig(input: ModelConfigInput | undefined, prefix = 'model'): ModelConfig {
  const config = resolveShape(input, prefix);
  const parameters = parameterCountOf(config);
  const need = 16 * parameters; // float32 weights, gradients and AdamW's two moments
  const culprit = () => `${prefix}.${costliestModelField(input ?? {}, prefix)}`;
  if (parameters > MAX_TYPED_ARRAY_LENGTH) {
    throw new InvalidConfigError(culprit(), `gives ${formatCount(parameters)} parameters, more than the ${formatCount(MAX_TYPED_ARRAY_LENGTH)} one Float32Array holds (the engine keeps them in one buffer); choose a smaller model`);
  }
  if (need > totalmem()) {
    throw new InvalidConfigError(culprit(), `gives ${formatCount(parameters)} parameters, whose weights, gradients and AdamW moments need about ${formatBytes(need)}, more than this machine's ${formatBytes(totalmem())} of memory; choose a smaller model`);
  }
  return config;
}

function resolveShape(input: ModelConfigInput | undefined, prefix: string): ModelConfig {
  const parsed = parseConfig(ModelConfigSchema, input ?? {}, prefix);
  const config: ModelConfig = { ...parsed, ffnHidden: parsed.ffnHidden ?? 4 * parsed.dModel };
  if (config.dModel % config.nHeads !== 0) {
    throw new InvalidConfigError(`${prefix}.dModel`, `${config.dModel} is not divisible by nHeads = ${config.nHeads}; choose dModel a multiple of nHeads`);
  }
  if (config.positionEncoding === 'rope' && (config.dModel / config.nHeads) % 2 !== 0) {
    throw new InvalidConfigError(`${prefix}.nHeads`, `head size dModel/nHeads = ${config.dModel / config.nHeads} must be even for rotary positions`);
  }
  return config;
}

/** Elements one Float32Array may hold in Node (2³²). */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;

/** Parameters of a model: model.ts's layout, in closed form (wte, per block ln1 + wqkv + wo + ln2 + wgu + wdown, lnf, lmHead unless tied). */
export function parameterCountOf(config: ModelConfig): number {
  const { vocabSize: V, dModel: C, ffnHidden: F, nLayers: L } = config;
  return V * C * (config.tieEmbeddings ? 1 : 2) + L * (2 * C + 4 * C * C + 3 * C * F) + C;
}

/**
 * Float32 values the engine's buffers hold for a workload (model.ts): weights,
 * gradients and AdamW moments; the training activation arena for
 * `trainRows` sequences of `length` tokens (its attention scores grow with
 * T²); the sampling KV cache for `sampleSlots` sequences. `largest` is the
 * longest single buffer, which must fit one Float32Array.
 */
export function engineFloats(config: ModelConfig, workload: { trainRows: number; sampleSlots: number; length: number }): { total: number; largest: number } {
  const { vocabSize: V, dModel: C, ffnHidden: F, nLayers: L, nHeads: H } = config;
  const T = Math.min(workload.length, config.maxSeqLen);
  const parameters = parameterCountOf(config);
  const activations = workload.trainRows * T * (L * (8 * C + 3 * F + H * T + 2) + 7 * C + 3 * F + V + 3);
  const kvCache = workload.sampleSlots * T * 2 * C * L;
  const sampling = workload.sampleSlots * (7 * C + 3 * F + V);
  return { total: 4 * parameters + activations + kvCache + sampling, largest: Math.max(parameters, activations, kvCache) };
}

/**
 * The field of `input` that costs most: the one whose return to its default
 * shrinks the model most (the field to lower in an error message).
 */
export function costliestModelField(input: ModelConfigInput, prefix: string): string {
  const fields = ['dModel', 'nLayers', 'ffnHidden', 'vocabSize'] as const;
  let best: string = 'dModel';
  let smallest = Infinity;
  for (const field of fields) {
    if ((input as Record<string, unknown>)[field] === undefined) continue;
    let count: number;
    try {
      count = parameterCountOf(resolveShape({ ...input, [field]: undefined }, prefix));
    } catch {
      continue; // the default breaks a constraint between fields (dModel vs nHeads): not a fix to suggest
    }
    if (count < smallest) [best, smallest] = [field, count];
  }
  return best;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) [value, unit] = [value / 1000, unit + 1];
  return `${value.toPrecision(3)} ${units[unit]}`;
}

export function formatCount(count: number): string {
  return count >= 1e9 ? `${(count / 1e9).toPrecision(3)} billion` : count >= 1e6 ? `${(count / 1e6).toPrecision(3)} million` : String(count);
}
