/**
 * Absolute Zero self-play (Zhao et al. 2025, "Absolute Zero: Reinforced
 * Self-play Reasoning with Zero Data", https://arxiv.org/abs/2505.03335): one
 * policy proposes tasks and solves them, a code executor checks both, and no
 * task data is used. One step, following the reference code
 * (LeapLabTHU/Absolute-Zero-Reasoner):
 *
 *   1. solve batch: for each task type, B tasks from its buffer, those added
 *      in the previous step first, the rest uniformly without replacement
 *      (tasks proposed in a step are solved from the next step on);
 *   2. propose: B prompts per type. Deduction and abduction proposers see K
 *      buffer triplets and write a new (program, input); the induction
 *      proposer sees one buffer program and writes N inputs (and a message);
 *   3. validate each proposal with the executor; valid ones complete their
 *      triplet (the output) or their input/output pairs (half shown to the
 *      solver, half held back to check its program) and join the buffers;
 *   4. learnability: `rollouts` solver attempts at each valid proposal (used
 *      for the reward only, not trained on); the proposer earns 1 − solve rate
 *      when it lies strictly between 0 and 1;
 *   5. solve: the solver answers the solve batch, checked by execution;
 *   6. rewards as in the reference code: a proposal that does not parse or
 *      that the executor rejects −1, a valid task the solver always or never
 *      solves −0.5; an answer that does not parse −1, a wrong one −0.5, a
 *      right one 1;
 *   7. TRR++ (task-relative REINFORCE++): each of the six (role, type)
 *      batches is whitened on its own, over its completion tokens (a
 *      completion's weight is its length, as verl's masked_whiten does).
 *
 * The caller turns the returned examples into one policy-gradient update.
 */
import { canonical } from '../sandbox/canonical.js';
import { datumFromSequence } from '../engine/engine.js';
import { Rng } from '../engine/random.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import type { RlExample } from '../learn/algorithms/losses.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';
import { learnabilityReward, type Executor } from './executor.js';
import { inductionTask, solverPrompt, TASK_TYPES, type InductionTask, type Parsed, type PromptKind, type SelfPlayFormat, type TaskType, type Triplet } from './formats.js';
import { InvalidConfigError, PolicyCapabilityError } from '../errors.js';

/** The task buffers: what proposers have written so far (validated), one per type. */
export interface Buffers {
  deduction: Triplet[];
  abduction: Triplet[];
  induction: InductionTask[];
  /** Buffer lengths before the last step's additions (entries past them are "new"). */
  before: Record<TaskType, number>;
}

export interface SelfPlaySettings {
  /** Tasks per role and type (B). */
  batch: number;
  /** Solver rollouts per valid proposal (learnability). */
  rollouts: number;
  /** Buffer triplets shown to a deduction or abduction proposer (K). */
  references: number;
  rewards: { formatError: number; invalid: number; unlearnable: number; wrong: number };
  temperature: { propose: number; solve: number };
  /** Added to each (role, type) standard deviation. */
  epsilon: number;
  /**
   * A valid proposal already in its buffer: `keep` appends it again (the
   * reference code; repeats then weigh more in sampling), `skip` leaves the
   * buffer as it is, `penalize` also gives it the unlearnable reward (a task
   * seen before teaches nothing new).
   */
  duplicates: 'keep' | 'skip' | 'penalize';
  /** Also train the solver on the learnability rollouts (the reference code only scores them). */
  trainRollouts: boolean;
  /**
   * Who picks the input of a deduction or abduction task: the proposer (the
   * paper), or the executor, uniformly from the format's inputs, the proposer
   * writing the program alone (a toy-scale stabilizer: a small proposer that
   * picks inputs collapses onto one task, and the solver onto its answer).
   */
  inputs: 'proposer' | 'random';
  /** How many of a buffer's latest entries count when looking for repeats (`Infinity`: all). */
  duplicateWindow: number;
  /** Entries a buffer keeps at most; past it the oldest go (the seed task always stays). The reference code caps at 16,384. */
  maxBuffer: number;
  maxTokens: number;
  stop?: string[];
  topP?: number;
}

