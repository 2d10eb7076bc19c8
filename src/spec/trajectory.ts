import type { SamplingOptions } from './policy.js';
import type { Task } from './task.js';
import type { Verification } from './verifier.js';

/** One turn of an episode: what the policy read, what it wrote, and what the environment said. */
export interface Turn {
  /** The observation's text (the prompt on turn 0, the environment's message after). */
  observation: string;
  /** Its token ids as the policy read them (turn 0 starts with BOS). The trained context is every turn's observation and action tokens in order. */
  observationTokens: number[];
  /** The action's text (stop strings cut). */
  action: string;
  /** The token ids actually sampled (EOS kept when it ended the action). */
  actionTokens: number[];
  /** log p of each action token under the policy at temperature 1. */
  logprobs: number[];
  /**
   * log p of each action token under the distribution it was drawn from (the
   * temperature and top-p used): the behaviour policy. Absent only in a
   * text-only rollout (`needs: 'text'`) whose policy did not report them at
   * a temperature ≠ 1 or top-p < 1, where the temperature-1 logprobs are not
   * the behaviour's; a learner datum refuses such a turn.
   */
  behaviourLogprobs?: number[];
  /** Entropy (nats, temperature 1) of each action token's distribution, when the rollout asked for it (`sampling.entropy`). */
  entropy?: number[];
  finishReason: 'stop' | 'length';
  /** The environment's reward for this action (null: none given). */
  reward: number | null;
  /** The environment's feedback on this action. */
  feedback: string;
  /** The verifier's verdict, when a verifier scored this action. */
  verification?: Verification;
}

/** How a trajectory (or a stored turn) came to be; `correction` is a later turn of a multi-turn episode (SCoRe's second attempt). */
export type TrajectoryKind = 'sample' | 'reflection' | 'rationalization' | 'correction';

/** Where a trajectory comes from: enough to find it again and to refuse it for other weights. */
export interface Provenance {
  round: number;
  /** The step of a step-wise round (policy gradient, self-play). */
  step?: number;
  /** The role that acted in a multi-role method (self-play's `propose` / `solve`). */
  role?: string;
  kind: TrajectoryKind;
  /** Index among the samples of its task (of its kind) in its round and step. */
  sampleIndex: number;
  /** The stored sample a refinement revises. */
  parentId?: number;
  /** The environment (and so the verifier) that scored it: name and version. */
  environment: { name: string; version: string };
}

/**
 * The one unit between rollout and learner: an episode's turns with the tokens
 * the policy actually read and sampled, their logprobs under the behaviour
 * distribution and under the policy at temperature 1, per-turn rewards and
 * feedback, the final reward and pass, and where it came from. Learner data
 * are built from its tokens (src/rollout/datums.ts), never by re-encoding text.
 */
export interface Trajectory {
  task: Task;
  turns: Turn[];
  /** The final reward (the last turn's, or the environment's shaped total); null when nothing scored it. */
  reward: number | null;
  /** Whether the episode counts as solved. */
  pass: boolean;
  /** Components of a multi-part final reward. */
  rewardParts?: number[];
  /** The weights that sampled every turn. */
  policyVersion: string;
  /** The sampling settings used (n of the call that drew it). */
  sampling: SamplingOptions;
  provenance: Provenance;
}

/**
 * The single-turn view of a trajectory that monitors and curation read: one
 * completion of a task's prompt and its verdict.
 */
export interface Attempt {
  task: Task;
  /** Index among the n samples of this task (of its kind). */
  sample: number;
  /** Sampled from the prompt (default), or a revision of a failed attempt. */
  kind?: TrajectoryKind;
  /** The policy version that wrote it. */
  policyVersion?: string;
  completion: string;
  tokens: number[];
  logprobs: number[];
  finishReason: 'stop' | 'length';
  verification: Verification;
}
