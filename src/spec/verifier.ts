import type { Task } from './task.js';

/**
 * The outcome of verifying one completion. A verifier never returns a silent 0:
 * it scores, or it says why it could not (`error`) or should not
 * (`not-applicable`, e.g. a task without a label).
 */
export type Verification =
  | {
      status: 'scored';
      /** Reward in [0, 1] (1 = correct). */
      reward: number;
      /** Whether the answer counts as correct. */
      pass: boolean;
      /** What an environment would tell the solver ("digit 3 is wrong"); a reflector reads it. */
      feedback: string;
      /** The final answer extracted from the completion, when one was found. */
      extracted?: string;
      /** Components of a multi-part reward (e.g. format, correctness), each in [0, 1]; BNPO's advantage decomposition normalizes each on its own. */
      rewardParts?: number[];
    }
  | { status: 'error'; error: string }
  | { status: 'not-applicable'; reason: string };

/** The completions sampled for one task together (the n samples of a prompt). */
export interface VerificationGroup {
  task: Task;
  completions: readonly string[];
}

/** Scores completions of tasks. Name and version go into the provenance of every score. */
export interface Verifier {
  readonly name: string;
  readonly version: string;
  verify(task: Task, completion: string): Verification | Promise<Verification>;
  /**
   * Optional: scores many groups at once; result[i][j] is the verdict on
   * groups[i].completions[j]. Verifiers that need a task's whole group (majority
   * vote) or that batch one model call over many completions (an LLM judge)
   * implement it. The loop calls it when present and `verify` per completion
   * otherwise (`scoreGroups` in src/verifiers/groups.ts).
   */
  verifyGroups?(groups: readonly VerificationGroup[]): Promise<Verification[][]>;
}

/** A verifier that answers synchronously (string matching, numeric checks). */
export interface SyncVerifier extends Verifier {
  verify(task: Task, completion: string): Verification;
}
