import type { Task } from './task.js';
import type { Verification } from './verifier.js';

/** What the environment says after an action. */
export interface EnvironmentStep {
  /** Text shown to the agent next (empty when done); the policy continues the whole episode so far plus this. */
  observation: string;
  /** Reward of this step, when the environment gives one (null: not applicable, never a silent 0). */
  reward: number | null;
  /** Whether the episode ended. */
  done: boolean;
  /** What went right or wrong, for a reflector. */
  feedback: string;
  /** Whether the episode counts as solved, once done. */
  pass?: boolean;
  /** Components of a multi-part reward, each in [0, 1] (BNPO normalizes each on its own). */
  rewardParts?: number[];
  /** The verifier's verdict behind this step's reward, when a verifier gave it (kept with the trajectory as provenance). */
  verification?: Verification;
}

/** One running episode of an environment. Episodes are independent: a rollout runs many at once. */
export interface Episode {
  /** The first observation (usually the task's prompt). */
  readonly observation: string;
  /** Applies the agent's action (its completion of everything so far) and returns what follows. */
  step(action: string): Promise<EnvironmentStep>;
}

/**
 * A multi-turn environment: `reset(task)` starts an episode whose `step(action)`
 * returns the next observation with reward and feedback, until `done`. Every
 * task runs as one: a single-turn task is a one-step environment around its
 * verifier (src/environments/single-turn.ts); a second attempt (SCoRe), tools,
 * games and opponents are environments too.
 */
export interface Environment {
  readonly name: string;
  /** The version of what scores (a verifier's), recorded with every trajectory. */
  readonly version: string;
  /** Most actions an episode takes (the rollout stops an episode there, with done). */
  readonly maxTurns: number;
  /** Starts an episode of a task. */
  reset(task: Task): Promise<Episode>;
}
