/**
 * `easy-to-hard`: today's easy-to-hard curriculum (src/controllers/curricula.ts) as a
 * controller over the round history. The frontier starts at `start` and moves
 * up one, to at most `max`, after a round whose tasks at its frontier were
 * solved (at least one passing attempt) for at least `promoteAt` of them; a
 * `review` share of each round is spread over the easier difficulties from
 * `floor` up, against forgetting. For the same outcomes it plans the same
 * rounds as `easyToHardCurriculum` followed by `planCounts` (tested).
 */
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { InvalidConfigError } from '../errors.js';
import type { Controller, ControllerInput, ControllerOutput, RoundHistory } from '../spec/controller.js';
import { changePlan, difficultyCategory, drawFor, roundTaskCount } from './plan.js';

const probability = z.number().min(0).max(1);

export const EasyToHardOptionsSchema = z
  .object({
    /** Difficulty of the first round. */
    start: z.number().int(),
    /** Hardest difficulty it moves to. */
    max: z.number().int(),
    /** Move up once this share of a round's tasks at the frontier was solved. */
    promoteAt: probability.default(0.6),
    /** Share of each round's tasks drawn from the easier difficulties (review, against forgetting). */
    review: probability.default(0.25),
    /** Easiest difficulty reviewed; default `start`. */
    floor: z.number().int().optional(),
  })
  .strict();

export type EasyToHardOptions = z.input<typeof EasyToHardOptionsSchema>;

/** Its state: the frontier it planned (for reading; the history decides the next one). */
export interface EasyToHardState {
  frontier: number;
}

/** Easy to hard over difficulties. Sets `frontier` and `draws` (categories `d<difficulty>`). */
export function easyToHardController(input: EasyToHardOptions, field = 'controller'): Controller<EasyToHardState> {
  const options = parseConfig(EasyToHardOptionsSchema, input, field);
  if (options.max < options.start) throw new InvalidConfigError(`${field}.max`, `${options.max} is below ${field}.start = ${options.start}; set max ≥ start`);
  const floor = options.floor ?? options.start;
  return {
    name: 'easy-to-hard',
    plan({ history, plan }: ControllerInput<EasyToHardState>): ControllerOutput<EasyToHardState> {
      let frontier = options.start;
      let solvedShare: number | undefined;
      for (const round of history) {
        const roundFrontier = round.plan.frontier ?? frontier;
        solvedShare = solvedShareAt(round, roundFrontier);
        frontier = solvedShare !== undefined && solvedShare >= options.promoteAt ? Math.min(roundFrontier + 1, options.max) : roundFrontier;
      }
      const draws = reviewDraws(frontier, floor, options.review, roundTaskCount(plan, 'easy-to-hard'));
      const metrics: Record<string, number> = { 'curriculum/frontier': frontier };
      if (solvedShare !== undefined) metrics['curriculum/frontier_solved'] = solvedShare;
      return { plan: changePlan(plan, 'easy-to-hard', { frontier, draws }), state: { frontier }, metrics };
    },
  };
}

/** Share of a round's tasks at `difficulty` that were solved (a task without a difficulty counts as 0, as today's loop does); undefined when it had none. */
function solvedShareAt(round: RoundHistory, difficulty: number): number | undefined {
  const atDifficulty = round.tasks.filter((task) => (task.difficulty ?? 0) === difficulty);
  if (atDifficulty.length === 0) return undefined;
  return atDifficulty.filter((task) => task.solved).length / atDifficulty.length;
}

/**
 * The round's draws: each easier difficulty from `floor` gets ⌊total · review / k⌋
 * tasks (k of them), the frontier the rest; draws of no task are left out.
 * The same arithmetic as `planCounts` on today's shares.
 */
function reviewDraws(frontier: number, floor: number, review: number, total: number) {
  const easier: number[] = [];
  for (let difficulty = floor; difficulty < frontier; difficulty++) easier.push(difficulty);
  const reviewCounts = review === 0 ? [] : easier.map((difficulty) => ({ difficulty, count: Math.floor(total * (review / easier.length)) }));
  const frontierCount = Math.max(0, total - reviewCounts.reduce((sum, c) => sum + c.count, 0));
  return [{ difficulty: frontier, count: frontierCount }, ...reviewCounts].filter((c) => c.count > 0).map((c) => drawFor(difficultyCategory(c.difficulty), c.count));
}
