/**
 * JavaScript function-writing tasks with unit tests, in a JSONL layout modelled
 * on HumanEval / MBPP, and the verifier that runs them in the sandbox.
 *
 *   {"task_id": "js/0", "prompt": "/** … *\/\nfunction add(a, b) {\n", "entry_point": "add",
 *    "canonical_solution": "  return a + b;\n}\n", "tests": [{"args": [1, 2], "expected": 3}], "difficulty": 1}
 *
 * The policy continues the prompt (HumanEval style): the program is
 * `prompt + completion`. Each test calls `entry_point(...args)` in the sandbox,
 * which returns the result in the canonical encoding (src/sandbox/canonical.ts:
 * JSON with sorted keys that also tells NaN, ±Infinity, −0 and undefined
 * apart), made by an encoder captured before the program ran; the host
 * compares that text with the expected value's, so code in the sandbox never
 * sees an expected value and cannot tamper with the comparison. Feedback names each failing test
 * ("test 3 failed: rev("ab") expected "ba", got "ab""), for reflection.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { readJsonLines } from './jsonl.js';
import { canonical } from '../sandbox/canonical.js';
import type { RunResult, Sandbox } from '../sandbox/run-types.js';
import type { Task } from '../spec/task.js';
import type { Verification, Verifier } from '../spec/verifier.js';

/** Nesting and size of a test's arguments and expected value: what the sandbox can copy in and compare. */
export const CODE_TEST_LIMITS = { maxDepth: 64, maxChars: 100_000 };

/** A JSON value within CODE_TEST_LIMITS, checked without recursion (a line nested 20,000 deep must not overflow the stack). */
const boundedJson = z.unknown().superRefine((value, ctx) => {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > CODE_TEST_LIMITS.maxDepth) return ctx.addIssue({ code: 'custom', message: `is nested more than ${CODE_TEST_LIMITS.maxDepth} levels deep` });
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  let text: string;
  try {
    text = canonical(value);
  } catch (error) {
    return ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
  if (text.length > CODE_TEST_LIMITS.maxChars) ctx.addIssue({ code: 'custom', message: `is ${text.length} characters as JSON; at most ${CODE_TEST_LIMITS.maxChars}` });
});

/** One unit test: the arguments of the entry point and the value it must return. */
const CodeTestSchema = z.object({ args: z.array(boundedJson), expected: boundedJson }).strict();

/** A task's tests together, encoded: the results the sandbox returns for them must fit its outcome budget (2,000,000 characters). */
const MAX_TESTS_CHARS = 1_000_000;

/** One line of a code-task file. */
export const CodeTaskLineSchema = z
  .object({
    task_id: z.string().min(1),
    /** What the policy continues: a doc comment and the signature, up to the opening brace. */
    prompt: z.string().min(1),
    /** The function the tests call. */
    entry_point: z.string().regex(/^[A-Za-z_$][\w$]*$/, 'must be a function name (an identifier)'),
    /** A reference completion of the prompt (for supervised warm-up and checking the tests). */
    canonical_solution: z.string().optional(),
    tests: z
      .array(CodeTestSchema)
      .min(1)
      .superRefine((tests, ctx) => {
        let chars = 0;
        try {
          for (const t of tests) chars += canonical(t.expected).length;
        } catch {
          return; // an expected value that cannot be encoded is reported by its own test's check
        }
        if (chars > MAX_TESTS_CHARS) ctx.addIssue({ code: 'custom', message: `expect ${chars} characters of results in all; at most ${MAX_TESTS_CHARS} (the sandbox returns at most twice that)` });
      }),
    difficulty: z.number().optional(),
  })
  .strict();

export interface CodeTest {
  args: unknown[];
  expected: unknown;
}

/** Reads a code-task JSONL file; a bad line is a TaskFileError naming the file, line and field. */
export function loadCodeTasks(path: string, family = 'code'): Task[] {
  return readJsonLines(path, CodeTaskLineSchema, (t) => t.task_id, 'code-task file').map(({ value: parsed }) => ({
    id: parsed.task_id,
    family,
    prompt: parsed.prompt,
    solution: parsed.canonical_solution,
    difficulty: parsed.difficulty,
    meta: { entryPoint: parsed.entry_point, tests: parsed.tests },
  }));
}

