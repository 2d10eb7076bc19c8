/**
 * The methods a recipe can pick. A new method is a new file here plus an
 * entry below, never a branch in the loop.
 */
import type { Recipe } from '../../recipe/schema.js';
import type { Method } from '../context.js';
import { policyGradient } from './policy-gradient.js';
import { preference } from './preference.js';
import { selfPlay } from './self-play.js';
import { selfTraining } from './self-training.js';

export const methods = { 'self-training': selfTraining, 'policy-gradient': policyGradient, 'self-play': selfPlay, preference } as const satisfies Record<string, Method>;

export type MethodName = keyof typeof methods;

/** The method a recipe runs: self-play with a `selfplay:` section, policy gradient with `rl:`, preference optimization with `preference:` (validation allows one of the three), self-training otherwise. */
export function methodOf(recipe: Recipe): Method {
  if (recipe.selfplay) return methods['self-play'];
  if (recipe.rl) return methods['policy-gradient'];
  if (recipe.preference) return methods.preference;
  return methods['self-training'];
}
