import { Rng } from '../engine/random.js';

/** Integer in [min, max], inclusive. */
export function randomInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng.next() * (max - min + 1));
}

/** A number with exactly `digits` digits (no leading zero unless it is 0-9). */
export function randomDigits(rng: Rng, digits: number): number {
  return digits === 1 ? randomInt(rng, 0, 9) : randomInt(rng, 10 ** (digits - 1), 10 ** digits - 1);
}

/** The generator of one family's split: seeded by (seed, family name, split, difficulty). */
export function familyRng(family: string, options: { seed: number; split?: string; difficulty: number }): Rng {
  let hash = 2166136261;
  for (const char of `${family}/${options.split ?? ''}`) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return new Rng(options.seed, hash, options.difficulty);
}

/** Checks generate() options against a family's difficulty range; throws a clear error. */
export function checkGenerateOptions(family: string, range: { min: number; max: number }, options: { count: number; difficulty: number }): void {
  if (!Number.isInteger(options.count) || options.count < 0) throw new RangeError(`${family}: count must be a non-negative integer, got ${options.count}`);
  if (!Number.isInteger(options.difficulty) || options.difficulty < range.min || options.difficulty > range.max) {
    throw new RangeError(`${family}: difficulty must be an integer in [${range.min}, ${range.max}], got ${options.difficulty}`);
  }
}
