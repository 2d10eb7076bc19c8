/**
 * Held-out programs: hand-written programs with input/output cases, turned
 * into solver tasks of the three types to measure what self-play taught.
 * Nothing here is trained on; self-play uses no task data.
 *
 *   {"id": "expr/2", "program": "x+1", "cases": [[2, 3], [5, 6], [8, 9], [0, 1], [6, 7], [3, 4]]}
 *
 * Each program gives deduction tasks (difficulty 1: the program and an input
 * of each of the first three cases; the answer is the output), abduction
 * tasks (difficulty 2: the program and the output of cases 4 and 5; any input
 * that gives it passes) and one induction task (difficulty 3: the first half
 * of the cases shown; the solver's program must reproduce the second half).
 * Difficulty is the task type so that the loop's per-difficulty metrics
 * (`eval/accuracy/d1` …) read per type.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Task } from '../spec/task.js';
import type { Verification, Verifier } from '../spec/verifier.js';
import { readJsonLines } from '../tasks/jsonl.js';
import type { Executor } from './executor.js';
import { inductionTask, solverPrompt, TASK_TYPES, type InductionTask, type SelfPlayFormat, type TaskType, type Triplet } from './formats.js';
import { InvalidConfigError } from '../errors.js';

const HeldOutLineSchema = z
  .object({
    id: z.string().min(1),
    program: z.string().min(1),
    /** [input, output] pairs, at least 5 (3 deduction inputs, 2 abduction outputs) and an even number for induction's halves. */
    cases: z.array(z.tuple([z.unknown(), z.unknown()])).min(5),
  })
  .strict();

export type HeldOutProgram = z.output<typeof HeldOutLineSchema>;

/** Reads a held-out program file; a bad line is a TaskFileError naming the file, line and field. */
export function loadHeldOutPrograms(path: string): HeldOutProgram[] {
  return readJsonLines(path, HeldOutLineSchema, (p) => p.id, 'held-out program file').map(({ value }) => value);
}

/** The built-in held-out set of a format (`src/selfplay/heldout-<format>.jsonl`). */
export function builtinHeldOutPath(format: string): string {
  const candidates = [`./heldout-${format}.jsonl`, `../../../src/selfplay/heldout-${format}.jsonl`].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new InvalidConfigError('tasks.options.file', `no built-in held-out programs for the "${format}" format (looked for ${candidates[0]}); give tasks.options.file`);
  return found;
}

/** What a held-out task carries for its verifier. */
interface HeldOutMeta {
  type: TaskType;
  task: Triplet | InductionTask;
}

/** The solver tasks of held-out programs, phrased in a format. */
export function heldOutTasks(programs: readonly HeldOutProgram[], format: SelfPlayFormat): Task[] {
  const tasks: Task[] = [];
  for (const p of programs) {
    const pairs = p.cases.map(([input, output]) => ({ input, output }));
    const add = (type: TaskType, suffix: string, task: Triplet | InductionTask) =>
      tasks.push({
        id: `${p.id}/${type}${suffix}`,
        family: 'programs',
        prompt: solverPrompt(format, type, task),
        difficulty: TASK_TYPES.indexOf(type) + 1,
        meta: { type, task } satisfies HeldOutMeta,
      });
    pairs.slice(0, 3).forEach((c, i) => add('deduction', `/${i}`, { program: p.program, ...c }));
    pairs.slice(3, 5).forEach((c, i) => add('abduction', `/${i}`, { program: p.program, ...c }));
    add('induction', '', inductionTask(p.program, pairs, ''));
  }
  return tasks;
}

/** Scores a solver's answer to a held-out task by execution (pass: reward 1). */
export function programVerifier(executor: Executor): Verifier {
  return {
    name: 'program-execution',
    version: '1',
    async verify(task: Task, completion: string): Promise<Verification> {
      const meta = task.meta as HeldOutMeta | undefined;
      if (!meta?.type || !meta.task) return { status: 'not-applicable', reason: `task ${task.id} is not a program task (meta.type, meta.task)` };
      try {
        const { pass, feedback } = await executor.answer(meta.type, meta.task, completion);
        return { status: 'scored', reward: pass ? 1 : 0, pass, feedback };
      } catch (error) {
        return { status: 'error', error: `the executor failed: ${(error as Error).message}` };
      }
    },
  };
}
