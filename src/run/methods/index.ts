/**
 * The methods a recipe can pick. A new method is a new file here plus an
 * entry below, never a branch in the loop.
 */
import type { MethodName, Recipe } from '../../recipe/schema.js';
import { recipeMethod } from '../../recipe/method.js';
import type { Method } from '../context.js';
import { policyGradient } from './policy-gradient.js';
import { preference } from './preference.js';
import { selfPlay } from './self-play.js';
import { selfTraining } from './self-training.js';

export const methods = { 'self-training': selfTraining, 'policy-gradient': policyGradient, 'self-play': selfPlay, preference } as const satisfies Record<MethodName, Method>;

/** The method a recipe runs: its `method:`, or the one its sections imply (src/recipe/method.ts). */
export function methodOf(recipe: Recipe): Method {
  return methods[recipeMethod(recipe)];
}
