/**
 * Store-backed steps shared by methods: the environment self-training
 * samples in, scoring every unscored sample of a round (a task's group
 * together), Re-ReST reflection on failures and STaR rationalization of
 * unsolved tasks. Each saves what it makes chunk by chunk and skips what a
 * killed run already saved.
 */
import type { Recipe } from '../recipe/schema.js';
import type { Completion, Policy, SamplingOptions } from '../spec/policy.js';
import type { Environment } from '../spec/environment.js';
import type { Verifier } from '../spec/verifier.js';
import type { Task } from '../spec/task.js';
import type { TrajectoryKind } from '../spec/trajectory.js';
import type { SampleRow, StoredSample } from '../store/run-store.js';
import type { LoopParts } from './context.js';
import type { Datum } from '../spec/training-backend.js';
import { datumFromSequence, meanOverTokens } from '../engine/engine.js';
import { fillTemplate } from '../rollout/reflect.js';
import { seedFor } from './seeds.js';
import { scoreGroups } from '../verifiers/groups.js';
import { singleTurnEnvironment, unscoredEnvironment, type SingleTurnOptions } from '../environments/single-turn.js';
import { rollout } from '../rollout/rollout.js';
import { storeTrajectories } from './trajectories.js';
import { InvalidConfigError, RunStoreError } from '../errors.js';

/** Sampling options of the recipe with a given n, temperature and seed. */
export function samplingOptions(recipe: Recipe, n: number, temperature: number, seed: number): SamplingOptions {
  return { n, temperature, topP: recipe.sample.topP, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop, seed };
}

export function sampleRow(round: number, kind: TrajectoryKind, task: Task, index: number, prompt: string, completion: Completion, policyVersion: string, sampler: SamplingOptions, parentId?: number): SampleRow {
  return { round, kind, taskId: task.id, sampleIndex: index, parentId, prompt, completion: completion.text, tokens: completion.tokens, logprobs: completion.logprobs, finishReason: completion.finishReason, policyVersion: completion.policyVersion ?? policyVersion, sampler: { ...sampler } };
}

/**
 * The single-turn environment self-training samples in (its sample phase,
 * rationalization), and the verifier its verdicts are stored under. The
 * tasks' verifier scores each chunk in its rollout. A recipe's reward
 * verifier (a judge, a vote) scores later, in scoreUnscored: a judge batches
 * one call over the round's groups (up to ~256 completions, across chunks)
 * and draws its seed from that batch's prompts, so judging chunk by chunk
 * would judge the same samples with other seeds than every run before (a
 * vote would score the same either way; one rule for reward verifiers).
 */
export function samplingEnvironment(parts: LoopParts, options: SingleTurnOptions = {}): { environment: Environment; verifier: Verifier } {
  if (parts.rewardVerifier) return { environment: unscoredEnvironment(options), verifier: parts.rewardVerifier };
  return { environment: singleTurnEnvironment(parts.verifier, options), verifier: parts.verifier };
}

/**
 * Scores every sample of a round that has no score yet, a group at a time
 * (the samples of one task and kind, which a group verifier such as majority
 * vote scores together), in chunks of about 256 samples (each saved at once).
 */
