/**
 * The self-improvement loop: a warm-up (round 0: optional SFT on labeled tasks,
 * then the baseline evaluation), then rounds of named, timed phases:
 *
 *   tasks → sample → score → refine → curate → update → evaluate → monitor
 *
 * Every phase reads its inputs from the run store and writes its outputs
 * there before it is marked done, so a run killed at any moment resumes at the
 * first unfinished phase and loses no finished sample (sampling saves each
 * chunk of tasks as it finishes). Methods are choices of parts: which
 * acceptance, whether failures are reflected on (Re-ReST) or rationalized
 * (STaR), how the update starts (ReST-EM trains from the base each round).
 */
import { join, resolve } from 'node:path';
import type { Recipe } from '../recipe/schema.js';
import type { Curriculum, RoundOutcome } from '../spec/curriculum.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';
import type { Reflector } from '../spec/reflector.js';
import type { Task } from '../spec/task.js';
import type { TaskSource } from '../spec/task-source.js';
import type { TrainingBackend } from '../spec/training-backend.js';
import type { Verifier } from '../spec/verifier.js';
import type { Monitor } from '../spec/monitor.js';
import type { TrajectoryKind } from '../spec/trajectory.js';
import type { Tokenizer } from '../engine/tokenizer.js';
import type { RunStore, SampleRow, StoredSample } from '../store/run-store.js';
import { planCounts } from './curricula.js';
import { fillTemplate } from './reflect.js';
import { evaluate, fineTune, sampleAndVerify, type Attempt } from './steps.js';
import { meanPassAtK } from './metrics.js';
import { completionOf, curate, labeledExamples, toAttempt, trainingExample } from './curate.js';
import { seedFor } from './seeds.js';
import { scoreGroups } from '../verifiers/groups.js';
import { RoundStopped, runRlRound, type RlRoundContext } from './rl-round.js';
import { runSelfPlayRound, formatPriorExamples } from './selfplay-round.js';
import type { Executor } from '../selfplay/executor.js';
import { InvalidConfigError, InternalError, PolicyReplyError, RunStoreError } from '../errors.js';

/** The phases of a round, in order (an RL round runs tasks → rl → evaluate → monitor). */
export const PHASES = ['tasks', 'sample', 'score', 'refine', 'curate', 'update', 'evaluate', 'monitor'] as const;
export type Phase = (typeof PHASES)[number] | 'warmup' | 'rl' | 'selfplay';

/** Everything a loop runs with; `buildLoop` makes it from a recipe. */
export interface LoopParts {
  recipe: Recipe;
  backend: TrainingBackend;
  tokenizer: Tokenizer;
  source: TaskSource;
  /** The tasks' verifier (labels): scores held-out evaluation, and the samples too unless `rewardVerifier` is set. */
  verifier: Verifier;
  /** What scores the samples the policy learns from, when not `verifier`: an LLM judge or a majority vote (the recipe's `verifier:` section). */
  rewardVerifier?: Verifier;
  /** Builds `rewardVerifier` from the policy the loop samples from (a judge that is the policy itself); runLoop calls it once, at its start. */
  makeRewardVerifier?: (self: Policy) => Verifier;
  curriculum: Curriculum;
  /** Reflects on failures (Re-ReST); required when `recipe.reflect.enabled`. */
  reflector?: Reflector;
  monitors: Monitor[];
  store: RunStore;
  /** Where checkpoints go. */
  runDir: string;
  /** The checkpoint round 0 starts from, when the recipe names one (no warm-up training then). */
  initialCheckpoint?: string;
  /** A second backend for the frozen KL reference of RL rounds (loaded with the round-0 weights). */
  reference?: TrainingBackend;
  /** Runs programs in the sandbox: validates and checks self-play tasks (the `programs` task family makes it). */
  executor?: Executor;
  /** Samples from somewhere other than the training engine (an OpenAI-compatible server: the recipe's `sampler:` section). */
  sampler?: RemoteSampler;
}

/**
 * A sampler outside the training engine. With `reloadWeights`, it follows
 * training: the loop hands it each new checkpoint before sampling again and
 * refuses replies made with other weights than its own.
 */
