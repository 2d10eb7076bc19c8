import type { Completion, SamplingOptions } from './policy.js';

/** Settings of one AdamW step (Tinker's AdamParams, plus decay and clipping). */
export interface AdamParams {
  /** Step size. */
  learningRate: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.95. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, applied to matrices only (not to norm weights); default 0. */
  weightDecay?: number;
  /** Clip the global gradient norm to this value (0 or absent: no clipping). */
  gradClipNorm?: number;
}

export interface OptimStepResult {
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Learning rate used. */
  learningRate: number;
  /** Number of optimizer steps taken so far (1 after the first). */
  step: number;
}

/** What a backend's sampler takes: any of the policy settings (defaults: n 1, temperature 1, top-p 1, 64 tokens, seed 0), and token ids that end a completion (default: the tokenizer's EOS; kept in `tokens`). */
export type BackendSampleOptions = Partial<SamplingOptions> & { stopTokenIds?: number[] };

/**
 * One training example, shaped like Tinker's Datum: the model reads
 * `inputTokens` and is scored on `targetTokens`, aligned position by position:
 * targetTokens[t] is the token predicted after inputTokens[0..t].
 * For a sequence s: inputTokens = s[0..n-1), targetTokens = s[1..n).
 */
export interface Datum {
  inputTokens: ArrayLike<number>;
  targetTokens: ArrayLike<number>;
  /** Per-token weights of the built-in cross-entropy loss (default 1 everywhere; 0 masks the prompt). */
  weights?: ArrayLike<number>;
}

export interface ForwardOptions {
  /** Also return the entropy of the next-token distribution at each position. */
  entropy?: boolean;
  /**
   * Logprobs (and entropy, and gradients) of softmax(logits / temperature):
   * the distribution a sampler at that temperature draws from, before top-p
   * (default 1). Policy-gradient losses on samples drawn at temperature T use T,
   * as TRL and verl do.
   */
  temperature?: number;
}

export interface ForwardResult {
  /** Per datum, log p(targetTokens[t] | inputTokens[0..t]) for every t. */
  logprobs: Float32Array[];
  /** Per datum, entropy (nats) of each next-token distribution, when asked. */
  entropy?: Float32Array[];
}

/**
 * A loss written in terms of per-token logprobs: it returns the loss value and
 * d(loss)/d(logprob) for every token. PPO clipping, DPO, KL penalties, … are
 * all such functions; the backend backpropagates the rest of the way.
 */
export type LossFunction = (logprobs: Float32Array[], batch: readonly Datum[]) => {
  loss: number;
  /** d(loss)/d(logprobs[i][t]), same shapes as logprobs. */
  grad: ArrayLike<number>[];
  metrics?: Record<string, number>;
};

/**
 * 'cross_entropy': Σ_i Σ_t −weights[i][t] · logprobs[i][t] (Tinker's definition:
 * a sum, so put 1/count into the weights for a mean). SFT and REINFORCE use it.
 */
export type Loss = 'cross_entropy' | LossFunction;

export interface ForwardBackwardResult {
  loss: number;
  logprobs: Float32Array[];
  /** Per datum, entropy (nats) of each next-token distribution, when asked. */
  entropy?: Float32Array[];
  metrics: Record<string, number>;
}

/**
 * The boundary to model weights, shaped like the Tinker API. Gradients of
 * successive forwardBackward calls accumulate until optimStep.
 */
export interface TrainingBackend {
  /** Per-token logprobs (and entropy on request); no gradients. */
  forward(batch: readonly Datum[], options?: ForwardOptions): Promise<ForwardResult>;
  /** Forward, loss, backward; gradients accumulate. `options.entropy` also returns the entropy at each position (from the same forward). */
  forwardBackward(batch: readonly Datum[], loss: Loss, options?: ForwardOptions): Promise<ForwardBackwardResult>;
  /** One AdamW step with the accumulated gradients, which are then cleared. */
  optimStep(params: AdamParams): Promise<OptimStepResult>;
  /** Batched sampling from the current weights; result[i][j] is sample j of prompt i. */
  sample(prompts: readonly (string | readonly number[])[], options?: BackendSampleOptions): Promise<Completion[][]>;
  /** Writes a checkpoint directory (weights, config, optimizer state). */
  save(dir: string): Promise<void>;
  /** Replaces weights and optimizer state with those of a checkpoint directory; `weightsOnly` starts a fresh optimizer instead (a new training stage). */
  load(dir: string, options?: { weightsOnly?: boolean }): Promise<void>;
  /** Releases threads and memory. */
  close(): Promise<void>;
}
