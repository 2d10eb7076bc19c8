import type { Task } from '../spec/task.js';
import type { GenerateOptions, TaskFamily } from '../spec/task-source.js';
import type { SyncVerifier, Verification } from '../spec/verifier.js';
import { extractAnswer, matchVerifier, numericVerifier } from '../verifiers/match.js';
import { checkGenerateOptions, familyRng, randomDigits, randomInt } from './random.js';

/**
 * How an addition is written out:
 * - `plain`: `47+85=` → `132;`
 * - `reversed`: the sum's digits least-significant first, `47+85=` → `231;`
 *   (the order in which carries are produced; small transformers learn it more easily)
 * - `scratchpad`: column by column from the right with carries, then the sum:
 *   `47+85=` → `7+5+0=12,4+8+1=13>132;`
 * - `indexed`: every digit carries an index letter (index hints), starting at a
 *   random letter; the answer is written column by column from the right as
 *   letter, sum digit, carry: `b4a7+b8a5=` → `a21b31c10;` (= 132). Each column
 *   needs only the digits with its letter and the previous carry, whatever the
 *   length, which is what lets a model trained on short sums attempt longer ones.
 */
export type AdditionFormat = 'plain' | 'reversed' | 'scratchpad' | 'indexed';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/**
 * Multi-digit addition; difficulty = digits per operand (1–12). With `padTo`,
 * operands (and the sum, one digit wider) are written with leading zeros to a
 * fixed width, so every problem has the same shape whatever its difficulty
 * (plain and scratchpad formats).
 */
export function additionFamily(options: { format?: AdditionFormat; revealAnswer?: boolean; padTo?: number } = {}): TaskFamily {
  const format = options.format ?? 'plain';
  const padTo = options.padTo ?? 0;
  if (padTo && format !== 'plain' && format !== 'scratchpad') throw new RangeError(`addition: padTo works with the plain and scratchpad formats, not ${format}`);
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const difficulty = { min: 1, max: padTo || (format === 'indexed' ? LETTERS.length - 1 : 12) };
  const end = { answerEnd: [';', '\n'], revealAnswer: options.revealAnswer ?? false };
  const verifier =
    format === 'indexed'
      ? indexedVerifier(end)
      : format === 'reversed'
      ? { ...matchVerifier({ ...end, unit: 'digit' }), name: 'addition-reversed' }
      : format === 'scratchpad'
        ? { ...numericVerifier({ ...end, answerMarker: '>' }), name: 'addition-scratchpad' }
        : numericVerifier(end);
  return {
    name: `addition-${format}${padTo ? `-pad${padTo}` : ''}`,
    difficulty,
    verifier,
    generate(generate: GenerateOptions): Task[] {
      checkGenerateOptions('addition', difficulty, generate);
      const rng = familyRng(`addition-${format}`, generate);
      return Array.from({ length: generate.count }, (_, i) => {
        const a = randomDigits(rng, generate.difficulty);
        const b = randomDigits(rng, generate.difficulty);
        const sum = String(a + b);
        const offset = format === 'indexed' ? randomInt(rng, 0, LETTERS.length - 1 - generate.difficulty) : 0;
        const answer = format === 'reversed' ? [...sum].reverse().join('') : padTo ? pad(a + b, padTo + 1) : sum;
        const solution =
          format === 'scratchpad' ? `${scratchpad(a, b, padTo)}>${padTo ? pad(a + b, padTo + 1) : sum};` : format === 'indexed' ? `${indexedColumns(a, b, offset)};` : `${answer};`;
        return {
          id: `${generate.split ?? 'task'}-addition-${format}-d${generate.difficulty}-${generate.seed}-${i}`,
          family: `addition-${format}`,
          prompt: format === 'indexed' ? `${indexed(a, offset)}+${indexed(b, offset)}=` : padTo ? `${pad(a, padTo)}+${pad(b, padTo)}=` : `${a}+${b}=`,
          answer,
          solution,
          difficulty: generate.difficulty,
          meta: { a, b, sum: a + b, ...(format === 'indexed' ? { offset } : {}) },
        };
      });
    },
  };
}

/** Column-by-column working from the right: `7+5+0=12,4+8+1=13` (over `width` columns when given). */
export function scratchpad(a: number, b: number, width = 0): string {
  const x = [...String(a)].reverse().map(Number);
  const y = [...String(b)].reverse().map(Number);
  const steps: string[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(x.length, y.length, width); i++) {
    const total = (x[i] ?? 0) + (y[i] ?? 0) + carry;
    steps.push(`${x[i] ?? 0}+${y[i] ?? 0}+${carry}=${total}`);
    carry = total >= 10 ? 1 : 0;
  }
  return steps.join(',');
}

/** Digits of n, most significant first, each preceded by its index letter (the units digit gets LETTERS[offset]). */
export function indexed(n: number, offset: number): string {
  const digits = String(n);
  return [...digits].map((digit, i) => `${LETTERS[offset + digits.length - 1 - i]}${digit}`).join('');
}

/** The indexed answer: per column from the right, letter + sum digit + carry; a final carry becomes one more column. */
export function indexedColumns(a: number, b: number, offset: number): string {
  const x = [...String(a)].reverse().map(Number);
  const y = [...String(b)].reverse().map(Number);
  const columns: string[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const total = (x[i] ?? 0) + (y[i] ?? 0) + carry;
    carry = total >= 10 ? 1 : 0;
    columns.push(`${LETTERS[offset + i]}${total % 10}${carry}`);
  }
  if (carry) columns.push(`${LETTERS[offset + columns.length]}10`);
  return columns.join('');
}

/** Reads an indexed answer back into the sum it states; checks the letters run on from the task's offset. */
function indexedVerifier(options: { answerEnd: string[]; revealAnswer: boolean }): SyncVerifier {
  const numeric = numericVerifier(options);
  return {
    name: 'addition-indexed',
    version: '1',
    verify(task: Task, completion: string): Verification {
      const offset = (task.meta as { offset?: unknown } | undefined)?.offset;
      if (task.answer === undefined) return { status: 'not-applicable', reason: `task ${task.id} has no answer` };
      if (!Number.isInteger(offset)) return { status: 'error', error: `task ${task.id} lacks meta.offset (the first index letter)` };
      const text = extractAnswer(completion, options) ?? '';
      const columns = text.match(/.{1,3}/g) ?? [];
      const digits: string[] = [];
      for (const [i, column] of columns.entries()) {
        const expectedLetter = LETTERS[(offset as number) + i];
        if (!/^[a-z]\d\d$/.test(column)) return { status: 'scored', reward: 0, pass: false, feedback: `column ${i + 1} ("${column}") is not letter, digit, carry`, extracted: text };
        if (column[0] !== expectedLetter) return { status: 'scored', reward: 0, pass: false, feedback: `column ${i + 1} has letter ${column[0]}, expected ${expectedLetter}`, extracted: text };
        digits.push(column[1]);
      }
      if (digits.length === 0) return { status: 'scored', reward: 0, pass: false, feedback: 'the completion is empty', extracted: text };
      const stated = digits.reverse().join('').replace(/^0+(?=\d)/, '');
      const verdict = numeric.verify(task, `${stated};`);
      return verdict.status === 'scored' ? { ...verdict, extracted: text } : verdict;
    },
  };
}