export interface RemoteSampler {
  policy: Policy;
  reloadWeights?(checkpointDir: string, version: string): Promise<void>;
  /** Releases connections, threads and memory. */
  close?(): Promise<void>;
  /** What the sampler has spent so far (requests, tokens, cost), reported as `sampler/<key>` round metrics. */
  usage?(): Record<string, number>;
}

/** Callbacks for progress display and clean stops. */
export interface LoopEvents {
  phaseStart?(round: number, phase: Phase, total: number): void;
  progress?(round: number, phase: Phase, done: number, total: number): void;
  phaseEnd?(round: number, phase: Phase, ms: number): void;
  roundEnd?(summary: RoundSummary): void;
  /** Checked before every phase: returning true stops the loop cleanly (rerun to resume). */
  shouldStop?(): boolean;
}

export interface Evaluation {
  accuracy: number;
  byDifficulty: Record<string, number>;
}

/** What a finished round reports. */
export interface RoundSummary {
  round: number;
  /** The difficulty the round focused on (undefined for the warm-up). */
  frontier?: number;
  tasks: number;
  accepted: number;
  /** Accepted attempts at the frontier difficulty. */
  acceptedAtFrontier: number;
  evaluation: Evaluation;
  metrics: Record<string, number>;
  /** Time of its finished phases (a phase cut short by a kill counts only the run that finished it). */
  seconds: number;
  checkpoint: string;
}

export interface LoopResult {
  rounds: RoundSummary[];
  /** True when shouldStop ended the loop before its last round. */
  stopped: boolean;
  /** The last checkpoint written. */
  checkpoint?: string;
}

class StopRequested extends Error {}

