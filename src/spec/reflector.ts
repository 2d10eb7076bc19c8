import type { Completion } from './policy.js';
import type { Task } from './task.js';

/** A failed attempt and what the environment said about it. */
export interface ReflectionInput {
  task: Task;
  /** The completion that failed. */
  attempt: string;
  /** The verifier's or environment's feedback on it. */
  feedback: string;
}

/** The revisions of one failed attempt, and the prompt the reflector read (kept for provenance). */
export interface Reflection {
  prompt: string;
  revisions: Completion[];
}

/**
 * Rewrites failed attempts using feedback (Re-ReST, https://arxiv.org/abs/2406.01495).
 * A revision is a new completion of the original task's prompt; the loop
 * re-verifies it, and passing revisions train the policy on the original prompt.
 */
export interface Reflector {
  readonly name: string;
  /** result[i] holds the reflection on inputs[i]: `n` revisions. */
  reflect(inputs: readonly ReflectionInput[], options: { n: number; seed: number }): Promise<Reflection[]>;
}
