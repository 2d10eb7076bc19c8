import type { Attempt } from './trajectory.js';

/** What a round produced, as monitors see it. */
export interface RoundRecord {
  round: number;
  /** Attempts grouped per task (the policy's own samples). */
  groups: readonly Attempt[][];
  /** Revised attempts (reflection, rationalization). */
  refinements: readonly Attempt[];
  /** The attempts that joined the training set. */
  accepted: readonly Attempt[];
  /** Whether an attempt is right by ground truth, when ground truth is known. */
  isCorrect?: (attempt: Attempt) => boolean;
}

/** Reads a round's records and emits flat, namespaced metrics (`explore/pass@4`, `exploit/precision`). */
export interface Monitor {
  /** What the monitor is, e.g. `bstar`. */
  readonly name: string;
  /** The round's metrics. May be a promise (a monitor that runs an asynchronous verifier); the loop awaits it in the monitor phase. */
  observe(record: RoundRecord): Record<string, number> | Promise<Record<string, number>>;
}