/** Runs (or resumes) a recipe's rounds against a run store. */
export async function runLoop(parts: LoopParts, events: LoopEvents = {}): Promise<LoopResult> {
  const { recipe, store, backend } = parts;
  let served: string | undefined; // the weights' version the remote sampler holds
  const sampleRemote = async (remote: RemoteSampler, prompts: readonly string[], options: SamplingOptions) => {
    if (remote.reloadWeights && served !== policy.version) {
      if (!policy.weightsPath) throw new InternalError(`the remote sampler needs weights "${policy.version}" on disk, and none were written`);
      await remote.reloadWeights(resolve(policy.weightsPath), policy.version);
      served = policy.version;
    }
    const groups = await remote.policy.sample(prompts, options);
    const stale = remote.reloadWeights && groups.flat().find((c) => c.policyVersion !== undefined && c.policyVersion !== policy.version);
    if (stale) throw new PolicyReplyError(`remote sampler ${remote.policy.name}`, `the remote sampler answered with weights "${stale.policyVersion}" while the loop holds "${policy.version}": does another client reload that server? Give this run a server of its own`);
    return groups;
  };
  // The policy the rounds sample from; `weightsPath` is where its current weights are on disk (for a remote sampler to load).
  const policy: Policy & { version: string; weightsPath?: string } = {
    name: parts.sampler?.policy.name ?? 'embedded',
    version: 'base',
    sample: (prompts, options) => (parts.sampler ? sampleRemote(parts.sampler, prompts, options) : backend.sample(prompts, options)),
  };
  if (parts.makeRewardVerifier) parts = { ...parts, rewardVerifier: parts.makeRewardVerifier(policy) };
  let weightsAt: number | null = null; // which round's checkpoint the backend holds
  const rounds: RoundSummary[] = [];

  const phase = async (round: number, name: Phase, total: number, work: (progress: (done: number) => void) => Promise<void>) => {
    if (store.phaseDone(round, name)) return;
    if (events.shouldStop?.()) throw new StopRequested();
    events.phaseStart?.(round, name, total);
    const started = performance.now();
    await work((done) => events.progress?.(round, name, done, total));
    const ms = performance.now() - started;
    store.markPhase(round, name, ms);
    events.phaseEnd?.(round, name, ms);
  };
  const useWeights = async (round: number) => {
    if (weightsAt === round) return;
    const saved = store.checkpoint(round);
    if (!saved) throw new RunStoreError(store.path, `round ${round} has no checkpoint to resume from; start the run over with --fresh`);
    await backend.load(saved.path);
    [policy.version, policy.weightsPath] = [saved.policyVersion, saved.path];
    weightsAt = round;
  };
  const saveWeights = async (round: number, version: string) => {
    const path = join(parts.runDir, 'checkpoints', `round-${round}`);
    await backend.save(path);
    store.saveCheckpoint(round, path, version);
    [policy.version, policy.weightsPath] = [version, path];
    weightsAt = round;
  };

  // Held-out tasks, drawn once: every round evaluates on them and no round trains on their prompts.
  const heldOut = heldOutTasks(parts);
  try {
    // Round 0: the warm-up and the baseline.
    const excluded = new Set(heldOut.map((t) => t.prompt));
    const labeled = labeledTasks(parts, excluded);
    checkTrainingSupply(parts, excluded);
    await phase(0, 'warmup', recipe.warmup?.steps ?? recipe.selfplay?.formatPrior?.steps ?? 0, async (progress) => {
      if (parts.initialCheckpoint) {
        store.saveCheckpoint(0, parts.initialCheckpoint, 'base');
        weightsAt = null;
        return;
      }
      const warmup = recipe.warmup;
      const prior = recipe.selfplay?.formatPrior;
      if (prior) {
        // Self-play's start: the surface of the prompts, with random answers (corpus: format) or executions of random programs (corpus: executions); no task data.
        const examples = await formatPriorExamples(parts.executor!, prior.steps * prior.batchSize, seedFor(recipe.seed, 'format-prior-examples'), { programOnly: recipe.selfplay!.inputs === 'random', corpus: prior.corpus });
        await fineTune(backend, parts.tokenizer, examples, { steps: prior.steps, batchSize: prior.batchSize, learningRate: prior.learningRate, seed: seedFor(recipe.seed, 'format-prior'), onStep: (step) => progress(step + 1) });
        await saveWeights(0, 'format-prior');
        return;
      }
      if (warmup) {
        const examples = labeledExamples(recipe, labeled, parts.verifier, seedFor(recipe.seed, 'warmup-examples'));
        await fineTune(backend, parts.tokenizer, examples, { steps: warmup.steps, batchSize: warmup.batchSize, learningRate: warmup.learningRate, seed: seedFor(recipe.seed, 'warmup'), onStep: (step) => progress(step + 1) });
      }
      await saveWeights(0, warmup ? 'sft' : 'base');
    });
    rounds.push(await evaluateRound(0, undefined));

    const roundContext = (): RlRoundContext => ({
      policy,
      useWeights,
      loadWeights: async (path, version, options) => {
        await backend.load(path, options);
        [policy.version, policy.weightsPath] = [version, path];
        weightsAt = null;
      },
      saveWeights,
      progress: () => {},
      shouldStop: () => events.shouldStop?.() ?? false,
    });
    for (let round = 1; round <= recipe.rounds; round++) {
      if (recipe.selfplay) {
        // Absolute Zero: propose → validate → solve → update steps; no task data.
        await phase(round, 'selfplay', recipe.selfplay.steps, async (progress) => {
          try {
            await runSelfPlayRound(parts, round, { ...roundContext(), progress });
          } catch (error) {
            if (error instanceof RoundStopped) throw new StopRequested();
            throw error;
          }
        });
        rounds.push(await evaluateRound(round, undefined));
        continue;
      }
      // tasks: the curriculum plans the round from the outcomes so far.
      const history = outcomes(round);
      const plan = parts.curriculum.plan(round, history);
      await phase(round, 'tasks', 1, async () => {
        const tasks: Task[] = [];
        for (const { difficulty, count } of planCounts(plan, recipe.tasks.perRound)) {
          tasks.push(...drawTasks(parts.source, { count, difficulty, seed: seedFor(recipe.seed, 'tasks', round, difficulty), split: `round${round}` }, excluded).tasks);
        }
        store.saveTasks(round, 'train', tasks);
      });
      const tasks = store.loadTasks(round, 'train') ?? [];
      const byId = new Map(tasks.map((t) => [t.id, t]));

      if (recipe.rl) {
        // Policy-gradient steps on fresh samples replace sample → … → update.
        await phase(round, 'rl', recipe.rl.steps, async (progress) => {
          try {
            await runRlRound(parts, round, tasks, { ...roundContext(), progress });
          } catch (error) {
            if (error instanceof RoundStopped) throw new StopRequested();
            throw error;
          }
          saveOutcome(round, plan.frontier, tasks, new Set(store.loadSamples(round, 'sample').filter((s) => s.verification?.status === 'scored' && s.verification.pass).map((s) => s.taskId)));
        });
        rounds.push(await evaluateRound(round, plan.frontier));
        continue;
      }

      // sample: n attempts per task from the current policy, saved chunk by chunk.
      const chunk = recipe.sample.chunk;
      const chunks = Math.ceil(tasks.length / chunk);
      await phase(round, 'sample', tasks.length, async (progress) => {
        await useWeights(round - 1);
        const done = new Set(store.loadSamples(round, 'sample').map((s) => s.taskId));
        for (let c = 0; c < chunks; c++) {
          const part = tasks.slice(c * chunk, (c + 1) * chunk);
          if (part.every((t) => done.has(t.id))) {
            progress(Math.min(tasks.length, (c + 1) * chunk));
            continue;
          }
          const sampling = samplingOptions(recipe, recipe.sample.n, recipe.sample.temperature, seedFor(recipe.seed, 'sample', round, c));
          const groups = await policy.sample(part.map((t) => t.prompt), sampling);
          store.saveSamples(part.flatMap((task, i) => groups[i].map((completion, j) => sampleRow(round, 'sample', task, j, task.prompt, completion, policy.version, sampling))));
          progress(Math.min(tasks.length, (c + 1) * chunk));
        }
      });

      // score: the verifier's verdict and feedback for every sample (a judge that is the policy itself reads the weights that sampled them).
      await phase(round, 'score', 0, async () => {
        if (parts.rewardVerifier) await useWeights(round - 1);
        await scoreUnscored(parts, round, byId);
      });

      // refine: Re-ReST reflection on failures, STaR rationalization with the answer as a hint.
      await phase(round, 'refine', 0, async () => {
        if (!recipe.reflect.enabled && !recipe.rationalize.enabled) return;
        await useWeights(round - 1);
        const samples = store.loadSamples(round, 'sample');
        if (recipe.reflect.enabled) await reflect(parts, round, samples, byId, policy.version);
        if (recipe.rationalize.enabled) await rationalize(parts, policy, round, samples, byId);
        await scoreUnscored(parts, round, byId);
      });

      // curate: the accepted set (verifier or majority vote; capped per task, distinct first).
      await phase(round, 'curate', 0, async () => {
        const samples = store.loadSamples(round);
        const accepted = curate(recipe, tasks, samples);
        store.saveAccepted(round, accepted);
        const taskOfSample = new Map(samples.map((s) => [s.id, s.taskId]));
        saveOutcome(round, plan.frontier, tasks, new Set(accepted.map((a) => taskOfSample.get(a.sampleId)!)));
      });

      // update: fine-tune on the accepted set (this round's or all so far), from the base or the last weights.
      await phase(round, 'update', recipe.train.steps, async (progress) => {
        await useWeights(recipe.train.from === 'base' ? 0 : round - 1);
        const ids = store.acceptedIds(recipe.train.data === 'all' ? 1 : round, round);
        const accepted = store.samplesById(ids);
        const tasksOf = new Map<number, Map<string, Task>>();
        const taskOf = (sample: StoredSample) => {
          if (!tasksOf.has(sample.round)) tasksOf.set(sample.round, new Map((store.loadTasks(sample.round, 'train') ?? []).map((t) => [t.id, t])));
          const task = tasksOf.get(sample.round)!.get(sample.taskId);
          if (!task) throw new RunStoreError(store.path, `accepted sample ${sample.id} names task ${sample.taskId}, missing from round ${sample.round}: the run store is inconsistent; start the run over with --fresh`);
          return task;
        };
        const examples = accepted.map((s) => trainingExample(recipe, s, taskOf(s), parts.tokenizer.eosId));
        if (recipe.train.includeLabeled) examples.push(...labeled.map((t) => ({ prompt: t.prompt, completion: completionOf(recipe, t) })));
        await fineTune(backend, parts.tokenizer, examples, { steps: recipe.train.steps, batchSize: recipe.train.batchSize, learningRate: recipe.train.learningRate, seed: seedFor(recipe.seed, 'train', round), onStep: (step) => progress(step + 1) });
        await saveWeights(round, `round-${round}`);
      });

      rounds.push(await evaluateRound(round, plan.frontier));
    }
    return { rounds, stopped: false, checkpoint: store.checkpoint(recipe.rounds)?.path };
  } catch (error) {
    if (error instanceof StopRequested) return { rounds, stopped: true, checkpoint: rounds.at(-1)?.checkpoint };
    throw error;
  }

  /** evaluate + monitor phases of a round, and its summary. */
  async function evaluateRound(round: number, frontier: number | undefined): Promise<RoundSummary> {
    await phase(round, 'evaluate', heldOut.length, async () => {
      await useWeights(round);
      const metrics: Record<string, number> = {};
      if (heldOut.length) {
        const { accuracy, byDifficulty } = await evaluate(policy, heldOut, parts.verifier, { maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop });
        metrics['eval/accuracy'] = accuracy;
        for (const [d, a] of Object.entries(byDifficulty)) metrics[`eval/accuracy/d${d}`] = a;
        if (recipe.eval.n > 0) {
          const groups = await sampleAndVerify(policy, heldOut, parts.verifier, { ...samplingOptions(recipe, recipe.eval.n, recipe.eval.temperature, seedFor(recipe.seed, 'eval', round)) });
          for (const [key, value] of Object.entries(meanPassAtK(groups, recipe.eval.k))) metrics[`eval/${key}`] = value;
          const difficulties = [...new Set(groups.map((g) => g[0]?.task.difficulty))];
          if (difficulties.length > 1) {
            for (const d of difficulties) {
              for (const [key, value] of Object.entries(meanPassAtK(groups.filter((g) => g[0]?.task.difficulty === d), recipe.eval.k))) metrics[`eval/${key}/d${d}`] = value;
            }
          }
        }
      }
      store.saveMetrics(round, metrics);
    });
    await phase(round, 'monitor', 0, async () => {
      const metrics: Record<string, number> = {};
      // Self-play rounds report their own figures (proposer and solver, per task type) with the round's metrics.
      if (round > 0 && !recipe.selfplay) {
        const record = roundRecord(parts, round);
        for (const monitor of parts.monitors) Object.assign(metrics, await monitor.observe(record));
      }
      for (const [name, ms] of Object.entries(store.phaseTimings(round))) metrics[`timing_ms/${name}`] = ms;
      // A remote sampler's spend so far (this process's: a resumed run counts from its restart).
      for (const [key, value] of Object.entries(parts.sampler?.usage?.() ?? {})) metrics[`sampler/${key}`] = value;
      store.saveMetrics(round, metrics);
    });
    const metrics = store.metrics(round);
    const accepted = round > 0 ? store.samplesById(store.acceptedIds(round, round)) : [];
    const tasks = round > 0 ? store.loadTasks(round, 'train') ?? [] : [];
    const difficultyOf = new Map(tasks.map((t) => [t.id, t.difficulty]));
    const byDifficulty = Object.fromEntries(Object.entries(metrics).filter(([k]) => k.startsWith('eval/accuracy/d')).map(([k, v]) => [k.slice('eval/accuracy/d'.length), v]));
    const summary: RoundSummary = {
      round,
      frontier,
      tasks: tasks.length,
      accepted: accepted.length,
      acceptedAtFrontier: accepted.filter((s) => difficultyOf.get(s.taskId) === frontier).length,
      evaluation: { accuracy: metrics['eval/accuracy'] ?? 0, byDifficulty },
      metrics,
      seconds: Object.values(store.phaseTimings(round)).reduce((a, b) => a + b, 0) / 1000,
      checkpoint: store.checkpoint(round)?.path ?? '',
    };
    events.roundEnd?.(summary);
    return summary;
  }

  /** What the curriculum reads of a round: tasks and solved tasks per difficulty. */
  function saveOutcome(round: number, frontier: number, tasks: readonly Task[], solved: ReadonlySet<string>): void {
    const byDifficulty: RoundOutcome['byDifficulty'] = {};
    for (const task of tasks) {
      const entry = (byDifficulty[String(task.difficulty ?? 0)] ??= { tasks: 0, solved: 0 });
      entry.tasks++;
      if (solved.has(task.id)) entry.solved++;
    }
    store.setMeta(`outcome/${round}`, JSON.stringify({ round, frontier, byDifficulty } satisfies RoundOutcome));
  }

  function outcomes(before: number): RoundOutcome[] {
    const list: RoundOutcome[] = [];
    for (let r = 1; r < before; r++) {
      const saved = store.getMeta(`outcome/${r}`);
      if (saved) list.push(JSON.parse(saved) as RoundOutcome);
    }
    return list;
  }
}