/** One sampled completion of a step, scored: what the run store keeps. */
export interface SelfPlayRecord {
  kind: PromptKind;
  prompt: string;
  completion: Completion;
  reward: number;
  pass: boolean;
  feedback: string;
}

export interface StepResult {
  examples: RlExample[];
  records: SelfPlayRecord[];
  metrics: Record<string, number>;
  buffers: Buffers;
}

/** The buffers seeded with one trivial task per type: the identity function. */
export function seedBuffers(format: SelfPlayFormat): Buffers {
  const js = format.name === 'js';
  const program = js ? 'function f(x) {\n  return x;\n}' : 'x';
  const input = js ? 'Hello world' : 1;
  const inputs = js ? ['Hello world', 42, [1, 2], { a: 1 }, 'abc', -3, true, null, 'xyz', 0] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const pairs = inputs.slice(0, format.inductionInputs).map((x) => ({ input: x, output: x }));
  return {
    deduction: [{ program, input, output: input }],
    abduction: [{ program, input, output: input }],
    induction: [inductionTask(program, pairs, js ? 'f returns its argument unchanged.' : '')],
    before: { deduction: 1, abduction: 1, induction: 1 },
  };
}

/** `count` items: the new ones (index ≥ `from`) first, then the rest uniformly without replacement, repeated when the buffer is short. */
export function pickTasks<T>(items: readonly T[], from: number, count: number, rng: Rng): T[] {
  const fresh = items.slice(from).slice(-count);
  const rest = rng.shuffle(items.slice(0, from).concat(items.slice(from, Math.max(from, items.length - count))));
  const picked = fresh.concat(rest).slice(0, count);
  while (picked.length < count && items.length) picked.push(picked[Math.floor(rng.next() * picked.length)] ?? items[0]);
  return picked;
}

/** Triplets and induction tasks are the same task when these keys are. */
const tripletKey = (t: Triplet) => `${t.program}\u0000${canonical(t.input)}`;
const inductionKey = (t: InductionTask) => `${t.program}\u0000${canonical(t.shown.concat(t.hidden).map((e) => e.input))}`;

/** Scores one solver answer: reward, pass and feedback. */
async function scoreAnswer(executor: Executor, settings: SelfPlaySettings, type: TaskType, task: Triplet | InductionTask, text: string): Promise<{ reward: number; pass: boolean; feedback: string }> {
  const { pass, feedback, formatError } = await executor.answer(type, task, text);
  return { reward: formatError ? settings.rewards.formatError : pass ? 1 : settings.rewards.wrong, pass, feedback };
}

/** A proposal parsed and validated: the new task, or the reward and reason of its failure. */
async function validateProposal(executor: Executor, type: TaskType, prompt: { program?: string; input?: unknown }, text: string, rewards: SelfPlaySettings['rewards']): Promise<{ task: Triplet | InductionTask } | { reward: number; feedback: string }> {
  const format = executor.format;
  if (type === 'induction') {
    const parsed = format.parseInductionProposal(text);
    if (!parsed.ok) return { reward: rewards.formatError, feedback: `format error: ${parsed.reason}` };
    const keys = parsed.value.inputs.map((x) => canonical(x));
    if (new Set(keys).size !== keys.length) return { reward: rewards.invalid, feedback: 'invalid: the inputs repeat' };
    const pairs = [];
    for (const input of parsed.value.inputs) {
      const v = await executor.validate({ program: prompt.program!, input });
      if (!v.valid) return { reward: rewards.invalid, feedback: `invalid: f(${canonical(input)}): ${v.reason}` };
      pairs.push({ input, output: v.output });
    }
    return { task: inductionTask(prompt.program!, pairs, parsed.value.message) };
  }
  let parsed: Parsed<{ program: string; input: unknown }>;
  if (prompt.input !== undefined) {
    const program = format.parseProgram(text);
    parsed = program.ok ? { ok: true, value: { program: program.value, input: prompt.input } } : program;
  } else parsed = format.parseProposal(text);
  if (!parsed.ok) return { reward: rewards.formatError, feedback: `format error: ${parsed.reason}` };
  const v = await executor.validate(parsed.value);
  if (!v.valid) return { reward: rewards.invalid, feedback: `invalid: ${v.reason}` };
  return { task: { ...parsed.value, output: v.output } };
}

