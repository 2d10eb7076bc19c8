/** A token and its log-probability. */
export interface TokenLogprob {
  id: number;
  logprob: number;
}

/**
 * Sampling settings every policy honours; the same names as the engine sampler
 * and OpenAI-compatible servers (camelCase).
 */
export interface SamplingOptions {
  /** Completions per prompt. */
  n: number;
  /** Softmax temperature; 0 is greedy decoding. */
  temperature: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1). */
  topP?: number;
  /** New tokens per completion at most. */
  maxTokens: number;
  /** Strings that end a completion; they are not part of the returned text or tokens. */
  stop?: string[];
  /** The same seed, prompts and weights give the same samples. */
  seed: number;
  /** Also return the entropy (temperature 1) of each next-token distribution. */
  entropy?: boolean;
}

/** One completion sampled by a policy, with what is needed to train on it and to trace it back. */
export interface Completion {
  /** Decoded text (stop strings cut). */
  text: string;
  /** Token ids of the completion (EOS kept when it ended the text). Empty when the policy cannot return ids. */
  tokens: number[];
  /** log p(token) under the policy at temperature 1 (no top-p truncation), one per token; empty when unknown. */
  logprobs: number[];
  /**
   * log p(token) under the distribution the token was actually drawn from (the
   * temperature and top-p used): the behaviour policy of importance ratios. At
   * temperature 1 and top-p 1 it equals `logprobs`; at temperature 0 it is 0
   * (greedy decoding is deterministic). Absent when the policy cannot tell.
   */
  behaviourLogprobs?: number[];
  /** Entropy (nats, temperature 1) of the distribution each token was drawn from, when asked (`entropy: true`) and the policy can report it. */
  entropy?: number[];
  /** The most likely tokens (temperature 1) at each position, most likely first; only when asked. */
  topLogprobs?: TokenLogprob[][];
  /** Why generation ended. */
  finishReason: 'stop' | 'length';
  /** The weights that wrote this completion when the policy can tell per sample (a server's `system_fingerprint`); else the policy's `version` applies. */
  policyVersion?: string;
}

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
  /**
   * Optional: samples continuations of token ids (BOS included), so a
   * multi-turn rollout continues exactly the tokens of earlier turns instead
   * of re-encoding their text. The embedded engine implements it; a policy
   * without it gets the decoded text.
   */
  sampleTokens?(prompts: readonly (readonly number[])[], options: SamplingOptions): Promise<Completion[][]>;
}
