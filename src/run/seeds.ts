/**
 * Seeds of the loop's random choices, derived from the recipe seed and a
 * label (`seedFor(seed, 'sample', round, chunk)`), so every choice is
 * reproducible on its own: a resumed run redraws exactly what it lost.
 */
export function seedFor(seed: number, ...parts: (string | number)[]): number {
  // FNV-1a over the parts' text, folded to a non-negative 31-bit integer.
  let hash = 0x811c9dc5 ^ (seed | 0);
  for (const char of parts.join('/')) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) & 0x7fffffff;
}
