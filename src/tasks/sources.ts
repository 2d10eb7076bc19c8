/**
 * Task sources for recipes: built-in families by name, user families by module
 * path (the public task API), and JSONL task files.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { InvalidConfigError } from '../errors.js';
import { parseConfig } from '../config/validate.js';
import type { Task } from '../spec/task.js';
import type { TaskFamily } from '../spec/task-source.js';
import type { TaskRequest, TaskSource } from '../spec/task-source.js';
import type { Verifier } from '../spec/verifier.js';
import { additionFamily } from './addition.js';
import { countdownFamily } from './countdown.js';
import { loadTaskFile } from './jsonl.js';
import { loadUserFamily } from './user-family.js';
import { Rng } from '../engine/random.js';
import { stringFamily } from './strings.js';
import { matchVerifier, numericVerifier } from '../verifiers/match.js';
import { builtinCodeTasks, codeVerifier, loadCodeTasks } from './code.js';
import { createSandbox } from '../sandbox/sandbox.js';
import type { Sandbox } from '../sandbox/run-types.js';
import { Executor } from '../selfplay/executor.js';
import { selfPlayFormat, type SelfPlayFormat } from '../selfplay/formats.js';
import { builtinHeldOutPath, heldOutTasks, loadHeldOutPrograms, programVerifier } from '../selfplay/heldout.js';

const revealAnswer = z.boolean().optional();
/** Options of each built-in family (`tasks.options`), validated like the rest of a recipe. */
const familyOptions = {
  addition: z.object({ format: z.enum(['plain', 'reversed', 'scratchpad', 'indexed']).optional(), revealAnswer, padTo: z.number().int().nonnegative().optional() }).strict(),
  countdown: z.object({ revealAnswer }).strict(),
  string: z.object({ operation: z.enum(['reverse', 'sort']).optional(), revealAnswer }).strict(),
  code: z
    .object({
      /** A code-task JSONL file (relative to the recipe) instead of the built-in set. */
      file: z.string().optional(),
      /** Time limit of one completion's test run. */
      timeoutMs: z.number().positive().default(1000),
      /** Heap limit of a sandbox isolate. */
      memoryMb: z.number().min(8).default(64),
      /** Sandbox isolates verifying in parallel. */
      concurrency: z.number().int().positive().default(2),
      /** Reward = share of tests passed instead of all-or-nothing. */
      partialCredit: z.boolean().default(false),
    })
    .strict(),
  programs: z
    .object({
      /** A held-out program file (relative to the recipe) instead of the format's built-in set. */
      file: z.string().optional(),
      /** Format of the tasks when the recipe has no `selfplay` section (a self-play recipe's format wins). */
      format: z.enum(['expr', 'js']).default('expr'),
      /** Time limit of one program run. */
      timeoutMs: z.number().positive().default(200),
      /** Heap limit of a sandbox isolate. */
      memoryMb: z.number().min(8).default(32),
      /** Sandbox isolates running in parallel. */
      concurrency: z.number().int().positive().default(2),
    })
    .strict(),
};

/** A sandbox created on first use (a recipe that never runs code never starts one). */
function lazySandbox(options: { timeoutMs: number; memoryMb: number; concurrency: number }): Sandbox {
  let sandbox: Promise<Sandbox> | undefined;
  return {
    run: async (request) => (await (sandbox ??= createSandbox(options))).run(request),
    close: async () => {
      if (sandbox) await (await sandbox).close();
    },
  };
}

/**
 * JavaScript function-writing tasks (the built-in set or `tasks.options.file`),
 * checked by their unit tests in a sandbox created on first use and closed
 * with the run. Difficulty is the task's own (1–3).
 */
function codeTasks(options: Record<string, unknown>, baseDir: string): { source: TaskSource; verifier: Verifier; close: () => Promise<void> } {
  const o = parseConfig(familyOptions.code, options, 'tasks.options');
  const tasks = o.file ? loadCodeTasks(resolve(baseDir, o.file)) : builtinCodeTasks();
  const lazy = lazySandbox(o);
  return { source: fileSource(tasks, 'code'), verifier: codeVerifier(lazy, { timeoutMs: o.timeoutMs, partialCredit: o.partialCredit }), close: () => lazy.close() };
}

/**
 * Hand-written held-out programs (the format's built-in set or
 * `tasks.options.file`) as solver tasks of the three Absolute Zero types
 * (difficulty 1 deduction, 2 abduction, 3 induction), checked by execution;
 * the executor also serves a self-play round.
 */
