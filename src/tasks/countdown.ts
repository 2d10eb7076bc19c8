import type { Task } from '../spec/task.js';
import type { GenerateOptions, TaskFamily } from '../spec/task-source.js';
import type { SyncVerifier, Verification } from '../spec/verifier.js';
import { extractAnswer } from '../verifiers/match.js';
import { checkGenerateOptions, familyRng, randomInt } from './random.js';

/**
 * Countdown: combine the given numbers with + − × ÷ and parentheses to reach the
 * target, each number used at most once (as in the TV game and TinyZero).
 * Difficulty = how many numbers are given (2–6). Prompt `3 7 25 -> 46:`,
 * solution `25+3*7;`. Arithmetic is exact (rationals), so 7/2*2 = 7.
 */
export function countdownFamily(options: { revealAnswer?: boolean } = {}): TaskFamily {
  const difficulty = { min: 2, max: 6 };
  return {
    name: 'countdown',
    difficulty,
    verifier: countdownVerifier(options),
    generate(generate: GenerateOptions): Task[] {
      checkGenerateOptions('countdown', difficulty, generate);
      const rng = familyRng('countdown', generate);
      const largest = generate.difficulty <= 3 ? 20 : 50;
      return Array.from({ length: generate.count }, (_, i) => {
        for (;;) {
          const numbers = Array.from({ length: generate.difficulty }, () => randomInt(rng, 1, largest));
          const built = buildExpression(numbers, () => rng.next());
          if (!built || built.value.d !== 1 || built.value.n < 1 || built.value.n > 999) continue;
          const target = built.value.n;
          return {
            id: `${generate.split ?? 'task'}-countdown-d${generate.difficulty}-${generate.seed}-${i}`,
            family: 'countdown',
            prompt: `${numbers.join(' ')} -> ${target}:`,
            answer: String(target),
            solution: `${built.text};`,
            difficulty: generate.difficulty,
            meta: { numbers, target },
          };
        }
      });
    },
  };
}

/** Checks that a completion's expression uses only the task's numbers, each at most once, and equals the target. */
export function countdownVerifier(options: { revealAnswer?: boolean } = {}): SyncVerifier {
  return {
    name: 'countdown',
    version: '1',
    verify(task: Task, completion: string): Verification {
      const meta = task.meta as { numbers?: unknown; target?: unknown } | undefined;
      const numbers = meta?.numbers;
      const target = meta?.target ?? (task.answer !== undefined ? Number(task.answer) : undefined);
      if (!Array.isArray(numbers) || !numbers.every(Number.isInteger) || !Number.isInteger(target)) {
        return { status: 'error', error: `task ${task.id} lacks meta.numbers (integers) and an integer target` };
      }
      const extracted = extractAnswer(completion, { answerEnd: [';', '\n'] }) ?? '';
      if (extracted === '') return { status: 'scored', reward: 0, pass: false, feedback: 'the completion is empty', extracted };
      const parsed = parseExpression(extracted);
      if ('error' in parsed) return { status: 'scored', reward: 0, pass: false, feedback: `could not read the expression: ${parsed.error}`, extracted };
      const available = new Map<number, number>();
      for (const n of numbers as number[]) available.set(n, (available.get(n) ?? 0) + 1);
      for (const n of parsed.numbers) {
        const left = available.get(n) ?? 0;
        if (left === 0) {
          const feedback = (numbers as number[]).includes(n) ? `${n} is used more often than it is given` : `${n} is not among the numbers`;
          return { status: 'scored', reward: 0, pass: false, feedback, extracted };
        }
        available.set(n, left - 1);
      }
      if (parsed.value === null) return { status: 'scored', reward: 0, pass: false, feedback: 'the expression divides by zero', extracted };
      const { n, d } = parsed.value;
      if (d === 1 && n === target) return { status: 'scored', reward: 1, pass: true, feedback: 'correct', extracted };
      const shown = d === 1 ? String(n) : `${n}/${d}`;
      const feedback = `the expression equals ${shown}, not ${target}`;
      return { status: 'scored', reward: 0, pass: false, feedback: options.revealAnswer ? `${feedback} (one solution: ${task.solution ?? 'unknown'})` : feedback, extracted };
    },
  };
}

