import type { Task } from './task.js';
import type { Verifier } from './verifier.js';

/** What the environment says after an action. */
export interface EnvironmentStep {
  /** Text shown to the agent next (empty when done). */
  observation: string;
  /** Reward of this step, when the environment gives one (null: not applicable, never a silent 0). */
  reward: number | null;
  /** Whether the episode ended. */
  done: boolean;
  /** What went right or wrong, for a reflector. */
  feedback: string;
  /** Whether the episode counts as solved, once done. */
  pass?: boolean;
}

/**
 * A multi-turn environment: `reset(task)` gives the first observation, each
 * `step(action)` the next one with reward and feedback, until `done`. A
 * single-turn task is a one-step environment (see `singleTurnEnvironment`).
 */
export interface Environment {
  readonly name: string;
  /** Starts an episode for a task; returns the first observation (usually the prompt). */
  reset(task: Task): Promise<string>;
  /** Applies the agent's action (its completion) and returns what follows. */
  step(action: string): Promise<EnvironmentStep>;
}

/** A one-step environment around a verifier: the observation is the prompt, the one step scores the answer. */
export function singleTurnEnvironment(verifier: Verifier): Environment {
  let current: Task | null = null;
  return {
    name: `single-turn(${verifier.name})`,
    async reset(task) {
      current = task;
      return task.prompt;
    },
    async step(action) {
      if (current === null) throw new Error('singleTurnEnvironment: step() before reset()');
      const task = current;
      current = null;
      const verdict = await verifier.verify(task, action);
      if (verdict.status === 'scored') return { observation: '', reward: verdict.reward, done: true, feedback: verdict.feedback, pass: verdict.pass };
      return { observation: '', reward: null, done: true, feedback: verdict.status === 'error' ? `verifier error: ${verdict.error}` : `not applicable: ${verdict.reason}` };
    },
  };
}