/** Sampling options of the recipe with a given n, temperature and seed. */
function samplingOptions(recipe: Recipe, n: number, temperature: number, seed: number): SamplingOptions {
  return { n, temperature, topP: recipe.sample.topP, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop, seed };
}

function sampleRow(round: number, kind: TrajectoryKind, task: Task, index: number, prompt: string, completion: Completion, policyVersion: string, sampler: SamplingOptions, parentId?: number): SampleRow {
  return { round, kind, taskId: task.id, sampleIndex: index, parentId, prompt, completion: completion.text, tokens: completion.tokens, logprobs: completion.logprobs, finishReason: completion.finishReason, policyVersion: completion.policyVersion ?? policyVersion, sampler: { ...sampler } };
}

/**
 * Scores every sample of a round that has no score yet, a group at a time
 * (the samples of one task and kind, which a group verifier such as majority
 * vote scores together), in chunks of about 256 samples (each saved at once).
 */
async function scoreUnscored(parts: LoopParts, round: number, byId: Map<string, Task>): Promise<void> {
  const verifier = parts.rewardVerifier ?? parts.verifier;
  const groups = new Map<string, StoredSample[]>();
  for (const sample of parts.store.loadSamples(round)) {
    const key = `${sample.kind}/${sample.taskId}`;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(sample);
  }
  const pending = [...groups.values()].filter((group) => group.some((s) => s.verification === null));
  for (let i = 0; i < pending.length; ) {
    const chunk: StoredSample[][] = [];
    for (let size = 0; i < pending.length && (size === 0 || size + pending[i].length <= 256); i++) {
      chunk.push(pending[i]);
      size += pending[i].length;
    }
    const verdicts = await scoreGroups(
      verifier,
      chunk.map((group) => {
        const task = byId.get(group[0].taskId);
        if (!task) throw new RunStoreError(parts.store.path, `sample ${group[0].id} names task ${group[0].taskId}, which round ${round} does not have: the run store is inconsistent; start the run over with --fresh`);
        return { task, completions: group.map((s) => s.completion) };
      }),
    );
    const rows = chunk.flatMap((group, g) => group.flatMap((sample, j) => (sample.verification === null ? [{ sampleId: sample.id, verifier: { name: verifier.name, version: verifier.version }, verification: verdicts[g][j] }] : [])));
    parts.store.saveScores(rows);
  }
}