/** The built-in set: JavaScript tasks we wrote ourselves (`src/tasks/code-tasks.jsonl`). */
export function builtinCodeTasks(): Task[] {
  // The file lives in src/ (shipped with the package); compiled code in dist/src/tasks/ finds it three levels up.
  const candidates = ['./code-tasks.jsonl', '../../../src/tasks/code-tasks.jsonl'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  return loadCodeTasks(candidates.find((path) => existsSync(path)) ?? candidates[0]);
}

export interface CodeVerifierOptions {
  /** Time limit of one completion's whole test run (default 1000 ms). */
  timeoutMs?: number;
  /** Reward = share of tests passed (default false: 1 only when every test passes). */
  partialCredit?: boolean;
  /** Failing tests described in the feedback at most (default 3). */
  maxFeedback?: number;
}

/** Runs a task's unit tests on `prompt + completion` in the sandbox. */
export function codeVerifier(sandbox: Sandbox, options: CodeVerifierOptions = {}): Verifier {
  const maxFeedback = options.maxFeedback ?? 3;
  return {
    name: 'code-tests',
    version: '1',
    async verify(task: Task, completion: string): Promise<Verification> {
      const meta = task.meta as { entryPoint?: unknown; tests?: unknown } | undefined;
      if (typeof meta?.entryPoint !== 'string' || !Array.isArray(meta.tests)) return { status: 'not-applicable', reason: `task ${task.id} has no entry point and tests (meta.entryPoint, meta.tests)` };
      const entry = meta.entryPoint;
      const tests = meta.tests as CodeTest[];
      // The sandbox calls the entry once per test, in the program's own context, and returns each result
      // in the canonical encoding made inside it: no harness is appended where the program could reach it.
      let run: RunResult;
      try {
        run = await sandbox.run({ code: `${task.prompt}${completion}`, entry, calls: tests.map((t) => t.args), timeoutMs: options.timeoutMs });
      } catch (error) {
        return { status: 'error', error: `the sandbox failed: ${(error as Error).message}` };
      }
      if (run.status === 'timeout') return scored(0, false, run.error ?? 'timed out');
      if (run.status === 'memory') return scored(0, false, run.error ?? 'ran out of memory');
      if (run.status === 'error') return scored(0, false, describeError(run.error ?? 'error'));
      if (run.status === 'crash') return scored(0, false, run.error ?? 'crashed the sandbox process');
      if (run.status === 'closed' || !run.calls) return { status: 'error', error: 'the sandbox was closed before the tests ran' };
      const failures: string[] = [];
      let passed = 0;
      run.calls.forEach((outcome, i) => {
        const test = tests[i];
        const call = `${entry}(${test.args.map(show).join(', ')})`;
        if (outcome.status === 'threw') failures.push(`test ${i + 1} failed: ${call} threw ${shorten(outcome.error)}`);
        else if (outcome.status === 'unencodable') failures.push(`test ${i + 1} failed: ${call} returned what cannot be compared (${shorten(outcome.error)})`);
        else if (sameValue(outcome.encoded, canonical(test.expected))) passed++;
        else failures.push(`test ${i + 1} failed: ${call} expected ${show(test.expected)}, got ${shorten(outcome.encoded)}`);
      });
      const pass = passed === tests.length;
      const feedback = pass ? `all ${tests.length} tests passed` : `${passed}/${tests.length} tests passed; ${failures.slice(0, maxFeedback).join('; ')}${failures.length > maxFeedback ? `; … (${failures.length - maxFeedback} more)` : ''}`;
      return scored(options.partialCredit ? passed / tests.length : pass ? 1 : 0, pass, feedback);
    },
  };
}

function scored(reward: number, pass: boolean, feedback: string): Verification {
  return { status: 'scored', reward, pass, feedback };
}

/** A sandbox error as feedback: syntax errors say so. */
function describeError(error: string): string {
  return /^SyntaxError/.test(error) ? `does not parse: ${error.replace(/ \[sandbox\.js:\d+:\d+\]$/, '')}` : `failed to run: ${error}`;
}

/**
 * Whether a result's encoding means the expected value. Exact, except that a zero's sign counts only
 * when the test asks for −0: JSON's `0` means zero, and `-3 * 0` is −0 in JavaScript.
 */
export function sameValue(actual: string, expected: string): boolean {
  if (actual === expected) return true;
  return !hasNegativeZero(expected) && unsignZeros(actual) === expected;
}

/** The canonical text with every `-0` number token (outside strings) written `0`. */
function unsignZeros(text: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      // Skip the string: to the next quote not escaped by a backslash.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '-' && text[i + 1] === '0' && !/[\d.eE]/.test(text[i + 2] ?? '')) {
      out += text.slice(from, i);
      from = i + 1;
    }
  }
  return out + text.slice(from);
}

function hasNegativeZero(text: string): boolean {
  return unsignZeros(text) !== text;
}

/** A trusted JSON value (a test's arguments or expected value) as feedback shows it. */
function show(value: unknown): string {
  return shorten(value === undefined ? 'undefined' : JSON.stringify(value) ?? String(value));
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
