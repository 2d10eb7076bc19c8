/**
 * The code executor behind Absolute Zero's propose → validate → solve loop
 * (Zhao et al. 2025, "Absolute Zero: Reinforced Self-play Reasoning with Zero
 * Data", https://arxiv.org/abs/2505.03335). A task is a triplet (program,
 * input, output) where `program` is JavaScript defining `function f(x)`.
 *
 * - validateProposal: a proposed (program, input) is valid when the program
 *   parses, defines f, runs within the limits and returns a JSON value, the
 *   same on a second run (the paper's determinism check; our sandbox makes
 *   every run deterministic by construction, so it is a guard should that
 *   ever change). The executor's output completes the triplet.
 * - Solutions are checked by execution, per task type:
 *   deduction (given program and input, predict the output): output equal;
 *   abduction (given program and output, find an input): program(input) equal;
 *   induction (given input/output pairs, write the program): every pair holds.
 * - learnabilityReward: the proposer's reward, 1 − solve rate when the solver
 *   sometimes but not always succeeds, else 0.
 *
 * This is the executor and reward layer only; the self-play loop that uses it
 * (proposer/solver roles on one policy, TRR++ advantages, the task buffer) is
 * not built yet.
 */
import type { Sandbox } from '../sandbox/sandbox.js';
import { canonical } from '../tasks/code.js';

export type TaskType = 'deduction' | 'abduction' | 'induction';

export type Validation = { valid: true; output: unknown } | { valid: false; reason: string };

/** Runs `program`'s `f` on `input` in the sandbox: the output as key-sorted JSON text, or why not. */
async function execute(sandbox: Sandbox, program: string, input: unknown): Promise<{ ok: true; json: string; value: unknown } | { ok: false; reason: string }> {
  const code = `${program}\n;function __autodidactCall(x) { return __autodidactJson(f(x)); }`;
  const run = await sandbox.run({ code, entry: '__autodidactCall', args: [input] });
  if (run.status === 'ok' && typeof run.value === 'string') return { ok: true, json: run.value, value: run.value === 'undefined' ? undefined : JSON.parse(run.value) };
  if (run.status === 'timeout') return { ok: false, reason: `does not terminate: ${run.error}` };
  if (run.status === 'memory') return { ok: false, reason: run.error ?? 'out of memory' };
  return { ok: false, reason: `fails: ${run.error ?? 'no result'}` };
}

/** Checks a proposed (program, input): runs, terminates, deterministic, JSON output. */
export async function validateProposal(sandbox: Sandbox, proposal: { program: string; input: unknown }): Promise<Validation> {
  if (!/\bfunction\s+f\s*\(/.test(proposal.program) && !/\b(const|let|var)\s+f\s*=/.test(proposal.program)) return { valid: false, reason: 'the program must define a function f' };
  const first = await execute(sandbox, proposal.program, proposal.input);
  if (!first.ok) return { valid: false, reason: first.reason };
  if (first.json === 'undefined') return { valid: false, reason: 'f returns nothing (undefined)' };
  const second = await execute(sandbox, proposal.program, proposal.input);
  if (!second.ok) return { valid: false, reason: `second run ${second.reason}` };
  if (second.json !== first.json) return { valid: false, reason: `nondeterministic: two runs gave ${first.json} and ${second.json}` };
  return { valid: true, output: first.value };
}

/** A solved task's check by execution; `answer` is the solver's output (deduction), input (abduction) or program (induction). */
export async function checkSolution(
  sandbox: Sandbox,
  type: TaskType,
  task: { program: string; input?: unknown; output?: unknown; examples?: { input: unknown; output: unknown }[] },
  answer: unknown,
): Promise<{ pass: boolean; feedback: string }> {
  if (type === 'deduction') {
    const pass = canonical(answer) === canonical(task.output);
    return { pass, feedback: pass ? 'correct output' : `expected ${canonical(task.output)}, got ${canonical(answer)}` };
  }
  if (type === 'abduction') {
    const run = await execute(sandbox, task.program, answer);
    if (!run.ok) return { pass: false, feedback: `f(${canonical(answer)}) ${run.reason}` };
    const pass = run.json === canonical(task.output);
    return { pass, feedback: pass ? 'the input gives the output' : `f(${canonical(answer)}) = ${run.json}, not ${canonical(task.output)}` };
  }
  if (typeof answer !== 'string') return { pass: false, feedback: 'an induction answer is a program (a string defining f)' };
  for (const example of task.examples ?? []) {
    const run = await execute(sandbox, answer, example.input);
    if (!run.ok) return { pass: false, feedback: `f(${canonical(example.input)}) ${run.reason}` };
    if (run.json !== canonical(example.output)) return { pass: false, feedback: `f(${canonical(example.input)}) = ${run.json}, expected ${canonical(example.output)}` };
  }
  return { pass: true, feedback: `all ${(task.examples ?? []).length} examples hold` };
}

/** The proposer's reward for a task the solver solved at `solveRate` (0–1): 1 − r when 0 < r < 1, else 0. */
export function learnabilityReward(solveRate: number): number {
  if (!(solveRate >= 0 && solveRate <= 1)) throw new RangeError(`solve rate must be in [0, 1], got ${solveRate}`);
  return solveRate > 0 && solveRate < 1 ? 1 - solveRate : 0;
}
