/**
 * The built-in controllers by name, each built from options validated against
 * its zod schema (unknown keys and bad values are InvalidConfigErrors naming
 * the field and the fix; an unknown name lists the valid ones):
 *
 *   fixed         the same draws every round                           fixed.ts
 *   easy-to-hard  frontier up once mastered, review below it           easy-to-hard.ts
 *   sec           Self-Evolving Curriculum bandit over categories      sec.ts
 *   learnability  task weights p(1 − p) of recent solve rates          learnability.ts
 *   b-star        temperature and threshold by B-STaR's balance score  b-star.ts
 *
 * Run them in order with `planRound` (compose.ts).
 */
import { Registry } from '../registry.js';
import type { Controller } from '../spec/controller.js';
import { bStarController, type BStarOptions } from './b-star.js';
import { easyToHardController, type EasyToHardOptions } from './easy-to-hard.js';
import { fixedController, type FixedOptions } from './fixed.js';
import { learnabilityController, type LearnabilityOptions } from './learnability.js';
import { secController, type SecOptions } from './sec.js';

/** A registered controller: what it does, and how to build one from unvalidated options (errors name `field`). */
export interface ControllerEntry {
  description: string;
  create(options: unknown, field: string): Controller;
}

export const controllers = new Registry<ControllerEntry>('controller', 'controller.kind');

controllers.register('fixed', { description: 'The same draws every round: one difficulty, or a task count per category.', create: (options, field) => fixedController(options as FixedOptions, field) });
controllers.register('easy-to-hard', {
  description: 'Moves the frontier difficulty up once a round at it is mastered; reviews easier difficulties.',
  create: (options, field) => easyToHardController(options as EasyToHardOptions, field),
});
controllers.register('sec', {
  description: 'Self-Evolving Curriculum: a bandit over categories rewarded by mean |advantage| (Chen et al. 2025).',
  create: (options, field) => secController(options as SecOptions, field),
});
controllers.register('learnability', {
  description: 'Weights tasks by p(1 − p) of their recent solve rate (Foster et al. 2025).',
  create: (options, field) => learnabilityController(options as LearnabilityOptions, field),
});
controllers.register('b-star', {
  description: 'Chooses temperature and accept threshold by the balance score on probe samples (Zeng et al. 2024).',
  create: (options, field) => bStarController(options as BStarOptions, field),
});

/**
 * The controller `name` built from `options`. `field` is the config field
 * that holds the options (`controllers.0`); an unknown name is an error on
 * `<field>.kind` listing the valid names.
 */
export function buildController(name: string, options: unknown = {}, field = 'controller'): Controller {
  return controllers.get(name, `${field}.kind`).create(options, field);
}

export { planRound, type PlanRoundInput, type PlanRoundOutput } from './compose.js';
export { balanceScore, bStarController, BStarOptionsSchema, type BStarOptions, type BStarState } from './b-star.js';
export { easyToHardController, EasyToHardOptionsSchema, type EasyToHardOptions, type EasyToHardState } from './easy-to-hard.js';
export { fixedController, FixedOptionsSchema, type FixedOptions } from './fixed.js';
export { learnabilityController, LearnabilityOptionsSchema, recentSolveRates, type LearnabilityOptions, type LearnabilityState } from './learnability.js';
export { armRewards, boltzmann, learningGain, secController, SecOptionsSchema, type SecOptions, type SecState } from './sec.js';