/** Re-ReST: the reflector revises failed attempts (up to `perTask` per task) using the verifier's feedback. */
async function reflect(parts: LoopParts, round: number, samples: StoredSample[], byId: Map<string, Task>, policyVersion: string): Promise<void> {
  const { recipe, store } = parts;
  if (!parts.reflector) throw new InvalidConfigError('reflect.enabled', 'recipe enables reflect, but no reflector was given: pass LoopParts.reflector or set reflect.enabled: false');
  const done = new Set(store.loadSamples(round, 'reflection').map((s) => s.parentId));
  const perTask = new Map<string, number>();
  const failed = samples.filter((s) => {
    if (s.verification?.status !== 'scored' || s.verification.pass) return false;
    const count = perTask.get(s.taskId) ?? 0;
    if (count >= recipe.reflect.perTask) return false;
    perTask.set(s.taskId, count + 1);
    return true;
  });
  const chunk = recipe.sample.chunk;
  for (let c = 0; c * chunk < failed.length; c++) {
    const part = failed.slice(c * chunk, (c + 1) * chunk).filter((s) => !done.has(s.id));
    if (part.length === 0) continue;
    const seed = seedFor(recipe.seed, 'reflect', round, c);
    const reflections = await parts.reflector.reflect(
      part.map((s) => ({ task: byId.get(s.taskId)!, attempt: s.completion, feedback: s.verification?.status === 'scored' ? s.verification.feedback : '' })),
      { n: recipe.reflect.n, seed },
    );
    const sampler = { ...samplingOptions(recipe, recipe.reflect.n, recipe.reflect.temperature, seed), reflector: parts.reflector.name };
    store.saveSamples(part.flatMap((s, i) => reflections[i].revisions.map((revision, j) => ({ ...sampleRow(round, 'reflection', byId.get(s.taskId)!, s.sampleIndex * recipe.reflect.n + j, reflections[i].prompt, revision, policyVersion, sampler, s.id), sampler }))));
  }
}

