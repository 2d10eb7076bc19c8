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

/** Validates a model config, fills defaults and checks the constraints between fields. */
export function resolveModelConfig(input: ModelConfigInput | undefined, prefix = 'model'): ModelConfig {
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
