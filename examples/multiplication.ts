/**
 * A user-written task family (the public task API): multiply a number by one
 * digit. Difficulty = digits of the first factor. A recipe names it by module
 * path — the compiled file, since Node runs JavaScript:
 *
 *   tasks:
 *     family: ../dist/examples/multiplication.js   # relative to the recipe
 *     options: { revealAnswer: false }
 */
import type { GenerateOptions, Task, TaskFamily } from 'autodidact';
import { numericVerifier } from 'autodidact';

export default function multiplicationFamily(options: { revealAnswer?: boolean } = {}): TaskFamily {
  const difficulty = { min: 1, max: 8 };
  return {
    name: 'multiplication',
    difficulty,
    // The final answer runs to ';'; feedback locates wrong digits without revealing the product.
    verifier: numericVerifier({ answerEnd: [';', '\n'], revealAnswer: options.revealAnswer ?? false }),
    generate({ count, difficulty: digits, seed, split }: GenerateOptions): Task[] {
      if (digits < difficulty.min || digits > difficulty.max) throw new RangeError(`multiplication: difficulty ${digits} is outside ${difficulty.min}–${difficulty.max}`);
      // A small seeded generator (mulberry32): the same options give the same tasks.
      let state = (seed * 1_000_003 + digits) >>> 0;
      const random = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      return Array.from({ length: count }, (_, i) => {
        const a = Math.floor(10 ** (digits - 1) + random() * 9 * 10 ** (digits - 1));
        const b = 2 + Math.floor(random() * 8);
        return {
          id: `${split ?? 'task'}-mul-d${digits}-${seed}-${i}`,
          family: 'multiplication',
          prompt: `${a}*${b}=`,
          answer: String(a * b),
          solution: `${a * b};`,
          difficulty: digits,
        };
      });
    },
  };
}
