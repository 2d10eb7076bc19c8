import type { GenerateOptions, Task, TaskFamily } from '../spec/task.js';
import { matchVerifier, numericVerifier } from '../verifiers/match.js';
import { checkGenerateOptions, familyRng, randomDigits } from './random.js';

/**
 * How an addition is written out:
 * - `plain`: `47+85=` → `132;`
 * - `reversed`: the sum's digits least-significant first, `47+85=` → `231;`
 *   (the order in which carries are produced; small transformers learn it more easily)
 * - `scratchpad`: column by column from the right with carries, then the sum:
 *   `47+85=` → `7+5+0=12,4+8+1=13>132;`
 */
export type AdditionFormat = 'plain' | 'reversed' | 'scratchpad';

/** Multi-digit addition; difficulty = digits per operand (1–12). */
export function additionFamily(options: { format?: AdditionFormat; revealAnswer?: boolean } = {}): TaskFamily {
  const format = options.format ?? 'plain';
  const difficulty = { min: 1, max: 12 };
  const end = { answerEnd: [';', '\n'], revealAnswer: options.revealAnswer ?? false };
  const verifier =
    format === 'reversed'
      ? { ...matchVerifier({ ...end, unit: 'digit' }), name: 'addition-reversed' }
      : format === 'scratchpad'
        ? { ...numericVerifier({ ...end, answerMarker: '>' }), name: 'addition-scratchpad' }
        : numericVerifier(end);
  return {
    name: `addition-${format}`,
    difficulty,
    verifier,
    generate(generate: GenerateOptions): Task[] {
      checkGenerateOptions('addition', difficulty, generate);
      const rng = familyRng(`addition-${format}`, generate);
      return Array.from({ length: generate.count }, (_, i) => {
        const a = randomDigits(rng, generate.difficulty);
        const b = randomDigits(rng, generate.difficulty);
        const sum = String(a + b);
        const answer = format === 'reversed' ? [...sum].reverse().join('') : sum;
        const solution = format === 'scratchpad' ? `${scratchpad(a, b)}>${sum};` : `${answer};`;
        return {
          id: `${generate.split ?? 'task'}-addition-${format}-d${generate.difficulty}-${generate.seed}-${i}`,
          family: `addition-${format}`,
          prompt: `${a}+${b}=`,
          answer,
          solution,
          difficulty: generate.difficulty,
          meta: { a, b, sum: a + b },
        };
      });
    },
  };
}

/** Column-by-column working from the right: `7+5+0=12,4+8+1=13`. */
export function scratchpad(a: number, b: number): string {
  const x = [...String(a)].reverse().map(Number);
  const y = [...String(b)].reverse().map(Number);
  const steps: string[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const total = (x[i] ?? 0) + (y[i] ?? 0) + carry;
    steps.push(`${x[i] ?? 0}+${y[i] ?? 0}+${carry}=${total}`);
    carry = total >= 10 ? 1 : 0;
  }
  return steps.join(',');
}
