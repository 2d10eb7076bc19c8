import type { SampleOptions } from '../engine/sampler.js';

/** One completion sampled by a policy, with what is needed to train on it and to trace it back. */
export interface Completion {
  /** Decoded text (stop strings cut). */
  text: string;
  /** Token ids of the completion (EOS kept when it ended the text). Empty when the policy cannot return ids. */
  tokens: number[];
  /** log p(token) under the policy at temperature 1, one per token; empty when unknown. */
  logprobs: number[];
  /** Entropy (nats, temperature 1) of the distribution each token was drawn from, when asked (`entropy: true`) and the policy can report it. */
  entropy?: number[];
  /** Why generation ended. */
  finishReason: 'stop' | 'length';
  /** The weights that wrote this completion when the policy can tell per sample (a server's `system_fingerprint`); else the policy's `version` applies. */
  policyVersion?: string;
}

/** Sampling settings a policy honours; the same names as the engine sampler and OpenAI-compatible servers. */
export type SamplingOptions = Required<Pick<SampleOptions, 'n' | 'temperature' | 'maxTokens' | 'seed'>> & Pick<SampleOptions, 'topP' | 'stop' | 'entropy'>;

/**
 * A policy: something that writes completions for prompts. The embedded engine,
 * an OpenAI-compatible server or a GGUF model. Every sample is tagged with the
 * policy version that produced it (the run store's provenance).
 */
export interface Policy {
  /** What the policy is, e.g. `embedded` or a server's model name. */
  readonly name: string;
  /** Identifies the weights: changes whenever they do (e.g. `sft`, `round-3`). */
  readonly version: string;
  /** result[i][j] is sample j of prompt i. The same seed and weights give the same samples. */
  sample(prompts: readonly string[], options: SamplingOptions): Promise<Completion[][]>;
}
