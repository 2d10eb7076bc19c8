/**
 * `learnability`: sample the tasks the policy sometimes solves. A task solved
 * with probability p teaches most when p(1 − p) is large — never-solved and
 * always-solved tasks give a policy gradient no signal — so each task is
 * weighted by p(1 − p) of its recent solve rate: Foster et al. 2025, "Learning
 * to Reason at the Frontier of Learnability" (https://arxiv.org/abs/2502.12272),
 * after Sampling For Learnability
 * (Rutherford et al. 2024, https://arxiv.org/abs/2408.15099) and Prioritized
 * Level Replay (Jiang et al. 2021, https://arxiv.org/abs/2010.03934) in RL
 * environments. (DESIGN.md's 4p(1 − p) is the same weight scaled to a maximum
 * of 1; weights are relative, so only `prior` and `floor` would change.)
 *
 *   p_x = Σ passes / Σ attempts over task x's last K rounds that tried it
 *   w_x = max(p_x(1 − p_x), floor)            (tried tasks, in `taskWeights`)
 *   w   = max(prior, floor)                   (untried tasks, `defaultTaskWeight`)
 *
 * The prior defaults to ¼, the largest p(1 − p) (p = ½): an untried task is
 * as promising as the best tried one, so new tasks get tried. The floor keeps
 * every task drawable, so a task solved in every round so far is retried
 * now and then and its rate can change.
 *
 * The papers keep the top-ranked tasks of a freshly sampled buffer; here the
 * rates come from earlier rounds and every task keeps a weight, since the loop
 * draws the round's tasks once, before any attempt.
 */
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import type { Controller, ControllerInput, ControllerOutput, RoundHistory } from '../spec/controller.js';
import { changePlan, mean } from './plan.js';

const MAX_LEARNABILITY = 0.25;

export const LearnabilityOptionsSchema = z
  .object({
    /** K: a task's solve rate is over the last K rounds that tried it. */
    window: z.number().int().positive().default(3),
    /** Weight of a task never tried, on the p(1 − p) scale (¼ at most). */
    prior: z.number().min(0).max(MAX_LEARNABILITY).default(MAX_LEARNABILITY),
    /** Least weight of any task, so none starves (> 0, ¼ at most). */
    floor: z.number().gt(0).max(MAX_LEARNABILITY).default(0.01),
  })
  .strict();

export type LearnabilityOptions = z.input<typeof LearnabilityOptionsSchema>;

/** Its state: the number of tasks it weighted (for reading; the history decides the weights). */
export interface LearnabilityState {
  tasksTried: number;
}

/**
 * p(1 − p) weights of the tasks the history tried. Sets `taskWeights` and
 * `defaultTaskWeight`; metrics `curriculum/learnability_mean` (mean p(1 − p)
 * of the tried tasks, before the floor), `curriculum/learnable_share` (share
 * of them with 0 < p < 1) and `curriculum/tasks_tried`.
 */
export function learnabilityController(input: LearnabilityOptions = {}, field = 'controller'): Controller<LearnabilityState> {
  const options = parseConfig(LearnabilityOptionsSchema, input, field);
  return {
    name: 'learnability',
    plan({ history, plan }: ControllerInput<LearnabilityState>): ControllerOutput<LearnabilityState> {
      const rates = recentSolveRates(history, options.window);
      const taskWeights: Record<string, number> = {};
      const scores: number[] = [];
      for (const [taskId, rate] of rates) {
        const score = rate * (1 - rate);
        scores.push(score);
        taskWeights[taskId] = Math.max(score, options.floor);
      }
      const metrics: Record<string, number> = { 'curriculum/tasks_tried': rates.size };
      if (rates.size > 0) {
        metrics['curriculum/learnability_mean'] = mean(scores) as number;
        metrics['curriculum/learnable_share'] = [...rates.values()].filter((rate) => rate > 0 && rate < 1).length / rates.size;
      }
      const changed = changePlan(plan, 'learnability', { taskWeights, defaultTaskWeight: Math.max(options.prior, options.floor) });
      return { plan: changed, state: { tasksTried: rates.size }, metrics };
    },
  };
}

/** Each tried task's solve rate over the last `window` rounds that tried it (rounds where it had attempts), in order of first appearance. */
export function recentSolveRates(history: readonly RoundHistory[], window: number): Map<string, number> {
  // Per task, the (attempts, passes) of each round that tried it, oldest first.
  const byTask = new Map<string, { round: number; attempts: number; passes: number }[]>();
  for (const round of history) {
    for (const task of round.tasks) {
      if (task.attempts <= 0) continue;
      const rounds = byTask.get(task.taskId) ?? [];
      const last = rounds[rounds.length - 1];
      if (last && last.round === round.round) {
        last.attempts += task.attempts;
        last.passes += task.passes;
      } else rounds.push({ round: round.round, attempts: task.attempts, passes: task.passes });
      byTask.set(task.taskId, rounds);
    }
  }
  const rates = new Map<string, number>();
  for (const [taskId, rounds] of byTask) {
    const recent = rounds.slice(-window);
    const attempts = recent.reduce((sum, r) => sum + r.attempts, 0);
    const passes = recent.reduce((sum, r) => sum + r.passes, 0);
    rates.set(taskId, passes / attempts);
  }
  return rates;
}
