/**
 * The single-turn environment: the observation is the task's prompt and the
 * one action is scored by a verifier. Every single-turn task runs as one.
 *
 * Steps taken together are scored together: a rollout steps every live
 * episode at once, and the steps issued in one tick are handed to the
 * verifier as groups (the episodes of one task), so a verifier that needs a
 * task's whole group (majority vote) or batches one model call over many
 * completions (an LLM judge) sees them as `scoreGroups` would give them.
 */
import type { Environment, EnvironmentStep } from '../spec/environment.js';
import type { Task } from '../spec/task.js';
import type { Verification, Verifier } from '../spec/verifier.js';
import { InvalidArgumentError } from '../errors.js';
import { scoreGroups } from '../verifiers/groups.js';

/** What a verdict means as an environment step: the reward and pass of a scored one; no reward (null), with the reason as feedback, otherwise. */
export function stepOfVerdict(verdict: Verification): EnvironmentStep {
  if (verdict.status === 'scored') return { observation: '', reward: verdict.reward, done: true, feedback: verdict.feedback, pass: verdict.pass, rewardParts: verdict.rewardParts, verification: verdict };
  return { observation: '', reward: null, done: true, feedback: verdict.status === 'error' ? `verifier error: ${verdict.error}` : `not applicable: ${verdict.reason}`, verification: verdict };
}

interface Pending {
  task: Task;
  action: string;
  resolve(step: EnvironmentStep): void;
  reject(error: unknown): void;
}

/** A one-step environment around a verifier. */
export function singleTurnEnvironment(verifier: Verifier): Environment {
  let pending: Pending[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    // Groups: the actions of one task, in the order they were taken.
    const byTask = new Map<Task, Pending[]>();
    for (const p of batch) (byTask.get(p.task) ?? byTask.set(p.task, []).get(p.task)!).push(p);
    const groups = [...byTask.values()];
    try {
      const verdicts = await scoreGroups(verifier, groups.map((group) => ({ task: group[0].task, completions: group.map((p) => p.action) })));
      groups.forEach((group, g) => group.forEach((p, j) => p.resolve(stepOfVerdict(verdicts[g][j]))));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  };
  return {
    name: `single-turn(${verifier.name})`,
    version: verifier.version,
    maxTurns: 1,
    async reset(task: Task) {
      let stepped = false;
      return {
        observation: task.prompt,
        step(action: string) {
          if (stepped) return Promise.reject(new InvalidArgumentError('action', `the single-turn episode of task "${task.id}" has ended; start another with reset()`));
          stepped = true;
          return new Promise<EnvironmentStep>((resolve, reject) => {
            if (pending.length === 0) setImmediate(() => void flush());
            pending.push({ task, action, resolve, reject });
          });
        },
      };
    },
  };
}