/** STaR rationalization: tasks none of whose samples passed are tried again with the answer as a hint. */
async function rationalize(parts: LoopParts, policy: Policy, round: number, samples: StoredSample[], byId: Map<string, Task>): Promise<void> {
  const { recipe, store } = parts;
  const solved = new Set(samples.filter((s) => s.verification?.status === 'scored' && s.verification.pass).map((s) => s.taskId));
  const done = new Set(store.loadSamples(round, 'rationalization').map((s) => s.taskId));
  const unsolved = [...new Set(samples.map((s) => s.taskId))].filter((id) => !solved.has(id) && byId.get(id)?.answer !== undefined);
  const chunk = recipe.sample.chunk;
  for (let c = 0; c * chunk < unsolved.length; c++) {
    const part = unsolved.slice(c * chunk, (c + 1) * chunk).filter((id) => !done.has(id)).map((id) => byId.get(id)!);
    if (part.length === 0) continue;
    const prompts = part.map((task) => fillTemplate(recipe.rationalize.template, { prompt: task.prompt, answer: task.answer! }));
    const sampling = samplingOptions(recipe, recipe.rationalize.n, recipe.rationalize.temperature, seedFor(recipe.seed, 'rationalize', round, c));
    const groups = await policy.sample(prompts, sampling);
    store.saveSamples(part.flatMap((task, i) => groups[i].map((completion, j) => sampleRow(round, 'rationalization', task, j, prompts[i], completion, policy.version, sampling))));
  }
}

