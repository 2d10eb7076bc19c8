import type { Task } from '../spec/task.js';
import type { SyncVerifier, Verification } from '../spec/verifier.js';

/** Where the final answer sits in a completion, and what feedback may say. */
export interface MatchOptions {
  /** The answer follows the last occurrence of this marker (default: the whole completion is the answer). */
  answerMarker?: string;
  /** The answer ends at the first of these strings (default: newline). */
  answerEnd?: string[];
  /** Whether feedback may state the expected answer (off by default: feedback then only locates the error). */
  revealAnswer?: boolean;
}

/**
 * The strings that end an answer in a sampled completion: a newline, the
 * recipe's `sample.stop` strings, and any `extra` ends (e.g. a majority-vote
 * verifier's `answerEnd`). The one list acceptance by majority, the
 * majority-vote reward and the dataset exports all read answers with.
 */
export function answerEnds(stop: readonly string[], extra: readonly string[] = []): string[] {
  return ['\n', ...extra, ...stop];
}

/** The final answer in a completion, or null when the marker is missing. */
export function extractAnswer(completion: string, options: MatchOptions = {}): string | null {
  let text = completion;
  if (options.answerMarker !== undefined) {
    const at = completion.lastIndexOf(options.answerMarker);
    if (at < 0) return null;
    text = completion.slice(at + options.answerMarker.length);
  }
  let end = text.length;
  for (const stop of options.answerEnd ?? ['\n']) {
    const at = text.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end).trim();
}

/** Feedback locating the first differences between two sequences of units (digits, characters). */
function locate(actual: string, expected: string, unit: string): string {
  if (actual.length !== expected.length) return `the answer has ${actual.length} ${unit}s, expected ${expected.length}`;
  const wrong: number[] = [];
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) wrong.push(i + 1);
  if (wrong.length === 1) return `${unit} ${wrong[0]} is wrong`;
  const shown = wrong.slice(0, 5).join(', ') + (wrong.length > 5 ? ', …' : '');
  return `${unit}s ${shown} are wrong`;
}

function reveal(feedback: string, expected: string, options: MatchOptions): string {
  return options.revealAnswer ? `${feedback} (expected ${expected})` : feedback;
}

function missing(options: MatchOptions): string {
  return options.answerMarker !== undefined ? `no answer found: the completion has no "${options.answerMarker}"` : 'the completion is empty';
}

/**
 * Exact match of the extracted answer against task.answer; feedback locates the
 * wrong characters (or `unit`s, e.g. digits). With `normalize`, case,
 * surrounding and repeated whitespace do not count.
 */
export function matchVerifier(options: MatchOptions & { normalize?: boolean; unit?: string } = {}): SyncVerifier {
  const normalize = (text: string) => (options.normalize ? text.trim().replace(/\s+/g, ' ').toLowerCase() : text);
  return {
    name: options.normalize ? 'normalized-match' : 'exact-match',
    version: '1',
    verify(task: Task, completion: string): Verification {
      if (task.answer === undefined) return { status: 'not-applicable', reason: `task ${task.id} has no answer to match` };
      const extracted = extractAnswer(completion, options);
      if (extracted === null || extracted === '') return { status: 'scored', reward: 0, pass: false, feedback: missing(options), extracted: extracted ?? undefined };
      const actual = normalize(extracted);
      const expected = normalize(task.answer);
      if (actual === expected) return { status: 'scored', reward: 1, pass: true, feedback: 'correct', extracted };
      return { status: 'scored', reward: 0, pass: false, feedback: reveal(locate(actual, expected, options.unit ?? 'character'), task.answer, options), extracted };
    },
  };
}

/** A number written as an integer, a decimal or a fraction `a/b`; null when it is none of these. */
export function parseNumber(text: string): number | null {
  const cleaned = text.trim().replace(/,/g, '');
  const fraction = /^([+-]?\d+)\s*\/\s*(\d+)$/.exec(cleaned);
  if (fraction) return Number(fraction[2]) === 0 ? null : Number(fraction[1]) / Number(fraction[2]);
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cleaned) ? Number(cleaned) : null;
}

/**
 * Numeric equivalence (`12`, `12.0` and `24/2` are equal), within a relative
 * tolerance. For integer answers, feedback locates the wrong digits.
 */
export function numericVerifier(options: MatchOptions & { tolerance?: number } = {}): SyncVerifier {
  const tolerance = options.tolerance ?? 1e-9;
  return {
    name: 'numeric',
    version: '1',
    verify(task: Task, completion: string): Verification {
      if (task.answer === undefined) return { status: 'not-applicable', reason: `task ${task.id} has no answer to compare` };
      const expected = parseNumber(task.answer);
      if (expected === null) return { status: 'error', error: `task ${task.id} has a non-numeric answer "${task.answer}"` };
      const extracted = extractAnswer(completion, options);
      if (extracted === null || extracted === '') return { status: 'scored', reward: 0, pass: false, feedback: missing(options), extracted: extracted ?? undefined };
      const actual = parseNumber(extracted);
      if (actual === null) return { status: 'scored', reward: 0, pass: false, feedback: reveal(`"${extracted}" is not a number`, task.answer, options), extracted };
      if (Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected))) return { status: 'scored', reward: 1, pass: true, feedback: 'correct', extracted };
      const integers = /^[+-]?\d+$/;
      const feedback = integers.test(extracted.trim()) && integers.test(task.answer.trim()) ? locate(extracted.trim(), task.answer.trim(), 'digit') : `${extracted} is not the right value`;
      return { status: 'scored', reward: 0, pass: false, feedback: reveal(feedback, task.answer, options), extracted };
    },
  };
}
