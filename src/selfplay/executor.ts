/**
 * The code executor behind Absolute Zero's propose → validate → solve loop
 * (Zhao et al. 2025, "Absolute Zero: Reinforced Self-play Reasoning with Zero
 * Data", https://arxiv.org/abs/2505.03335). A task is a triplet (program,
 * input, output) where the program defines `f`; every run is in the sandbox.
 *
 * - validate: a proposed (program, input) is valid when the program is in the
 *   format's language, parses, defines f, runs within the limits and returns
 *   a JSON value inside the format's limits, the same on a second run (the
 *   paper's determinism check; our sandbox makes runs deterministic by
 *   construction, so it is a guard should that ever change). The output
 *   completes the triplet.
 * - check: a solver's answer, by execution, per task type:
 *   deduction (given program and input, predict the output): output equal;
 *   abduction (given program and output, find an input): f(input) equal;
 *   induction (given input/output pairs, write the program): every pair holds.
 * - learnabilityReward: the proposer's reward, 1 − solve rate when the solver
 *   sometimes but not always succeeds, else 0.
 *
 * Values are compared in the canonical encoding (src/sandbox/canonical.ts),
 * made inside the sandbox for results.
 * Runs are deterministic, so results are memoized by (program, input): the
 * solver's repeated answers cost one run each.
 */
import { AutodidactError } from '../errors.js';
import type { Sandbox } from '../sandbox/run-types.js';
import { canonical } from '../sandbox/canonical.js';
import { jsFormat, type InductionTask, type SelfPlayFormat, type TaskType, type Triplet } from './formats.js';

export type { TaskType } from './formats.js';

export type Validation = { valid: true; output: unknown } | { valid: false; reason: string };

type Execution = { ok: true; json: string; value: unknown } | { ok: false; reason: string };

export interface ExecutorOptions {
  /** Memoized (program, input) results at most (default 50,000; the oldest are forgotten first). */
  cacheSize?: number;
  /** Characters of memoized outputs at most (default 8,000,000): a program's outputs cannot grow the host without bound. */
  cacheChars?: number;
}

/** Outputs longer than this are never memoized (no format accepts them; they are rerun if asked again). */
const MAX_CACHED_OUTPUT = 100_000;

export class Executor {
  private readonly cache = new Map<string, Execution>();
  private readonly cacheSize: number;
  private readonly cacheChars: number;
  private cachedChars = 0;
  /** Sandbox runs made, and runs answered from the memo. */
  readonly counts = { runs: 0, cached: 0 };

  constructor(
    readonly sandbox: Sandbox,
    readonly format: SelfPlayFormat = jsFormat(),
    options: ExecutorOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 50_000;
    this.cacheChars = options.cacheChars ?? 8_000_000;
  }

  /** f(input) for a program of the format's language: the output in the canonical encoding, or why not. */
  async run(program: string, input: unknown, options: { fresh?: boolean } = {}): Promise<Execution> {
    const outside = this.format.checkProgram(program);
    if (outside) return { ok: false, reason: outside };
    const key = `${program}\u0000${canonical(input)}`;
    const known = options.fresh ? undefined : this.cache.get(key);
    if (known) {
      this.counts.cached++;
      return known;
    }
    this.counts.runs++;
    const run = await this.sandbox.run({ code: this.format.toJs(program), entry: 'f', args: [input] });
    let result: Execution;
    if (run.status === 'ok' && run.encoded !== undefined) result = { ok: true, json: run.encoded, value: run.value };
    else if (run.status === 'timeout') result = { ok: false, reason: `does not terminate: ${run.error}` };
    else if (run.status === 'memory') result = { ok: false, reason: run.error ?? 'out of memory' };
    else if (run.status === 'closed') throw new SandboxClosedError();
    else result = { ok: false, reason: `fails: ${(run.error ?? 'no result').replace(/ \[sandbox\.js:\d+:\d+\]$/, '')}` };
    this.remember(key, result);
    return result;
  }

  private remember(key: string, result: Execution): void {
    const chars = result.ok ? result.json.length : result.reason.length;
    if (chars > MAX_CACHED_OUTPUT) return;
    const old = this.cache.get(key);
    if (old) this.forget(key, old);
    while (this.cache.size && (this.cache.size >= this.cacheSize || this.cachedChars + chars > this.cacheChars)) {
      const [oldest, execution] = this.cache.entries().next().value!;
      this.forget(oldest, execution);
    }
    this.cache.set(key, result);
    this.cachedChars += chars;
  }

  private forget(key: string, execution: Execution): void {
    this.cache.delete(key);
    this.cachedChars -= execution.ok ? execution.json.length : execution.reason.length;
  }

