import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import type { AdamParams, OptimStepResult } from '../spec/training-backend.js';
import type { Model } from './model.js';

export type { AdamParams, OptimStepResult };

/** Validates AdamParams (src/spec/training-backend.ts), filling defaults. */
export const AdamParamsSchema = z
  .object({
    /** Step size. */
    learningRate: z.number().nonnegative(),
    beta1: z.number().min(0).lt(1).default(0.9),
    beta2: z.number().min(0).lt(1).default(0.95),
    eps: z.number().positive().default(1e-8),
    /** Decoupled weight decay, applied to matrices only (not to norm weights). */
    weightDecay: z.number().nonnegative().default(0),
    /** Clip the global gradient norm to this value (0 or absent: no clipping). */
    gradClipNorm: z.number().nonnegative().default(0),
  })
  .strict();


/** AdamW over a Model's flat parameter buffer, with PyTorch's semantics (torch.optim.AdamW + clip_grad_norm_). */
export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  step = 0;
  private readonly model: Model;

  /** [start, end) pairs of the flat buffer that get weight decay: the matrices, not the norm weights. */
  private readonly decayRanges: Int32Array;

  constructor(model: Model) {
    this.model = model;
    const ranges: number[] = [];
    for (const tensor of model.namedTensors('params')) {
      if (!tensor.decay) continue;
      const start = (tensor.data.byteOffset - model.params.byteOffset) / 4;
      const end = start + tensor.data.length;
      if (ranges.length > 0 && ranges[ranges.length - 1] === start) ranges[ranges.length - 1] = end;
      else ranges.push(start, end);
    }
    this.decayRanges = Int32Array.from(ranges);
    this.m = new Float32Array(model.params.length);
    this.v = new Float32Array(model.params.length);
  }

  /** Applies the accumulated gradients; the kernel zeroes them as it goes. */
  apply(input: AdamParams): OptimStepResult {
    const params = parseConfig(AdamParamsSchema, input, 'optim');
    const kernels = this.model.kernels;
    const gradNorm = Math.sqrt(kernels.sumSquares(this.model.grads));
    const scale = params.gradClipNorm > 0 ? Math.min(1, params.gradClipNorm / (gradNorm + 1e-6)) : 1;
    this.step += 1;
    const biasCorrection1 = 1 - params.beta1 ** this.step;
    const biasCorrection2 = 1 - params.beta2 ** this.step;
    kernels.adamw(
      this.model.params,
      this.model.grads,
      this.m,
      this.v,
      params.learningRate,
      params.beta1,
      params.beta2,
      params.eps,
      params.weightDecay,
      biasCorrection1,
      biasCorrection2,
      scale,
      this.decayRanges,
    );
    return { gradNorm, learningRate: params.learningRate, step: this.step };
  }
}

/** A learning-rate schedule: linear warmup, then constant, linear or cosine decay to minLearningRate. */
export const ScheduleSchema = z
  .object({
    kind: z.enum(['constant', 'linear', 'cosine']).default('cosine'),
    /** Peak learning rate, reached at the end of warmup. */
    learningRate: z.number().positive(),
    /** Steps of linear warmup from 0. */
    warmupSteps: z.number().int().nonnegative().default(0),
    /** Total steps (end of decay). */
    totalSteps: z.number().int().positive(),
    /** Floor of the decay. */
    minLearningRate: z.number().nonnegative().default(0),
  })
  .strict();

export type Schedule = z.input<typeof ScheduleSchema>;

/** Learning rate at `step` (0-based) of a schedule. */
export function learningRateAt(schedule: Schedule, step: number): number {
  const s = parseConfig(ScheduleSchema, schedule, 'schedule');
  if (step < s.warmupSteps) return (s.learningRate * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.learningRate;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  const factor = s.kind === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return s.minLearningRate + (s.learningRate - s.minLearningRate) * factor;
}
