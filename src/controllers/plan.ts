/**
 * What the built-in controllers share: the round's task count as the plan so
 * far has it, draws named by category, and changing a plan without touching
 * the one a controller was given (so the previous plan stays as it was).
 */
import { InvalidArgumentError } from '../errors.js';
import type { RoundPlan, TaskDraw } from '../spec/controller.js';

/**
 * The round's task count: the sum of the plan so far's draws (the recipe's
 * defaults are one draw of `tasks.perRound`). A curriculum controller divides
 * it among its own draws; a round of no tasks is an error naming the fix.
 */
export function roundTaskCount(plan: RoundPlan, controller: string): number {
  const total = plan.draws.reduce((sum, draw) => sum + draw.count, 0);
  if (!(total > 0)) {
    throw new InvalidArgumentError('plan.draws', `${controller} divides the round's tasks among its draws, but the plan so far draws ${total} tasks; start the plan with one draw of the round's task count (tasks.perRound)`);
  }
  return total;
}

const DIFFICULTY_CATEGORY = /^d(-?\d+)$/;

/** The category of a difficulty: `d3`. */
export function difficultyCategory(difficulty: number): string {
  return `d${difficulty}`;
}

/** A draw of `count` tasks of `category`; a category written `d3` draws by difficulty 3. */
export function drawFor(category: string, count: number): TaskDraw {
  const match = DIFFICULTY_CATEGORY.exec(category);
  return match ? { difficulty: Number(match[1]), category, count } : { category, count };
}

/**
 * A copy of `plan` with `changes` applied, each changed field recorded in
 * `setBy` as set by `controller`. A field changed to undefined is removed (a
 * curriculum without a frontier clears the one the plan had). Nested fields are
 * named with dots: `sampling.temperature`.
 */
export function changePlan(plan: RoundPlan, controller: string, changes: PlanChanges): RoundPlan {
  const next: RoundPlan = { ...plan, draws: plan.draws.map((draw) => ({ ...draw })), sampling: { ...plan.sampling }, setBy: { ...plan.setBy } };
  if (plan.taskWeights) next.taskWeights = { ...plan.taskWeights };
  for (const [field, value] of Object.entries(changes) as [keyof PlanChanges, unknown][]) {
    if (field === 'sampling') {
      for (const [key, setting] of Object.entries(value as Partial<RoundPlan['sampling']>)) {
        (next.sampling as Record<string, number>)[key] = setting as number;
        next.setBy[`sampling.${key}`] = controller;
      }
      continue;
    }
    if (value === undefined) delete (next as unknown as Record<string, unknown>)[field];
    else (next as unknown as Record<string, unknown>)[field] = value;
    next.setBy[field] = controller;
  }
  return next;
}

/** The fields a controller may change: every plan field but `round` and `setBy`, sampling settings one by one. */
export type PlanChanges = Partial<Omit<RoundPlan, 'round' | 'setBy' | 'sampling'>> & { sampling?: Partial<RoundPlan['sampling']> };

/** Mean of `values`, or undefined for none. */
export function mean(values: readonly number[]): number | undefined {
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : undefined;
}
