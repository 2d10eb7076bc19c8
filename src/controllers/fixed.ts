/**
 * `fixed`: every round draws the same tasks, whatever happened before — either
 * the whole round at one difficulty (today's fixed curriculum) or set counts
 * of named categories.
 */
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { InvalidConfigError } from '../errors.js';
import type { Controller, ControllerInput, ControllerOutput } from '../spec/controller.js';
import { changePlan, difficultyCategory, drawFor, roundTaskCount } from './plan.js';

export const FixedOptionsSchema = z
  .object({
    /** Every task of every round at this difficulty (the round's whole task count, as the plan so far has it). */
    difficulty: z.number().int().optional(),
    /** Or: this many tasks of each category every round, e.g. `{ d1: 4, d2: 12 }` or `{ algebra: 8, geometry: 8 }`; a category written `d3` draws by difficulty 3. */
    categories: z.record(z.string().min(1), z.number().int().positive()).optional(),
  })
  .strict();

export type FixedOptions = z.input<typeof FixedOptionsSchema>;

/** The same draws every round. Sets `draws` and `frontier` (the difficulty; none for categories). */
export function fixedController(options: FixedOptions, field = 'controller'): Controller<null> {
  const { difficulty, categories } = parseConfig(FixedOptionsSchema, options, field);
  if ((difficulty === undefined) === (categories === undefined)) {
    throw new InvalidConfigError(field, 'set exactly one of `difficulty` (the whole round at one difficulty) or `categories` (a task count per category)');
  }
  if (categories !== undefined && Object.keys(categories).length === 0) throw new InvalidConfigError(`${field}.categories`, 'names no category; give at least one, e.g. `{ d1: 8 }`');
  return {
    name: 'fixed',
    plan(input: ControllerInput<null>): ControllerOutput<null> {
      if (difficulty !== undefined) {
        const draws = [drawFor(difficultyCategory(difficulty), roundTaskCount(input.plan, 'fixed'))];
        return { plan: changePlan(input.plan, 'fixed', { draws, frontier: difficulty }), state: null, metrics: {} };
      }
      const draws = Object.entries(categories ?? {}).map(([category, count]) => drawFor(category, count));
      return { plan: changePlan(input.plan, 'fixed', { draws, frontier: undefined }), state: null, metrics: {} };
    },
  };
}
