/**
 * The end of every round: greedy accuracy and pass@k on the held-out tasks
 * (evaluate: rollouts of the single-turn environment around the tasks' own
 * verifier, and of the two-attempt one for self-correction), the monitors'
 * figures, phase timings and a remote sampler's spend (monitor), and the
 * round's summary.
 */
import type { SamplingOptions } from '../spec/policy.js';
import type { Task } from '../spec/task.js';
import type { Attempt, Trajectory } from '../spec/trajectory.js';
import type { LoopParts, LoopPolicy, LoopRun, RoundSummary } from './context.js';
import { greedyAccuracy } from '../learn/steps.js';
import { meanPassAtK } from '../monitors/metrics.js';
import { toAttempt } from '../learn/curate.js';
import { samplingOptions } from './refine.js';
import { seedFor } from './seeds.js';
import { singleTurnEnvironment } from '../environments/single-turn.js';
import { twoAttemptEnvironment } from '../environments/two-attempt.js';
import { rollout } from '../rollout/rollout.js';
import { correctionMetrics } from '../monitors/correction.js';
import { InternalError } from '../errors.js';

/** The evaluate and monitor phases of a round, and its summary. */
export async function evaluateRound(run: LoopRun, round: number, frontier: number | undefined): Promise<RoundSummary> {
  const { parts, policy, heldOut, events } = run;
  const { recipe, store } = parts;
  const phase = run.phase;
  const useWeights = run.useWeights;
  await phase(round, 'evaluate', heldOut.length, async () => {
    await useWeights(round);
    const metrics: Record<string, number> = {};
    if (heldOut.length) {
      const greedy = await heldOutAttempts(parts, policy, round, heldOut, { n: 1, temperature: 0, topP: 1, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop ?? [], seed: 0 });
      const { accuracy, byDifficulty } = greedyAccuracy(greedy);
      metrics['eval/accuracy'] = accuracy;
      // Self-correction on held-out tasks: attempt, the correction instruction, attempt (greedy).
      const selfCorrection = recipe.rl?.selfCorrection;
      if (recipe.eval.twoAttempt ?? selfCorrection !== undefined) {
        const environment = twoAttemptEnvironment(parts.verifier, { instruction: selfCorrection?.instruction, showFeedback: selfCorrection?.showFeedback });
        const trajectories = (await rollout(policy, environment, heldOut, { sampling: { n: 1, temperature: 0, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop, seed: 0 }, tokenizer: parts.tokenizer, provenance: { round }, policyVersion: policy.version, needs: 'text' })).flat();
        for (const [key, value] of Object.entries(correctionMetrics(trajectories))) metrics[`eval/${key}`] = value;
      }
      for (const [d, a] of Object.entries(byDifficulty)) metrics[`eval/accuracy/d${d}`] = a;
      if (recipe.eval.n > 0) {
        const sampling = samplingOptions(recipe, recipe.eval.n, recipe.eval.temperature, seedFor(recipe.seed, 'eval', round));
        const groups = await heldOutAttempts(parts, policy, round, heldOut, { ...sampling, topP: sampling.topP ?? 1, stop: sampling.stop ?? [] });
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
    // Self-play rounds report their own figures (proposer and solver, per task type) with the round's metrics; the monitors read their stored proposals and answers too.
    if (round > 0) {
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

/**
 * Attempts at held-out tasks, grouped per task: a rollout of the single-turn
 * environment around the tasks' own verifier (evaluation always measures
 * against the labels, whatever rewards the rounds). Text is all it reads, so
 * a server that returns no token ids can be evaluated.
 */
async function heldOutAttempts(parts: LoopParts, policy: LoopPolicy, round: number, tasks: readonly Task[], sampling: SamplingOptions): Promise<Attempt[][]> {
  const groups = await rollout(policy, singleTurnEnvironment(parts.verifier), tasks, { sampling, tokenizer: parts.tokenizer, provenance: { round }, policyVersion: policy.version, needs: 'text' });
  return groups.map((group) => group.map((trajectory) => attemptOf(trajectory, policy.version)));
}

/** A single-turn trajectory as the attempt evaluation metrics read. */
function attemptOf(trajectory: Trajectory, policyVersion: string): Attempt {
  const [turn] = trajectory.turns;
  return {
    task: trajectory.task,
    sample: trajectory.provenance.sampleIndex,
    kind: trajectory.provenance.kind,
    policyVersion,
    completion: turn.action,
    tokens: turn.actionTokens,
    logprobs: turn.logprobs,
    finishReason: turn.finishReason,
    verification: turn.verification ?? failUnscored(trajectory),
  };
}

function failUnscored(trajectory: Trajectory): never {
  throw new InternalError(`evaluation: the held-out attempt at task "${trajectory.task.id}" came back without a verdict; the single-turn environment scores every action`);
}

/** The monitors' view of a round, read back from the store. */
export function roundRecord(parts: LoopParts, round: number) {
  const tasks = new Map((parts.store.loadTasks(round, 'train') ?? []).map((t) => [t.id, t]));
  const samples = parts.store.loadSamples(round);
  // A sample of no drawn task (self-play's proposals and answers: the method made the task) is its own task.
  const attempts = new Map(samples.map((s) => [s.id, toAttempt(s, tasks.get(s.taskId) ?? { id: s.taskId, family: 'selfplay', prompt: s.prompt })]));
  // A group: the samples of one task in one step (RL rounds may draw a task in several steps).
  const groups = new Map<string, Attempt[]>();
  for (const s of samples) {
    const key = `${s.step ?? 0}/${s.taskId}`;
    if (s.kind === 'sample') (groups.get(key) ?? groups.set(key, []).get(key)!).push(attempts.get(s.id)!);
  }
  const accepted = parts.store.acceptedIds(round, round).map((id) => attempts.get(id)!).filter(Boolean);
  const refinements = samples.filter((s) => s.kind !== 'sample').map((s) => attempts.get(s.id)!);
  // Acceptance precision needs an accept filter: RL and self-play rounds have none.
  const labeledTruth = !parts.recipe.rl && !parts.recipe.selfplay && !parts.rewardVerifier && [...tasks.values()].every((t) => t.answer !== undefined); // with a reward verifier, the reward-vs-labels monitor compares instead
  return {
    round,
    groups: [...groups.values()],
    refinements,
    accepted,
    // Ground truth: the verifier's verdict, when every task carries its answer.
    isCorrect: labeledTruth ? (a: Attempt) => a.verification.status === 'scored' && a.verification.pass : undefined,
  };
}

