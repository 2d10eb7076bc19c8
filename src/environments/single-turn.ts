/**
 * The single-turn environment: the observation is the task's prompt and the
 * one action is scored by a verifier. Every single-turn task runs as one.
 */
import type { Environment, EnvironmentStep } from '../spec/environment.js';
import type { Task } from '../spec/task.js';
import type { Verification, Verifier } from '../spec/verifier.js';
import { InvalidArgumentError } from '../errors.js';

/** What a verdict means as an environment step: the reward and pass of a scored one; no reward (null), with the reason as feedback, otherwise. */
export function stepOfVerdict(verdict: Verification): EnvironmentStep {
  if (verdict.status === 'scored') return { observation: '', reward: verdict.reward, done: true, feedback: verdict.feedback, pass: verdict.pass, rewardParts: verdict.rewardParts, verification: verdict };
  return { observation: '', reward: null, done: true, feedback: verdict.status === 'error' ? `verifier error: ${verdict.error}` : `not applicable: ${verdict.reason}`, verification: verdict };
}

/** A one-step environment around a verifier. */
export function singleTurnEnvironment(verifier: Verifier): Environment {
  return {
    name: `single-turn(${verifier.name})`,
    version: verifier.version,
    maxTurns: 1,
    async reset(task: Task) {
      let stepped = false;
      return {
        observation: task.prompt,
        async step(action: string) {
          if (stepped) throw new InvalidArgumentError('action', `the single-turn episode of task "${task.id}" has ended; start another with reset()`);
          stepped = true;
          return stepOfVerdict(await verifier.verify(task, action));
        },
      };
    },
  };
}