/** An exact rational n/d, d > 0, in lowest terms. */
interface Rational {
  n: number;
  d: number;
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a || 1;
}

function rational(n: number, d: number): Rational | null {
  if (d === 0) return null;
  const g = gcd(n, d) * Math.sign(d);
  return { n: n / g, d: d / g };
}

function apply(op: string, a: Rational | null, b: Rational | null): Rational | null {
  if (!a || !b) return null;
  if (op === '+') return rational(a.n * b.d + b.n * a.d, a.d * b.d);
  if (op === '-') return rational(a.n * b.d - b.n * a.d, a.d * b.d);
  if (op === '*') return rational(a.n * b.n, a.d * b.d);
  return rational(a.n * b.d, a.d * b.n);
}

/**
 * Parses and evaluates `+ - * /` (also × ÷), parentheses and non-negative
 * integers, with the usual precedence. Returns the numbers it used and the
 * value (null on division by zero), or an error message. Never evaluates code.
 */
export function parseExpression(text: string): { value: Rational | null; numbers: number[] } | { error: string } {
  const source = text.replace(/×/g, '*').replace(/÷/g, '/').replace(/\s+/g, '');
  if (source.length > 200) return { error: 'it is longer than 200 characters' };
  let at = 0;
  const numbers: number[] = [];
  const fail = (message: string): never => {
    throw new SyntaxError(message);
  };
  const primary = (): Rational | null => {
    if (source[at] === '(') {
      at++;
      const value = sum();
      if (source[at] !== ')') fail(`expected ")" at position ${at + 1}`);
      at++;
      return value;
    }
    const match = /^\d+/.exec(source.slice(at));
    if (!match) fail(at >= source.length ? 'it ends too early' : `unexpected "${source[at]}" at position ${at + 1}`);
    at += match![0].length;
    const n = Number(match![0]);
    numbers.push(n);
    return { n, d: 1 };
  };
  // One precedence level: operands joined left to right by any of `ops`.
  const level = (operand: () => Rational | null, ops: string) => (): Rational | null => {
    let value = operand();
    while (at < source.length && ops.includes(source[at])) {
      const op = source[at++];
      value = apply(op, value, operand());
    }
    return value;
  };
  const product = level(primary, '*/');
  const sum = level(product, '+-');
  try {
    const value = sum();
    if (at !== source.length) fail(`unexpected "${source[at]}" at position ${at + 1}`);
    return { value, numbers };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Combines all numbers with random operations into one expression; null when a step is invalid. */
function buildExpression(numbers: number[], random: () => number): { text: string; value: Rational } | null {
  const pool = numbers.map((n) => ({ text: String(n), value: { n, d: 1 } as Rational, atom: true }));
  while (pool.length > 1) {
    const a = pool.splice(Math.floor(random() * pool.length), 1)[0];
    const b = pool.splice(Math.floor(random() * pool.length), 1)[0];
    const ops = ['+', '-', '*', '/'].sort(() => random() - 0.5);
    let combined: (typeof pool)[number] | null = null;
    for (const op of ops) {
      const value = apply(op, a.value, b.value);
      if (!value || value.n <= 0 || value.d !== 1) continue; // keep intermediate results positive integers
      const wrap = (x: (typeof pool)[number]) => (x.atom ? x.text : `(${x.text})`);
      combined = { text: `${wrap(a)}${op}${wrap(b)}`, value, atom: false };
      break;
    }
    if (!combined) return null;
    pool.push(combined);
  }
  return { text: pool[0].text, value: pool[0].value };
}