/** The monitors' view of a round, read back from the store. */
function roundRecord(parts: LoopParts, round: number) {
  const tasks = new Map((parts.store.loadTasks(round, 'train') ?? []).map((t) => [t.id, t]));
  const samples = parts.store.loadSamples(round);
  const attempts = new Map(samples.map((s) => [s.id, toAttempt(s, tasks.get(s.taskId)!)]));
  // A group: the samples of one task in one step (RL rounds may draw a task in several steps).
  const groups = new Map<string, Attempt[]>();
  for (const s of samples) {
    const key = `${s.step ?? 0}/${s.taskId}`;
    if (s.kind === 'sample') (groups.get(key) ?? groups.set(key, []).get(key)!).push(attempts.get(s.id)!);
  }
  const accepted = parts.store.acceptedIds(round, round).map((id) => attempts.get(id)!).filter(Boolean);
  const refinements = samples.filter((s) => s.kind !== 'sample').map((s) => attempts.get(s.id)!);
  // Acceptance precision needs an accept filter: RL rounds have none.
  const labeledTruth = !parts.recipe.rl && !parts.rewardVerifier && [...tasks.values()].every((t) => t.answer !== undefined); // with a reward verifier, the reward-vs-labels monitor compares instead
  return {
    round,
    groups: [...groups.values()],
    refinements,
    accepted,
    // Ground truth: the verifier's verdict, when every task carries its answer.
    isCorrect: labeledTruth ? (a: Attempt) => a.verification.status === 'scored' && a.verification.pass : undefined,
  };
}

/** Held-out tasks: `eval.count` per reported difficulty, from a split no round draws from; a difficulty the source has no task of is refused. */
function heldOutTasks(parts: LoopParts): Task[] {
  const { recipe, source } = parts;
  return evalDifficulties(recipe).flatMap((difficulty) => {
    const tasks = source.tasks({ count: recipe.eval.count, difficulty, seed: seedFor(recipe.seed, 'heldout', difficulty), split: 'heldout' });
    if (tasks.length === 0) throw noTasksError(parts, difficulty, recipe.eval.difficulties ? 'eval.difficulties' : difficultyField(recipe, difficulty), 0);
    return tasks;
  });
}

/** The difficulties reported: `eval.difficulties`, else the warm-up's and the curriculum's. */
export function evalDifficulties(recipe: Recipe): number[] {
  if (recipe.eval.difficulties) return recipe.eval.difficulties;
  if (recipe.selfplay) return [1, 2, 3]; // the held-out programs' deduction, abduction and induction tasks
  const set = new Set<number>(recipe.warmup?.difficulties ?? []);
  const c = recipe.curriculum;
  if (c.kind === 'fixed') set.add(c.difficulty);
  else for (let d = c.start; d <= c.max; d++) set.add(d);
  return [...set].sort((a, b) => a - b);
}

