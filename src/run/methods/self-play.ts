/**
 * An Absolute Zero round: `selfplay.steps` steps of propose → validate →
 * solve → one policy-gradient update (see src/selfplay/absolute-zero.ts).
 *
 * Every step saves its proposals and answers with their rewards and feedback
 * (the run store's samples and scores, with the step), then its weights (two
 * checkpoint slots used in turn, so a kill during a save never loses the last
 * finished step), and its buffers and metrics (one step row). A killed
 * round resumes at the first unfinished step, redoing it whole from the same
 * seed; the buffers carry over from round to round.
 */
import { Rng } from '../../engine/random.js';
import type { SftExample } from '../../learn/steps.js';
import { selfPlayStep, seedBuffers, type Buffers } from '../../selfplay/absolute-zero.js';
import { PROMPT_KINDS, TASK_TYPES, type TaskType } from '../../selfplay/formats.js';
import type { Recipe } from '../../recipe/schema.js';
import type { RoundPlan, TaskRecord } from '../../spec/controller.js';
import type { Executor } from '../../selfplay/executor.js';
import { policyUpdate, referenceKl } from '../../learn/policy-gradient.js';
import type { LoopParts, Method, RoundContext } from '../context.js';
import { RoundStopped } from '../context.js';
import { finishRoundWeights, referenceBackend, roundMetrics, saveStepWeights, startRoundWeights } from '../weights.js';
import { seedFor } from '../seeds.js';
import { InvalidConfigError } from '../../errors.js';

interface SelfPlayState {
  /** Steps finished. */
  steps: number;
  buffers: Buffers;
  metrics: Record<string, number>[];
}

/** What each finished step stores as its state (the store's step rows, src/store/steps.ts): the buffers after it. */
interface SelfPlayStepState {
  buffers: Buffers;
}

/** Runs (or resumes) the steps of self-play round `round`. */
export async function runSelfPlayRound(parts: LoopParts, round: number, context: RoundContext, plan: RoundPlan = selfPlayPlan(parts.recipe, round)): Promise<void> {
  const { recipe, store, backend, tokenizer } = parts;
  const sp = recipe.selfplay!;
  const executor = parts.executor;
  if (!executor) throw new InvalidConfigError('selfplay', 'self-play needs an executor (LoopParts.executor; the `programs` task family makes one): set tasks.family: programs');
  const saved = store.finishedSteps<SelfPlayStepState>(round, 'selfplay');
  const previous = round > 1 ? store.finishedSteps<SelfPlayStepState>(round - 1, 'selfplay').state : undefined;
  const state: SelfPlayState = { steps: saved.steps, buffers: saved.state?.buffers ?? previous?.buffers ?? seedBuffers(executor.format), metrics: saved.metrics };
  await startRoundWeights(parts, round, context, state, sp.steps, 'self-play');

  const reference = await referenceBackend(parts, sp.kl, 'selfplay');
  const settings = {
    batch: sp.batch,
    rollouts: sp.rollouts,
    references: sp.references,
    rewards: sp.rewards,
    // The plan's sampling temperature is the solver's (selfplay.temperature.solve unless a controller set it); the proposer keeps its own.
    temperature: { propose: sp.temperature.propose, solve: plan.sampling.temperature },
    solveBatch: solveCounts(plan, sp.batch),
    epsilon: sp.epsilon,
    duplicates: sp.duplicates,
    trainRollouts: sp.trainRollouts,
    inputs: sp.inputs,
    duplicateWindow: sp.duplicateWindow ?? Infinity,
    maxBuffer: sp.maxBuffer,
    maxTokens: recipe.sample.maxTokens,
    stop: recipe.sample.stop,
    topP: recipe.sample.topP,
  };
  for (let step = state.steps; step < sp.steps; step++) {
    if (context.shouldStop()) throw new RoundStopped();
    store.deleteStepSamples(round, step); // what a killed attempt at this step left
    const started = performance.now();
    const result = await selfPlayStep(context.policy, tokenizer, executor, state.buffers, settings, seedFor(recipe.seed, 'selfplay', round, step), { round, step });

    const ids = store.saveSamples(
      result.records.map((r, i) => ({
        round,
        step,
        kind: 'sample' as const,
        taskId: `${r.kind}/${i}`,
        sampleIndex: 0,
        prompt: r.prompt,
        completion: r.completion.text,
        tokens: r.completion.tokens,
        logprobs: r.completion.logprobs,
        ...(r.completion.behaviourLogprobs ? { behaviourLogprobs: r.completion.behaviourLogprobs } : {}),
        observationTokens: r.trajectory.turns[0].observationTokens,
        finishReason: r.completion.finishReason,
        policyVersion: context.policy.version,
        sampler: { role: r.kind, temperature: r.kind.startsWith('propose') ? settings.temperature.propose : settings.temperature.solve, topP: recipe.sample.topP, maxTokens: recipe.sample.maxTokens, seed: seedFor(recipe.seed, 'selfplay', round, step) },
      })),
    );
    store.saveScores(result.records.map((r, i) => ({ sampleId: ids[i], verifier: { name: 'absolute-zero', version: '1' }, verification: { status: 'scored' as const, reward: r.reward, pass: r.pass, feedback: r.feedback } })));

    let clock = performance.now();
    const kl = reference ? await referenceKl(reference, result.examples, sp.kl.coef > 0) : undefined;
    const referenceMs = performance.now() - clock;
    clock = performance.now();
    const update: Record<string, number> = result.examples.length ? await policyUpdate(backend, result.examples, { ...sp, normLength: sp.normLength ?? recipe.sample.maxTokens }, seedFor(recipe.seed, 'selfplay-minibatch', round, step)) : { 'policy/optimizer_steps': 0 };
    const updateMs = performance.now() - clock;
    clock = performance.now();
    await saveStepWeights(parts, round, step, context);

    state.steps = step + 1;
    state.buffers = result.buffers;
    if (kl !== undefined) update['policy/kl'] = kl;
    state.metrics.push({ ...result.metrics, ...update, 'timing_ms/reference': referenceMs, 'train/completions': result.examples.length, 'timing_ms/update': updateMs, 'timing_ms/checkpoint': performance.now() - clock, 'timing_ms/step': performance.now() - started });
    store.saveStep(round, 'selfplay', step, { state: { buffers: state.buffers } satisfies SelfPlayStepState, metrics: state.metrics.at(-1)! });
    context.progress(step + 1);
  }
  const metrics = roundMetrics(state.metrics);
  // Buffer sizes are the round's last, not an average; `buffer/added` is summed.
  const last = state.metrics.at(-1) ?? {};
  for (const type of TASK_TYPES) metrics[`buffer/${type}`] = last[`buffer/${type}`] ?? state.buffers[type].length;
  metrics['buffer/added'] = state.metrics.reduce((n, m) => n + (m['buffer/added'] ?? 0), 0);
  store.saveMetrics(round, metrics);
  await finishRoundWeights(parts, round, context);
}

