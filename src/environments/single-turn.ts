/**
 * The single-turn environment: the observation is the task's prompt (or a
 * prompt built from the task: STaR's hint) and the one action is scored by a
 * verifier. Every single-turn task runs as one.
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

export interface SingleTurnOptions {
  /** What the policy reads (default: the task's prompt), e.g. STaR's rationalization prompt with the answer as a hint. */
  observation?: (task: Task) => string;
}

/** A one-step environment around a verifier. */
export function singleTurnEnvironment(verifier: Verifier, options: SingleTurnOptions = {}): Environment {
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
      const once = oneStep(task);
      return {
        observation: options.observation?.(task) ?? task.prompt,
        step(action: string) {
          return once(() => new Promise<EnvironmentStep>((resolve, reject) => {
            if (pending.length === 0) setImmediate(() => void flush());
            pending.push({ task, action, resolve, reject });
          }));
        },
      };
    },
  };
}

/**
 * A one-step environment that takes the action and scores nothing (reward
 * null, no verdict): for a phase whose verifier scores later, in batches of
 * its own (self-training's score phase batches a judge's calls over the
 * round's samples; see samplingEnvironment in src/run/refine.ts).
 */
export function unscoredEnvironment(options: SingleTurnOptions = {}): Environment {
  return {
    name: 'single-turn(unscored)',
    version: '1',
    maxTurns: 1,
    async reset(task: Task) {
      const once = oneStep(task);
      return {
        observation: options.observation?.(task) ?? task.prompt,
        step: () => once(async (): Promise<EnvironmentStep> => ({ observation: '', reward: null, done: true, feedback: '' })),
      };
    },
  };
}

/** Runs an episode's one step; a second step is refused. */
function oneStep(task: Task): (step: () => Promise<EnvironmentStep>) => Promise<EnvironmentStep> {
  let stepped = false;
  return (step) => {
    if (stepped) return Promise.reject(new InvalidArgumentError('action', `the single-turn episode of task "${task.id}" has ended; start another with reset()`));
    stepped = true;
    return step();
  };
}