  /** Checks a proposed (program, input): in the language, runs, terminates, deterministic, an output within limits. */
  async validate(proposal: { program: string; input: unknown }): Promise<Validation> {
    const reason = this.format.checkProgram(proposal.program) ?? this.format.checkInput(proposal.input);
    if (reason) return { valid: false, reason };
    const first = await this.run(proposal.program, proposal.input);
    if (!first.ok) return { valid: false, reason: first.reason };
    if (first.json === 'undefined') return { valid: false, reason: 'f returns nothing (undefined)' };
    const outside = this.format.checkOutput(first.value);
    if (outside) return { valid: false, reason: outside };
    const second = await this.run(proposal.program, proposal.input, { fresh: true });
    if (!second.ok) return { valid: false, reason: `second run ${second.reason}` };
    if (second.json !== first.json) return { valid: false, reason: `nondeterministic: two runs gave ${first.json} and ${second.json}` };
    return { valid: true, output: first.value };
  }

  /** A solver's answer checked by execution: an output (deduction), an input (abduction) or a program (induction). */
  async check(type: TaskType, task: { program: string; input?: unknown; output?: unknown; examples?: { input: unknown; output: unknown }[] }, answer: unknown): Promise<{ pass: boolean; feedback: string }> {
    if (type === 'deduction') {
      const pass = canonical(answer) === canonical(task.output);
      return { pass, feedback: pass ? 'correct output' : `expected ${canonical(task.output)}, got ${canonical(answer)}` };
    }
    if (type === 'abduction') {
      const outside = this.format.checkInput(answer);
      if (outside) return { pass: false, feedback: outside };
      const run = await this.run(task.program, answer);
      if (!run.ok) return { pass: false, feedback: `f(${canonical(answer)}) ${run.reason}` };
      const pass = run.json === canonical(task.output);
      return { pass, feedback: pass ? 'the input gives the output' : `f(${canonical(answer)}) = ${run.json}, not ${canonical(task.output)}` };
    }
    if (typeof answer !== 'string') return { pass: false, feedback: 'an induction answer is a program (a string defining f)' };
    for (const example of task.examples ?? []) {
      const run = await this.run(answer, example.input);
      if (!run.ok) return { pass: false, feedback: `f(${canonical(example.input)}) ${run.reason}` };
      if (run.json !== canonical(example.output)) return { pass: false, feedback: `f(${canonical(example.input)}) = ${run.json}, expected ${canonical(example.output)}` };
    }
    return { pass: true, feedback: `all ${(task.examples ?? []).length} examples hold` };
  }

  /**
   * A solver's completion for a task, parsed in the format and checked by
   * execution (an induction program against the task's held-back pairs);
   * `formatError` when it does not parse, with the reason in the feedback.
   */
  async answer(type: TaskType, task: Triplet | InductionTask, completion: string): Promise<{ pass: boolean; feedback: string; formatError: boolean }> {
    const answer = this.format.parseAnswer(type, completion);
    if (!answer.ok) return { pass: false, feedback: `format error: ${answer.reason}`, formatError: true };
    const check = type === 'induction' ? await this.check(type, { program: '', examples: (task as InductionTask).hidden }, answer.value) : await this.check(type, task as Triplet, answer.value);
    return { ...check, formatError: false };
  }
}

/** The executor's sandbox was closed under it: the run is ending, so no verdict is made up. */
export class SandboxClosedError extends AutodidactError {
  constructor() {
    super('the sandbox was closed while programs were still being run');
  }
}

/** Checks a proposed JavaScript (program, input) with a one-off executor (see Executor.validate). */
export async function validateProposal(sandbox: Sandbox, proposal: { program: string; input: unknown }): Promise<Validation> {
  return new Executor(sandbox).validate(proposal);
}

/** Checks a solver's answer to a JavaScript task with a one-off executor (see Executor.check). */
export async function checkSolution(
  sandbox: Sandbox,
  type: TaskType,
  task: { program: string; input?: unknown; output?: unknown; examples?: { input: unknown; output: unknown }[] },
  answer: unknown,
): Promise<{ pass: boolean; feedback: string }> {
  return new Executor(sandbox).check(type, task, answer);
}

/** The proposer's reward for a task the solver solved at `solveRate` (0–1): 1 − r when 0 < r < 1, else 0. */
export function learnabilityReward(solveRate: number): number {
  if (!(solveRate >= 0 && solveRate <= 1)) throw new RangeError(`solve rate must be in [0, 1], got ${solveRate}`);
  return solveRate > 0 && solveRate < 1 ? 1 - solveRate : 0;
}
