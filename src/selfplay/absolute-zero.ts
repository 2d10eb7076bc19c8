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
 *      (a round plan may set each type's count instead: `solveBatch`);
 *   2. propose: B prompts per type, each an episode of the propose
 *      environment (src/environments/absolute-zero.ts). Deduction and
 *      abduction proposers see K buffer triplets and write a new (program,
 *      input); the induction proposer sees one buffer program and writes N
 *      inputs (and a message);
 *   3. validate: the propose environment's step checks each proposal with
 *      the executor; valid ones complete their triplet (the output) or their
 *      input/output pairs (half shown to the solver, half held back to check
 *      its program) and join the buffers; their reward is pending until 4;
 *   4. learnability: `rollouts` episodes of the solve environment at each
 *      valid proposal (used for the reward only, unless `trainRollouts`); the
 *      proposer earns 1 − solve rate when it lies strictly between 0 and 1,
 *      settled into its trajectory;
 *   5. solve: the solver answers the solve batch, episodes of the solve
 *      environment, checked by execution;
 *   6. rewards as in the reference code: a proposal that does not parse or
 *      that the executor rejects −1, a valid task the solver always or never
 *      solves −0.5; an answer that does not parse −1, a wrong one −0.5, a
 *      right one 1;
 *   7. TRR++ (task-relative REINFORCE++): each of the six (role, type)
 *      batches is whitened on its own, over its completion tokens (a
 *      completion's weight is its length, as verl's masked_whiten does).
 *
 * The examples are built from the trajectories' tokens (src/rollout/datums.ts),
 * never by re-encoding text; the caller turns them into one policy-gradient
 * update.
 */
import { canonical } from '../sandbox/canonical.js';
import { Rng } from '../engine/random.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import type { RlExample } from '../learn/algorithms/losses.js';
import type { Environment } from '../spec/environment.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';
import type { Task } from '../spec/task.js';
import type { Trajectory } from '../spec/trajectory.js';
import { rollout } from '../rollout/rollout.js';
import { trajectoryDatum } from '../rollout/datums.js';
import { proposalTask, proposeEnvironment, settleProposal, solveEnvironment, solveTask, type ProposalSlot } from '../environments/absolute-zero.js';
import { learnabilityReward, type Executor } from './executor.js';
import { inductionTask, TASK_TYPES, type InductionTask, type PromptKind, type SelfPlayFormat, type TaskType, type Triplet } from './formats.js';
import { InvalidConfigError } from '../errors.js';

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
  /** Solve tasks of each type (default: `batch` of each); a round plan's curriculum sets them (SEC over the task types). */
  solveBatch?: Record<TaskType, number>;
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
  /** The episode it came from (propose or solve environment), its reward settled: the learner's data are built from its tokens. */
  trajectory: Trajectory;
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

/** One self-play step (see the file comment). Deterministic given `seed`, the buffers and the policy's weights. */
export async function selfPlayStep(policy: Policy, tokenizer: Tokenizer, executor: Executor, buffers: Buffers, settings: SelfPlaySettings, seed: number, where: { round: number; step: number } = { round: 0, step: 0 }): Promise<StepResult> {
  const format = executor.format;
  if (settings.inputs === 'random' && !format.randomInput) throw new InvalidConfigError('selfplay.inputs', `the ${format.name} format cannot draw inputs (inputs: random); use inputs: proposer`);
  const rng = new Rng(seed, 0xa2);
  const B = settings.batch;
  const solveCounts = settings.solveBatch ?? { deduction: B, abduction: B, induction: B };
  const clock = () => performance.now();
  const proposeEnv = proposeEnvironment(executor, settings.rewards);
  const solveEnv = solveEnvironment(executor, settings.rewards);
  let rolloutMs = 0;
  // Each role's tasks as episodes of its environment; `call` numbers the step's sampling calls (each its own seed).
  const roll = async (environment: Environment, role: 'propose' | 'solve', tasks: Task[], temperature: number, n: number, call: number) => {
    const started = clock();
    const sampling: SamplingOptions = { n, temperature, topP: settings.topP ?? 1, maxTokens: settings.maxTokens, stop: settings.stop, seed: new Rng(seed, 0x5a, call).nextUint32() };
    const groups = await rollout(policy, environment, tasks, { sampling, tokenizer, provenance: { ...where, role }, policyVersion: policy.version });
    rolloutMs += clock() - started;
    return groups;
  };

  // 1. The solve batch, from the buffers as they stood before this step's proposals (selfplay.batch of each type, or the round plan's counts).
  const solveTasks = TASK_TYPES.flatMap((type) => pickTasks<Triplet | InductionTask>(buffers[type], buffers.before[type], solveCounts[type], rng).map((task) => ({ type, task })));

  // 2. Propose: one episode of the propose environment per slot, validated by its step (3).
  const programs = [...buffers.deduction, ...buffers.abduction];
  const slots = TASK_TYPES.flatMap((type) =>
    Array.from({ length: B }, (): { slot: ProposalSlot; prompt: string } => {
      if (type === 'induction') {
        const program = programs[Math.floor(rng.next() * programs.length)].program;
        return { slot: { type, program }, prompt: format.proposeInductionPrompt(program) };
      }
      const pool = buffers[type];
      const references = rng.shuffle(pool.map((_, i) => i)).slice(0, Math.min(settings.references, pool.length)).map((i) => pool[i]);
      const input = settings.inputs === 'random' ? format.randomInput!(rng) : undefined;
      return { slot: { type, ...(input !== undefined ? { input } : {}) }, prompt: format.proposePrompt(type, references) };
    }),
  );
  const proposalTasks = slots.map((s, i) => proposalTask(s.slot, s.prompt, i));
  const proposals = (await roll(proposeEnv, 'propose', proposalTasks, settings.temperature.propose, 1, 0)).map((g) => g[0]);

  // 4. Learnability: `rollouts` episodes of the solve environment per valid proposal.
  const valid = proposalTasks.flatMap((task, i) => {
    const made = proposeEnv.validated(task);
    return made ? [{ index: i, type: slots[i].slot.type, task: made }] : [];
  });
  const rolloutGroups = await roll(solveEnv, 'solve', valid.map((v, k) => solveTask(executor, v.type, v.task, k)), settings.temperature.solve, settings.rollouts, 1);
  const solveRates = new Map<number, number>();
  valid.forEach((v, k) => solveRates.set(v.index, rolloutGroups[k].filter((t) => t.pass).length / rolloutGroups[k].length));

  // 5. Solve.
  const solutions = (await roll(solveEnv, 'solve', solveTasks.map((s, i) => solveTask(executor, s.type, s.task, i)), settings.temperature.solve, 1, 2)).map((g) => g[0]);
  const timing = { execute: proposeEnv.executeMs + solveEnv.executeMs };

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

  // 6. Rewards and records: a valid proposal's pending reward is settled now that the solver has attempted it.
  const records: (SelfPlayRecord & { type: TaskType; role: 'propose' | 'solve' })[] = [];
  const record = (role: 'propose' | 'solve', type: TaskType, trajectory: Trajectory): void => {
    const turn = trajectory.turns[0];
    const completion: Completion = { text: turn.action, tokens: turn.actionTokens, logprobs: turn.logprobs, behaviourLogprobs: turn.behaviourLogprobs, finishReason: turn.finishReason };
    records.push({ role, type, kind: `${role}-${type}`, prompt: turn.observation, completion, reward: turn.reward!, pass: trajectory.pass, feedback: turn.feedback, trajectory });
  };
  proposals.forEach((trajectory, i) => {
    const type = slots[i].slot.type;
    if (!solveRates.has(i)) return record('propose', type, trajectory);
    const rate = solveRates.get(i)!;
    const learnability = settings.duplicates === 'penalize' && repeated.has(i) ? 0 : learnabilityReward(rate);
    record('propose', type, settleProposal(trajectory, learnability > 0 ? learnability : settings.rewards.unlearnable, learnability > 0, `valid; solve rate ${rate.toFixed(3)}${repeated.has(i) ? '; already in the buffer' : ''}`));
  });
  if (settings.trainRollouts) valid.forEach((v, k) => rolloutGroups[k].forEach((trajectory) => record('solve', v.type, trajectory)));
  solveTasks.forEach((s, i) => record('solve', s.type, solutions[i]));

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
      if (role === 'propose' || members.length) metrics[`${role}/${type}/reward`] = rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length);
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
    // A type the round's plan gave no solve tasks (and no trained rollouts) has no solver figures.
    if (solved.length) {
      metrics[`solve/${type}/accuracy`] = solved.filter((r) => r.pass).length / solved.length;
      metrics[`solve/${type}/format_error`] = solved.filter((r) => r.feedback.startsWith('format error')).length / solved.length;
    }
    // SEC's learning gain of the type's arm: the mean |advantage| of the solve batch's answers of the type (not the learnability rollouts, which the proposals decide).
    const batch = records.slice(records.length - solveTasks.length).map((r, k) => ({ r, k: records.length - solveTasks.length + k })).filter(({ r }) => r.type === type);
    if (batch.length) metrics[`solve/${type}/abs_advantage`] = batch.reduce((sum, { k }) => sum + Math.abs(advantages[k]), 0) / batch.length;
    metrics[`buffer/${type}`] = next[type].length;
  }
  metrics['buffer/added'] = added;
  metrics['sampling/completions'] = proposals.length + solutions.length + rolloutGroups.reduce((n, g) => n + g.length, 0);
  metrics['timing_ms/sample'] = rolloutMs - timing.execute;
  metrics['timing_ms/execute'] = timing.execute;

  // Learner data from the trajectories' tokens. oldLogprobs are the temperature-1 logprobs, as the update reads the policy at temperature 1 for both roles (each samples at its own temperature).
  const examples: RlExample[] = [];
  records.forEach((r, i) => {
    if (r.completion.tokens.length === 0) return;
    const { datum, logprobs } = trajectoryDatum(r.trajectory);
    examples.push({ datum, oldLogprobs: logprobs, advantage: advantages[i], pass: r.pass, passRate: 0 });
  });
  return { examples, records: records.map(({ role: _role, type: _type, ...rest }) => rest), metrics, buffers: next };
}