/** One self-play step (see the file comment). Deterministic given `seed`, the buffers and the policy's weights. */
export async function selfPlayStep(policy: Pick<Policy, 'sample'>, tokenizer: Tokenizer, executor: Executor, buffers: Buffers, settings: SelfPlaySettings, seed: number): Promise<StepResult> {
  const format = executor.format;
  if (settings.inputs === 'random' && !format.randomInput) throw new InvalidConfigError('selfplay.inputs', `the ${format.name} format cannot draw inputs (inputs: random); use inputs: proposer`);
  const rng = new Rng(seed, 0xa2);
  const B = settings.batch;
  const clock = () => performance.now();
  const timing = { sample: 0, execute: 0 };
  const sampling = (temperature: number, n: number, call: number): SamplingOptions => ({ n, temperature, topP: settings.topP ?? 1, maxTokens: settings.maxTokens, stop: settings.stop, seed: new Rng(seed, 0x5a, call).nextUint32() });
  const sample = async (prompts: string[], options: SamplingOptions) => {
    const started = clock();
    const groups = prompts.length ? await policy.sample(prompts, options) : [];
    timing.sample += clock() - started;
    return groups;
  };

  // 1. The solve batch, from the buffers as they stood before this step's proposals.
  const solveTasks = TASK_TYPES.flatMap((type) => pickTasks<Triplet | InductionTask>(buffers[type], buffers.before[type], B, rng).map((task) => ({ type, task })));

  // 2. Propose.
  const programs = [...buffers.deduction, ...buffers.abduction];
  const proposeSpecs = TASK_TYPES.flatMap((type) =>
    Array.from({ length: B }, () => {
      if (type === 'induction') {
        const program = programs[Math.floor(rng.next() * programs.length)].program;
        return { type, program, input: undefined, prompt: format.proposeInductionPrompt(program) };
      }
      const pool = buffers[type];
      const references = rng.shuffle(pool.map((_, i) => i)).slice(0, Math.min(settings.references, pool.length)).map((i) => pool[i]);
      const input = settings.inputs === 'random' ? format.randomInput!(rng) : undefined;
      return { type, program: undefined, input, prompt: format.proposePrompt(type, references) };
    }),
  );
  const proposals = (await sample(proposeSpecs.map((p) => p.prompt), sampling(settings.temperature.propose, 1, 0))).map((g) => g[0]);

  // 3. Validate.
  let started = clock();
  const outcomes: Awaited<ReturnType<typeof validateProposal>>[] = [];
  for (let i = 0; i < proposeSpecs.length; i++) outcomes.push(await validateProposal(executor, proposeSpecs[i].type, proposeSpecs[i], proposals[i].text, settings.rewards));
  timing.execute += clock() - started;

  // 4. Learnability: `rollouts` solver attempts per valid proposal.
  const valid = outcomes.flatMap((o, i) => ('task' in o ? [{ index: i, type: proposeSpecs[i].type, task: o.task }] : []));
  const rolloutGroups = await sample(valid.map((v) => solverPrompt(format, v.type, v.task)), sampling(settings.temperature.solve, settings.rollouts, 1));
  const solveRates = new Map<number, number>();
  const rolloutRecords: { type: TaskType; prompt: string; completion: Completion; score: Awaited<ReturnType<typeof scoreAnswer>> }[] = [];
  started = clock();
  for (let k = 0; k < valid.length; k++) {
    let passes = 0;
    for (const c of rolloutGroups[k]) {
      const score = await scoreAnswer(executor, settings, valid[k].type, valid[k].task, c.text);
      if (score.pass) passes++;
      if (settings.trainRollouts) rolloutRecords.push({ type: valid[k].type, prompt: solverPrompt(format, valid[k].type, valid[k].task), completion: c, score });
    }
    solveRates.set(valid[k].index, passes / rolloutGroups[k].length);
  }
  timing.execute += clock() - started;

  // 5. Solve.
  const solutions = (await sample(solveTasks.map((s) => solverPrompt(format, s.type, s.task)), sampling(settings.temperature.solve, 1, 2))).map((g) => g[0]);
  started = clock();
  const solveScores: Awaited<ReturnType<typeof scoreAnswer>>[] = [];
  for (let i = 0; i < solveTasks.length; i++) solveScores.push(await scoreAnswer(executor, settings, solveTasks[i].type, solveTasks[i].task, solutions[i].text));
  timing.execute += clock() - started;

  // Which valid proposals repeat a task among the last `duplicateWindow` of their buffer (or earlier in this step).
  // With random inputs the proposer writes only the program, so a repeat is a repeated program.
  const keyOf = (type: TaskType, task: Triplet | InductionTask) => (type === 'induction' ? inductionKey(task as InductionTask) : settings.inputs === 'random' ? task.program : tripletKey(task as Triplet));
  const recent = <T extends Triplet | InductionTask>(type: TaskType, list: readonly T[]) => new Set(list.slice(Math.max(0, list.length - settings.duplicateWindow)).map((t) => keyOf(type, t)));
  const known = { deduction: recent('deduction', buffers.deduction), abduction: recent('abduction', buffers.abduction), induction: recent('induction', buffers.induction) };
  const repeated = new Set<number>();
  for (const v of valid) {
    const key = keyOf(v.type, v.task);
    if (known[v.type].has(key)) repeated.add(v.index);
    known[v.type].add(key);
  }

  // 6. Rewards and records.
  const records: (SelfPlayRecord & { type: TaskType; role: 'propose' | 'solve' })[] = [];
  proposeSpecs.forEach((spec, i) => {
    const outcome = outcomes[i];
    if ('task' in outcome) {
      const rate = solveRates.get(i)!;
      const learnability = settings.duplicates === 'penalize' && repeated.has(i) ? 0 : learnabilityReward(rate);
      records.push({ role: 'propose', type: spec.type, kind: `propose-${spec.type}`, prompt: spec.prompt, completion: proposals[i], reward: learnability > 0 ? learnability : settings.rewards.unlearnable, pass: learnability > 0, feedback: `valid; solve rate ${rate.toFixed(3)}${repeated.has(i) ? '; already in the buffer' : ''}` });
    } else records.push({ role: 'propose', type: spec.type, kind: `propose-${spec.type}`, prompt: spec.prompt, completion: proposals[i], reward: outcome.reward, pass: false, feedback: outcome.feedback });
  });
  for (const r of rolloutRecords) records.push({ role: 'solve', type: r.type, kind: `solve-${r.type}`, prompt: r.prompt, completion: r.completion, reward: r.score.reward, pass: r.score.pass, feedback: r.score.feedback });
  solveTasks.forEach((s, i) => records.push({ role: 'solve', type: s.type, kind: `solve-${s.type}`, prompt: solverPrompt(format, s.type, s.task), completion: solutions[i], reward: solveScores[i].reward, pass: solveScores[i].pass, feedback: solveScores[i].feedback }));

  // The buffers grow by the valid proposals (repeats too with `duplicates: keep`), then drop their oldest past maxBuffer.
  const next: Buffers = { deduction: [...buffers.deduction], abduction: [...buffers.abduction], induction: [...buffers.induction], before: { deduction: buffers.deduction.length, abduction: buffers.abduction.length, induction: buffers.induction.length } };
  let added = 0;
  for (const v of valid) {
    if (settings.duplicates !== 'keep' && repeated.has(v.index)) continue;
    (next[v.type] as (Triplet | InductionTask)[]).push(v.task);
    added++;
  }
  for (const type of TASK_TYPES) {
    const list = next[type] as (Triplet | InductionTask)[];
    const excess = list.length - Math.max(1, settings.maxBuffer);
    if (excess > 0) {
      // The oldest entries after the seed go; `before` still marks where this step's additions start.
      list.splice(1, excess);
      next.before[type] = Math.max(1, next.before[type] - excess);
    }
  }

  // 7. TRR++ advantages, per (role, type), over completion tokens.
  const advantages = new Array<number>(records.length).fill(0);
  const metrics: Record<string, number> = {};
  for (const role of ['propose', 'solve'] as const) {
    for (const type of TASK_TYPES) {
      const members = records.map((r, i) => i).filter((i) => records[i].role === role && records[i].type === type);
      const weights = members.map((i) => records[i].completion.tokens.length);
      const total = weights.reduce((a, b) => a + b, 0);
      const mean = total ? members.reduce((s, i, k) => s + weights[k] * records[i].reward, 0) / total : 0;
      const variance = total > 1 ? members.reduce((s, i, k) => s + weights[k] * (records[i].reward - mean) ** 2, 0) / (total - 1) : 0;
      for (const i of members) advantages[i] = (records[i].reward - mean) / Math.sqrt(variance + settings.epsilon);
      const rewards = members.map((i) => records[i].reward);
      metrics[`${role}/${type}/reward`] = rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length);
    }
  }
  for (const type of TASK_TYPES) {
    const proposed = records.filter((r) => r.role === 'propose' && r.type === type);
    const solved = records.filter((r) => r.role === 'solve' && r.type === type);
    metrics[`propose/${type}/valid`] = proposed.filter((r) => r.feedback.startsWith('valid')).length / Math.max(1, proposed.length);
    metrics[`propose/${type}/format_error`] = proposed.filter((r) => r.feedback.startsWith('format error')).length / Math.max(1, proposed.length);
    metrics[`propose/${type}/learnable`] = proposed.filter((r) => r.pass).length / Math.max(1, proposed.length);
    const rates = valid.filter((v) => v.type === type).map((v) => solveRates.get(v.index)!);
    if (rates.length) metrics[`propose/${type}/solve_rate`] = rates.reduce((a, b) => a + b, 0) / rates.length;
    metrics[`solve/${type}/accuracy`] = solved.filter((r) => r.pass).length / Math.max(1, solved.length);
    metrics[`solve/${type}/format_error`] = solved.filter((r) => r.feedback.startsWith('format error')).length / Math.max(1, solved.length);
    metrics[`buffer/${type}`] = next[type].length;
  }
  metrics['buffer/added'] = added;
  metrics['sampling/completions'] = proposals.length + solutions.length + rolloutGroups.reduce((n, g) => n + g.length, 0);
  metrics['timing_ms/sample'] = timing.sample;
  metrics['timing_ms/execute'] = timing.execute;

  const examples: RlExample[] = [];
  records.forEach((r, i) => {
    if (r.completion.tokens.length === 0) return;
    if (r.completion.logprobs.length !== r.completion.tokens.length) throw new PolicyCapabilityError(undefined, 'self-play needs completions with token ids and logprobs (the policy returned none): train with the embedded engine or a sampler that returns both');
    const promptIds = tokenizer.encode(r.prompt, { addBos: true });
    examples.push({ datum: datumFromSequence([...promptIds, ...r.completion.tokens], promptIds.length), oldLogprobs: r.completion.logprobs, advantage: advantages[i], pass: r.pass, passRate: 0 });
  });
  return { examples, records: records.map(({ role: _role, type: _type, ...record }) => record), metrics, buffers: next };
}
