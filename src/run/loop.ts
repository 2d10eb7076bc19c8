/**
 * The self-improvement loop: a warm-up (round 0: optional SFT on labeled
 * tasks, or self-play's format prior, then the baseline evaluation), then
 * rounds of named, timed phases —
 *
 *   tasks (the curriculum's plan) → the method's phases → evaluate → monitor
 *
 * The method (src/run/methods/: self-training, policy gradient, self-play)
 * is the recipe's choice; the loop knows none of them. Every phase reads its
 * inputs from the run store and writes its outputs there before it is marked
 * done, so a run killed at any moment resumes at the first unfinished phase
 * and loses no finished sample.
 */
import { join, resolve } from 'node:path';
import type { SamplingOptions } from '../spec/policy.js';
import type { LoopEvents, LoopParts, LoopPolicy, LoopResult, LoopRun, Phase, RemoteSampler, RoundSummary } from './context.js';
import { RoundStopped } from './context.js';
import { fineTune } from '../learn/steps.js';
import { labeledExamples } from '../learn/curate.js';
import { formatPriorExamples } from './methods/self-play.js';
import { methodOf } from './methods/index.js';
import { evaluateRound } from './evaluate.js';
import { drawPlannedTasks, planFor } from './plan.js';
import { checkTrainingSupply, heldOutTasks, labeledTasks } from './tasks.js';
import { seedFor } from './seeds.js';
import { InternalError, PolicyReplyError, RunStoreError } from '../errors.js';

export { PHASES, type LoopEvents, type LoopParts, type LoopResult, type Phase, type RemoteSampler, type RoundSummary, type Evaluation } from './context.js';
export { evalDifficulties } from './tasks.js';

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
  const policy: LoopPolicy = {
    name: parts.sampler?.policy.name ?? 'embedded',
    version: 'base',
    sample: (prompts, options) => (parts.sampler ? sampleRemote(parts.sampler, prompts, options) : backend.sample(prompts, options)),
    // The embedded engine continues token ids as they are (multi-turn rollouts).
    ...(parts.sampler ? {} : { sampleTokens: (prompts: readonly (readonly number[])[], options: SamplingOptions) => backend.sample(prompts, options) }),
  };
  if (parts.makeRewardVerifier) parts = { ...parts, rewardVerifier: parts.makeRewardVerifier(policy) };
  let weightsAt: number | null = null; // which round's checkpoint the backend holds
  const rounds: RoundSummary[] = [];

  const phase = async (round: number, name: Phase, total: number, work: (progress: (done: number) => void) => Promise<void>) => {
    if (store.phaseDone(round, name)) return;
    if (events.shouldStop?.()) throw new RoundStopped();
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

  const loadWeights = async (path: string, version: string, options?: { weightsOnly?: boolean }) => {
    await backend.load(path, options);
    [policy.version, policy.weightsPath] = [version, path];
    weightsAt = null;
  };

  // Held-out tasks, drawn once: every round evaluates on them and no round trains on their prompts.
  const heldOut = heldOutTasks(parts);
  const excluded = new Set(heldOut.map((t) => t.prompt));
  const labeled = labeledTasks(parts, excluded);
  const run: LoopRun = {
    parts,
    policy,
    events,
    heldOut,
    labeled,
    phase,
    useWeights,
    saveWeights,
    roundContext: (progress) => ({ policy, useWeights, loadWeights, saveWeights, progress, shouldStop: () => events.shouldStop?.() ?? false }),
  };
  const method = methodOf(recipe);
  try {
    // Round 0: the warm-up and the baseline.
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
    rounds.push(await evaluateRound(run, 0, undefined));

    for (let round = 1; round <= recipe.rounds; round++) {
      // tasks: the controllers plan the round from the history so far (the plan is stored with the round), then its tasks are drawn as planned (self-play proposes its own: planned, none drawn).
      await phase(round, 'tasks', 1, async () => {
        const plan = await planFor(run, round, excluded);
        if (method.drawsTasks) store.saveTasks(round, 'train', drawPlannedTasks(parts, plan, excluded));
      });
      // A run directory of store version 1 has the tasks of its rounds but no plans: planned again, from the same history.
      const plan = store.loadPlan(round)?.plan ?? (await planFor(run, round, excluded));
      await method.round(run, round, store.loadTasks(round, 'train') ?? [], plan);
      rounds.push(await evaluateRound(run, round, plan.frontier));
    }
    return { rounds, stopped: false, checkpoint: store.checkpoint(recipe.rounds)?.path };
  } catch (error) {
    if (error instanceof RoundStopped) return { rounds, stopped: true, checkpoint: rounds.at(-1)?.checkpoint };
    throw error;
  }
}