export async function scoreUnscored(parts: LoopParts, round: number, byId: Map<string, Task>): Promise<void> {
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
export async function reflect(parts: LoopParts, round: number, samples: StoredSample[], byId: Map<string, Task>, policyVersion: string): Promise<void> {
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

/**
 * STaR rationalization: tasks none of whose samples passed are tried again
 * with the answer as a hint — a rollout of the single-turn environment whose
 * observation is the hint prompt (scored as the sample phase scores).
 */
export async function rationalize(parts: LoopParts, policy: Policy, round: number, samples: StoredSample[], byId: Map<string, Task>): Promise<void> {
  const { recipe, store } = parts;
  const solved = new Set(samples.filter((s) => s.verification?.status === 'scored' && s.verification.pass).map((s) => s.taskId));
  const done = new Set(store.loadSamples(round, 'rationalization').map((s) => s.taskId));
  const unsolved = [...new Set(samples.map((s) => s.taskId))].filter((id) => !solved.has(id) && byId.get(id)?.answer !== undefined);
  const { environment, verifier } = samplingEnvironment(parts, { observation: (task) => fillTemplate(recipe.rationalize.template, { prompt: task.prompt, answer: task.answer! }) });
  const chunk = recipe.sample.chunk;
  for (let c = 0; c * chunk < unsolved.length; c++) {
    const part = unsolved.slice(c * chunk, (c + 1) * chunk).filter((id) => !done.has(id)).map((id) => byId.get(id)!);
    if (part.length === 0) continue;
    const sampling = samplingOptions(recipe, recipe.rationalize.n, recipe.rationalize.temperature, seedFor(recipe.seed, 'rationalize', round, c));
    const groups = await rollout(policy, environment, part, { sampling, tokenizer: parts.tokenizer, provenance: { round, kind: 'rationalization' }, policyVersion: policy.version, needs: 'text' });
    storeTrajectories(store, groups.flat(), new Map(), { ...sampling }, verifier);
  }
}

/** What a policy-gradient step's reflection made: revisions stored with their scores, and supervised datums of the passing ones. */
export interface StepReflection {
  /** Cross-entropy datums (original prompt → passing revision, EOS appended where the revision did not end with it), weights = coef / trained tokens. */
  datums: Datum[];
  metrics: Record<string, number>;
}

/**
 * Re-ReST (https://arxiv.org/abs/2406.01495) inside a policy-gradient step:
 * the reflector revises up to `reflect.perTask` failed attempts per task from
 * their feedback; revisions are scored by the reward verifier and stored
 * (kind `reflection`, with the step and the failed sample as parent); the
 * passing ones train as an auxiliary supervised term on the task's own prompt
 * — their sampled tokens, weight `reflect.coef` — beside the policy loss
 * (docs/methods.md says why not as off-policy group members).
 */
export async function reflectInStep(parts: LoopParts, round: number, step: number, failed: readonly { task: Task; sampleId: number; text: string; feedback: string }[]): Promise<StepReflection> {
  const { recipe, store, tokenizer } = parts;
  if (!parts.reflector) throw new InvalidConfigError('reflect.enabled', 'is true, but no reflector was given (LoopParts.reflector); openRun builds one from the recipe');
  const perTask = new Map<string, number>();
  const chosen = failed.filter((f) => {
    const count = perTask.get(f.task.id) ?? 0;
    if (count >= recipe.reflect.perTask) return false;
    perTask.set(f.task.id, count + 1);
    return true;
  });
  const metrics: Record<string, number> = { 'refine/failed': failed.length, 'refine/reflected': chosen.length, 'refine/revisions': 0, 'refine/passed': 0, 'refine/sft_examples': 0 };
  if (chosen.length === 0) return { datums: [], metrics };
  const seed = seedFor(recipe.seed, 'rl-reflect', round, step);
  const reflections = await parts.reflector.reflect(chosen.map((f) => ({ task: f.task, attempt: f.text, feedback: f.feedback })), { n: recipe.reflect.n, seed });
  const verifier = parts.rewardVerifier ?? parts.verifier;
  const verdicts = await scoreGroups(verifier, chosen.map((f, i) => ({ task: f.task, completions: reflections[i].revisions.map((r) => r.text) })));
  const sampler = { ...samplingOptions(recipe, recipe.reflect.n, recipe.reflect.temperature, seed), reflector: parts.reflector.name };
  const index = new Map<string, number>();
  const rows = chosen.flatMap((f, i) =>
    reflections[i].revisions.map((revision) => {
      const sampleIndex = index.get(f.task.id) ?? 0;
      index.set(f.task.id, sampleIndex + 1);
      return { ...sampleRow(round, 'reflection', f.task, sampleIndex, reflections[i].prompt, revision, `round-${round}-step-${step}`, sampler, f.sampleId), step };
    }),
  );
  const ids = store.saveSamples(rows);
  store.saveScores(verdicts.flat().map((verification, k) => ({ sampleId: ids[k], verifier: { name: verifier.name, version: verifier.version }, verification })));
  const passing: number[][] = [];
  chosen.forEach((f, i) =>
    reflections[i].revisions.forEach((revision, j) => {
      const verdict = verdicts[i][j];
      if (verdict.status !== 'scored' || !verdict.pass || revision.tokens.length === 0) return;
      const promptIds = tokenizer.encode(f.task.prompt, { addBos: true });
      const tokens = revision.tokens.at(-1) === tokenizer.eosId ? revision.tokens : [...revision.tokens, tokenizer.eosId];
      passing.push([promptIds.length, ...promptIds, ...tokens]);
    }),
  );
  const revisions = reflections.reduce((n, r) => n + r.revisions.length, 0);
  const passed = verdicts.flat().filter((v) => v.status === 'scored' && v.pass).length;
  Object.assign(metrics, { 'refine/revisions': revisions, 'refine/passed': passed, 'refine/pass_rate': revisions ? passed / revisions : 0, 'refine/sft_examples': passing.length });
  const coef = recipe.reflect.coef ?? DEFAULT_REFLECT_COEF;
  const datums = meanOverTokens(passing.map(([promptLength, ...sequence]) => datumFromSequence(sequence, promptLength))).map((d) => ({ ...d, weights: Array.from(d.weights!, (w) => w * coef) }));
  return { datums, metrics };
}

/** Weight of the revisions' supervised term in a policy-gradient step when `reflect.coef` is not set. */
export const DEFAULT_REFLECT_COEF = 0.1;