function labeledTasks(parts: LoopParts, excluded: Set<string>): Task[] {
  const warmup = parts.recipe.warmup;
  if (!warmup) return [];
  return warmup.difficulties.flatMap((difficulty, i) => {
    const { tasks, offered } = drawTasks(parts.source, { count: typeof warmup.count === 'number' ? warmup.count : warmup.count[i], difficulty, seed: seedFor(parts.recipe.seed, 'labeled', difficulty), split: 'labeled' }, excluded);
    if (tasks.length === 0) throw noTasksError(parts, difficulty, 'warmup.difficulties', offered);
    return tasks;
  });
}

/**
 * Refuses, before the warm-up, a run whose rounds would train on nothing: a
 * difficulty the curriculum reaches at which the source has no task, or gives
 * only tasks whose prompts are held out. Draws what round 1 would.
 */
function checkTrainingSupply(parts: LoopParts, excluded: Set<string>): void {
  const { recipe } = parts;
  if (recipe.selfplay || recipe.rounds === 0) return; // self-play proposes its own tasks
  const c = recipe.curriculum;
  const difficulties = c.kind === 'fixed' ? [c.difficulty] : Array.from({ length: c.max - c.start + 1 }, (_, i) => c.start + i);
  for (const difficulty of difficulties) {
    const { tasks, offered } = drawTasks(parts.source, { count: 1, difficulty, seed: seedFor(recipe.seed, 'tasks', 1, difficulty), split: 'round1' }, excluded);
    if (tasks.length === 0) throw noTasksError(parts, difficulty, difficultyField(recipe, difficulty), offered);
  }
}

/** The curriculum field that asks for a difficulty. */
function difficultyField(recipe: Recipe, difficulty: number): string {
  const c = recipe.curriculum;
  if (c.kind === 'fixed') return c.difficulty === difficulty ? 'curriculum.difficulty' : 'warmup.difficulties';
  return difficulty === c.start ? 'curriculum.start' : difficulty >= c.start && difficulty <= c.max ? 'curriculum.max' : 'warmup.difficulties';
}

/** Why a draw at `difficulty` came back empty: the source has no such task, or every one it gave (`offered`) is held out. */
function noTasksError(parts: LoopParts, difficulty: number, field: string, offered: number): InvalidConfigError {
  const { recipe, source } = parts;
  const named = recipe.tasks.file !== undefined ? `the task file ${recipe.tasks.file}` : `the task family ${recipe.tasks.family}`;
  if (offered === 0) {
    return new InvalidConfigError(field, `asks for difficulty ${difficulty}, but ${named} has no task of it (its difficulties run ${source.difficulty.min}–${source.difficulty.max}); ask for difficulties it has, or add tasks`);
  }
  const fix = recipe.tasks.file !== undefined ? `give the file more tasks of difficulty ${difficulty} than eval.count = ${recipe.eval.count}, or lower eval.count` : 'make its prompts vary with the seed, or lower eval.count';
  return new InvalidConfigError(
    recipe.tasks.file !== undefined ? 'tasks.file' : 'tasks.family',
    `${named} gave ${offered} tasks of difficulty ${difficulty} for ${field === 'warmup.difficulties' ? 'the warm-up' : 'training'}, and every one has a prompt of the held-out set, which no round trains on: ${fix}`,
  );
}

/** `count` tasks from a source, none of whose prompts is held out (asks for more until it has them, or the source runs dry); `offered` is how many the source gave last. */
function drawTasks(source: TaskSource, request: { count: number; difficulty: number; seed: number; split: string }, excluded: Set<string>): { tasks: Task[]; offered: number } {
  let ask = request.count;
  for (let attempt = 0; ; attempt++) {
    const offered = source.tasks({ ...request, count: ask });
    const tasks = offered.filter((t) => !excluded.has(t.prompt));
    if (tasks.length >= request.count || attempt === 3) return { tasks: tasks.slice(0, request.count), offered: offered.length };
    ask *= 2;
  }
}