function programTasks(options: Record<string, unknown>, baseDir: string, format?: SelfPlayFormat): { source: TaskSource; verifier: Verifier; executor: Executor; close: () => Promise<void> } {
  const o = parseConfig(familyOptions.programs, options, 'tasks.options');
  const f = format ?? selfPlayFormat(o.format);
  const tasks = heldOutTasks(loadHeldOutPrograms(o.file ? resolve(baseDir, o.file) : builtinHeldOutPath(f.name)), f);
  const sandbox = lazySandbox(o);
  const executor = new Executor(sandbox, f);
  return { source: fileSource(tasks, 'programs'), verifier: programVerifier(executor), executor, close: () => sandbox.close() };
}

/** Built-in families by the name a recipe uses; each takes the recipe's `tasks.options`. */
export const builtinFamilies: Record<string, (options: Record<string, unknown>) => TaskFamily> = {
  addition: (options) => additionFamily(parseConfig(familyOptions.addition, options, 'tasks.options')),
  countdown: (options) => countdownFamily(parseConfig(familyOptions.countdown, options, 'tasks.options')),
  string: (options) => stringFamily(parseConfig(familyOptions.string, options, 'tasks.options')),
};

/** A family as a task source. */
export function familySource(family: TaskFamily): TaskSource {
  return {
    name: family.name,
    difficulty: family.difficulty,
    tasks: (request: TaskRequest) => family.generate({ count: request.count, difficulty: request.difficulty, seed: request.seed, split: request.split }),
  };
}

/**
 * A task file as a source: each request draws `count` tasks of the requested
 * difficulty (all tasks when the file gives none) in a seeded order. Task ids
 * are the file's, so the same task may come back in later rounds.
 */
export function fileSource(tasks: readonly Task[], name: string): TaskSource {
  const difficulties = tasks.map((t) => t.difficulty).filter((d): d is number => d !== undefined);
  const range = difficulties.length ? { min: Math.min(...difficulties), max: Math.max(...difficulties) } : { min: 0, max: 0 };
  return {
    name,
    difficulty: range,
    tasks(request: TaskRequest): Task[] {
      const pool = difficulties.length ? tasks.filter((t) => t.difficulty === request.difficulty) : [...tasks];
      return new Rng(request.seed, 0xf11e).shuffle(pool).slice(0, request.count);
    },
  };
}

/**
 * Resolves `tasks.family`: a built-in name, or a module path (relative to
 * `baseDir`, the recipe's directory) whose default export is a TaskFamily or
 * a function of the options that returns one (checked at every call: see
 * src/tasks/user-family.ts).
 */
export async function loadFamily(spec: string, options: Record<string, unknown>, baseDir: string): Promise<TaskFamily> {
  const builtin = builtinFamilies[spec];
  if (builtin) return builtin(options);
  if (!/[./\\]/.test(spec)) {
    throw new InvalidConfigError('tasks.family', `unknown family "${spec}"; use one of ${[...Object.keys(builtinFamilies), 'code', 'programs'].join(', ')} or a module path such as ./my-family.js`);
  }
  return loadUserFamily(isAbsolute(spec) ? spec : resolve(baseDir, spec), options);
}

/** Verifier of file tasks. */
export function fileVerifier(kind: 'exact' | 'normalized' | 'numeric', options: { answerMarker?: string; revealAnswer: boolean }): Verifier {
  const match = { answerMarker: options.answerMarker, revealAnswer: options.revealAnswer, answerEnd: ['\n'] };
  if (kind === 'numeric') return numericVerifier(match);
  return matchVerifier({ ...match, normalize: kind === 'normalized' });
}

/** The task source and verifier a recipe's `tasks` section names. */
export async function resolveTasks(
  tasks: { family?: string; options: Record<string, unknown>; file?: string; verifier: 'exact' | 'normalized' | 'numeric'; answerMarker?: string; revealAnswer: boolean },
  baseDir: string,
  /** The self-play format, which the `programs` family phrases its tasks in. */
  format?: SelfPlayFormat,
): Promise<{ source: TaskSource; verifier: Verifier; family?: TaskFamily; executor?: Executor; close?: () => Promise<void> }> {
  if ((tasks.family === undefined) === (tasks.file === undefined)) {
    throw new InvalidConfigError('tasks', 'set exactly one of `family` (a built-in name or a module path) and `file` (a JSONL task file)');
  }
  if (tasks.family === 'code') return codeTasks(tasks.options, baseDir);
  if (tasks.family === 'programs') return programTasks(tasks.options, baseDir, format);
  if (tasks.family !== undefined) {
    const family = await loadFamily(tasks.family, tasks.options, baseDir);
    return { source: familySource(family), verifier: family.verifier, family };
  }
  const path = resolve(baseDir, tasks.file!);
  const loaded = loadTaskFile(path);
  return { source: fileSource(loaded, loaded[0]?.family ?? 'file'), verifier: fileVerifier(tasks.verifier, tasks) };
}

/** The directory a recipe file's relative paths start from. */
export function recipeDir(recipePath: string): string {
  return dirname(resolve(recipePath));
}