/**
 * The examples of self-play's start (`selfplay.formatPrior`), the six prompt
 * kinds in turn (seeded):
 * - `format`: every completion drawn at random (right only by chance);
 * - `executions`: a stand-in for a code-pretrained base. Proposal prompts with
 *   random programs, and deduction prompts answered with what the executor
 *   computes for a random program and input: machine-made executions, never
 *   an abduction or induction example.
 */
export async function formatPriorExamples(executor: Executor, count: number, seed: number, options: { programOnly?: boolean; corpus?: 'format' | 'executions' } = {}): Promise<SftExample[]> {
  const format = executor.format;
  if (!format.formatPriorExample) throw new InvalidConfigError('selfplay.formatPrior', `the ${format.name} format has no format prior; remove selfplay.formatPrior or use format: expr`);
  const rng = new Rng(seed, 0xf0);
  const examples: SftExample[] = [];
  for (let i = 0; examples.length < count; i++) {
    const kind = PROMPT_KINDS[i % PROMPT_KINDS.length];
    const { task, ...example } = format.formatPriorExample(kind, rng, options);
    if (options.corpus === 'executions') {
      if (kind === 'solve-abduction' || kind === 'solve-induction') continue;
      if (kind === 'solve-deduction') {
        if (!task) continue;
        const v = await executor.validate({ program: task.program, input: task.input });
        if (!v.valid) continue;
        example.completion = String(v.output);
      }
    }
    examples.push(example);
  }
  return examples;
}

/** Self-play's plan before controllers: `selfplay.batch` solve tasks of each type (SEC's arms: the task types), sampled at the solver's temperature. */
export function selfPlayPlan(recipe: Recipe, round: number): RoundPlan {
  const sp = recipe.selfplay!;
  return { round, draws: TASK_TYPES.map((type) => ({ category: type, count: sp.batch })), sampling: { n: 1, temperature: sp.temperature.solve, topP: recipe.sample.topP }, acceptThreshold: null, setBy: {} };
}

/** The solve tasks of each type a plan draws (a plan that names no task type, e.g. one stored before self-play rounds were planned, draws `batch` of each). */
export function solveCounts(plan: RoundPlan, batch: number): Record<TaskType, number> {
  const typed = plan.draws.filter((draw) => (TASK_TYPES as readonly string[]).includes(draw.category));
  if (typed.length === 0) return { deduction: batch, abduction: batch, induction: batch };
  const counts = { deduction: 0, abduction: 0, induction: 0 };
  for (const draw of typed) counts[draw.category as TaskType] += draw.count;
  return counts;
}

/**
 * What controllers read of a finished self-play round: one record per task
 * type the solver answered, from its stored answers (attempts, passes, mean
 * reward) and the round's `solve/<type>/abs_advantage` (the mean TRR++
 * |advantage| of the solve batch's answers of that type, averaged over the
 * steps: SEC's learning gain of the arm). Undefined when the round stored none.
 */
export function selfPlayTaskRecords(parts: LoopParts, round: number): TaskRecord[] | undefined {
  const answers = parts.store.loadSamples(round, 'sample').filter((s) => s.taskId.startsWith('solve-'));
  if (answers.length === 0) return undefined;
  const metrics = parts.store.metrics(round);
  return TASK_TYPES.flatMap((type): TaskRecord[] => {
    const own = answers.filter((s) => s.taskId.startsWith(`solve-${type}/`));
    if (own.length === 0) return [];
    const verdicts = own.map((s) => (s.verification?.status === 'scored' ? s.verification : undefined));
    const passes = verdicts.filter((v) => v?.pass).length;
    const rewards = verdicts.flatMap((v) => (v ? [v.reward] : []));
    const gain = metrics[`solve/${type}/abs_advantage`];
    return [{ taskId: `solve-${type}`, category: type, attempts: own.length, passes, solved: passes > 0, meanReward: rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : 0, ...(gain !== undefined ? { meanAbsAdvantage: gain } : {}) }];
  });
}

/** Absolute Zero self-play: propose → validate → solve → update steps; no task data. Its rounds are planned (solve counts per type, the solver's temperature), not drawn. */
export const selfPlay: Method = {
  name: 'self-play',
  drawsTasks: false,
  solvedBy: 'passed',
  defaultPlan: selfPlayPlan,
  taskRecords: selfPlayTaskRecords,
  async round(run, round, _tasks, plan) {
    await run.phase(round, 'selfplay', run.parts.recipe.selfplay!.steps, (progress) => runSelfPlayRound(run.parts, round, run.roundContext(progress), plan));
  },
};
