/**
 * A policy-gradient round (GRPO and kin): `rl.steps` steps, each on fresh
 * samples from the current weights —
 *
 *   collect groups (fixed │ DAPO │ Reinforce-Ada) → advantages → reference
 *   logprobs → epochs × minibatches of forwardBackward(policy loss) + optimStep
 *
 * Every step saves its samples and scores, then its weights (two checkpoint
 * slots used in turn, so a kill during a save never loses the last finished
 * step), then its metrics and state (one step row, src/store/steps.ts); a
 * killed round resumes at the first unfinished step, redoing that step whole
 * from the same seeds.
 */
import type { SamplingOptions } from '../../spec/policy.js';
import type { Task } from '../../spec/task.js';
import type { RoundPlan } from '../../spec/controller.js';
import type { Trajectory } from '../../spec/trajectory.js';
import { reflectInStep } from '../refine.js';
import { advantageEstimators, computeAdvantages, meanStd, type GroupStatistics } from '../../learn/algorithms/advantages.js';
import { policyLosses, type RlExample } from '../../learn/algorithms/losses.js';
import { definedOnly, policyUpdate, referenceKl } from '../../learn/policy-gradient.js';
import { collectGroups, type ScoredCompletion } from '../../learn/algorithms/collection.js';
import type { LoopParts, Method, RoundContext } from '../context.js';
import { RoundStopped } from '../context.js';
import { finishRoundWeights, referenceBackend, roundMetrics, saveStepWeights, startRoundWeights } from '../weights.js';
import { seedFor } from '../seeds.js';
import { singleTurnEnvironment } from '../../environments/single-turn.js';
import { rollout } from '../../rollout/rollout.js';
import { trajectoryDatum } from '../../rollout/datums.js';
import { twoAttemptEnvironment } from '../../environments/two-attempt.js';
import { correctionMetrics } from '../../monitors/correction.js';
import { selfCorrectionExamples, storeTrajectories } from '../trajectories.js';
import { InvalidConfigError } from '../../errors.js';
import { greedyBaselines, savedRoundState, taskOrder, type RlStepState, type RoundState } from '../policy-gradient-steps.js';

/** Runs (or resumes) the steps of RL round `round` over the round's task pool. */
export async function runRlRound(parts: LoopParts, round: number, pool: readonly Task[], context: RoundContext, plan: Pick<RoundPlan, 'sampling'> = { sampling: { n: parts.recipe.sample.n, temperature: parts.recipe.sample.temperature, topP: parts.recipe.sample.topP } }): Promise<void> {
  const { recipe, store, backend, tokenizer } = parts;
  const verifier = parts.rewardVerifier ?? parts.verifier;
  const rl = recipe.rl!;
  if (pool.length === 0) throw new InvalidConfigError('tasks', `round ${round} has no tasks to train on (the task source returned none for this round's difficulties): give tasks at those difficulties or narrow the curriculum to the ones the tasks have`);
  const estimator = advantageEstimators.get(rl.advantage);
  const loss = policyLosses.get(rl.loss);
  const state: RoundState = savedRoundState(store, round);
  await startRoundWeights(parts, round, context, state, rl.steps, 'RL');
  // SCoRe's per-attempt KL terms need the reference whatever rl.kl says.
  const reference = await referenceBackend(parts, rl.selfCorrection ? { coef: Math.max(rl.selfCorrection.beta1, rl.selfCorrection.beta2), track: true } : rl.kl);
  const order = taskOrder(pool, seedFor(recipe.seed, 'rl-order', round));

  for (let step = state.steps; step < rl.steps; step++) {
    if (context.shouldStop()) throw new RoundStopped();
    store.deleteStepSamples(round, step); // what a killed attempt at this step left
    const timing = { sample: 0, advantage: 0, refine: 0, reference: 0, update: 0, checkpoint: 0 };
    const clock = () => performance.now();
    let cursor = state.cursor;
    const next = (count: number) => Array.from({ length: count }, () => order.at(cursor++));
    const indexOf = new Map<string, number>();
    let errors = 0;
    const entropy = { sum: 0, tokens: 0 }; // of the sampling policy, over every token it sampled this step
    const score = rl.selfCorrection;
    const environment = score ? twoAttemptEnvironment(verifier, { instruction: score.instruction, showFeedback: score.showFeedback }) : singleTurnEnvironment(verifier);
    const storedIds = new Map<Trajectory, number>(); // each sampled trajectory's (first turn's) row in the run store
    const trajectories: Trajectory[] = [];
    const draw = async (tasks: readonly Task[], n: number, call: number): Promise<ScoredCompletion[][]> => {
      const started = clock();
      const sampling: SamplingOptions = { n, temperature: plan.sampling.temperature, topP: plan.sampling.topP, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop, seed: seedFor(recipe.seed, 'rl-sample', round, step, call), entropy: true };
      // Sampling and scoring are one rollout: each task's group is scored together (majority vote needs it; a judge batches one call over all).
      const groups = await rollout(context.policy, environment, tasks, { sampling, tokenizer, provenance: { round, step }, policyVersion: context.policy.version });
      timing.sample += clock() - started;
      for (const turn of groups.flat().flatMap((trajectory) => trajectory.turns)) {
        for (const h of turn.entropy ?? []) entropy.sum += h;
        entropy.tokens += turn.entropy?.length ?? 0;
      }
      trajectories.push(...groups.flat());
      for (const [trajectory, id] of storeTrajectories(store, groups.flat(), indexOf, { ...sampling, call }, verifier)) storedIds.set(trajectory, id);
      return groups.map((group) =>
        group.flatMap((trajectory): ScoredCompletion[] => {
          if (trajectory.reward === null) {
            errors++;
            return [];
          }
          return [{ task: trajectory.task, trajectory, reward: trajectory.reward, pass: trajectory.pass, rewardParts: trajectory.rewardParts }];
        }),
      );
    };
    const collection = await collectGroups(rl.sampling, { prompts: rl.promptsPerStep, n: plan.sampling.n }, next, draw);
    const groups = collection.groups.filter((g) => g.members.length > 0);

    // Advantages over the kept groups.
    let started = clock();
    const greedyRewards = estimator.needs?.includes('greedy') ? await greedyBaselines(parts, context.policy, groups, round, step) : undefined;
    const members = groups.flatMap((g, gi) => g.members.map((m) => ({ member: m, group: gi, passRate: g.passRate })));
    // Multi-part rewards reach the estimator when the verifier reported parts for every completion.
    const rewardParts = members.length && members.every((m) => m.member.rewardParts) ? members.map((m) => m.member.rewardParts!) : undefined;
    const statistics = new Map<number, GroupStatistics>();
    groups.forEach((g, gi) => g.statistics && statistics.set(gi, g.statistics));
    const { advantages, metrics: advantageMetrics } = score
      ? { advantages: [] as number[], metrics: {} }
      : computeAdvantages(
          rl.advantage,
          { rewards: members.map((m) => m.member.reward), groups: members.map((m) => m.group), lengths: members.map((m) => m.member.trajectory.turns[0].actionTokens.length), groupStatistics: statistics.size ? statistics : undefined, greedyRewards, rewardParts },
          definedOnly(rl.advantageOptions),
        );
    const examples: RlExample[] = [];
    // SCoRe: each attempt trains on the context before it, with its stage's reward and KL coefficient; else each completion on its prompt.
    const corrections = score ? selfCorrectionExamples(members.map(({ member, group, passRate }) => ({ trajectory: member.trajectory, group, pass: member.pass, passRate })), score, rl.advantage, definedOnly(rl.advantageOptions)) : undefined;
    if (corrections) examples.push(...corrections.examples);
    const absAdvantages = (state.absAdvantages ??= {});
    members.forEach(({ member }, i) => {
      const entry = (absAdvantages[member.task.id] ??= { sum: 0, count: 0 });
      entry.sum += corrections ? corrections.absAdvantages[i] : Math.abs(advantages[i]);
      entry.count++;
    });
    if (!corrections) {
      members.forEach(({ member, passRate }, i) => {
        if (member.trajectory.turns[0].actionTokens.length === 0) return; // an empty completion (a stop string at once) counts in the rewards and baselines, but has no tokens to train
        // The tokens the policy read and wrote; the importance ratios divide by the behaviour logprobs (the temperature and top-p sampled at).
        const { datum, behaviourLogprobs } = trajectoryDatum(member.trajectory);
        examples.push({ datum, oldLogprobs: behaviourLogprobs, advantage: advantages[i], pass: member.pass, passRate });
      });
    }
    timing.advantage += clock() - started;

    // Refine: Re-ReST reflection on the step's failed attempts; passing revisions train as an auxiliary supervised term.
    started = clock();
    const failed = recipe.reflect.enabled ? members.filter(({ member }) => !member.pass).map(({ member }) => ({ task: member.task, sampleId: storedIds.get(member.trajectory)!, text: member.trajectory.turns[0].action, feedback: member.trajectory.turns[0].feedback })) : [];
    const reflection = recipe.reflect.enabled ? await reflectInStep(parts, round, step, failed) : { datums: [], metrics: {} };
    timing.refine += clock() - started;

    // Reference logprobs: the KL penalty's, and policy/kl (k3 between the sampling policy and the reference, over the tokens of the completions the step trains on).
    started = clock();
    const kl = reference && examples.length ? await referenceKl(reference, examples, rl.kl.coef > 0 || examples.some((e) => !!e.klCoef), plan.sampling.temperature) : undefined;
    timing.reference += clock() - started;

    started = clock();
    // A step with nothing to train on (e.g. DAPO found no group with mixed rewards) takes no optimizer step.
    const update = examples.length ? await policyUpdate(backend, examples, { ...rl, normLength: rl.normLength ?? recipe.sample.maxTokens, samplingTemperature: plan.sampling.temperature }, seedFor(recipe.seed, 'rl-minibatch', round, step), reflection.datums) : { 'policy/optimizer_steps': 0, 'train/forward_completions': 0 };
    if (kl !== undefined) update['policy/kl'] = kl;
    if (entropy.tokens) update['policy/entropy'] = entropy.sum / entropy.tokens;
    timing.update += clock() - started;

    started = clock();
    await saveStepWeights(parts, round, step, context);
    timing.checkpoint += clock() - started;

    const trainedAdvantages = examples.map((e) => e.advantage);
    const stepMetrics: Record<string, number> = {
      'sampling/completions': collection.sampled,
      'sampling/prompts': collection.prompts,
      'sampling/calls': collection.calls,
      'sampling/frac_zero_variance_prompts': collection.prompts ? collection.zeroVariancePrompts / collection.prompts : 0,
      'sampling/frac_zero_variance_groups': groups.length ? groups.filter((g) => g.members.every((m) => m.reward === g.members[0].reward)).length / groups.length : 0,
      'sampling/groups': groups.length,
      'sampling/verify_errors': errors,
      'reward/batch_mean': members.length ? members.reduce((s, m) => s + m.member.reward, 0) / members.length : 0,
      'advantage/mean': meanStd(trainedAdvantages).mean,
      'advantage/std': meanStd(trainedAdvantages).std,
      'train/completions': examples.length,
      ...advantageMetrics,
      ...reflection.metrics,
      ...(score ? correctionMetrics(trajectories) : {}),
      ...update,
      ...Object.fromEntries(Object.entries(timing).map(([name, ms]) => [`timing_ms/${name}`, ms])),
    };
    state.steps = step + 1;
    state.cursor = cursor;
    state.metrics.push(stepMetrics);
    store.saveStep(round, 'rl', step, { state: { cursor, absAdvantages } satisfies RlStepState, metrics: stepMetrics });
    context.progress(step + 1);
  }
  store.saveMetrics(round, roundMetrics(state.metrics));
  await finishRoundWeights(parts, round, context);
}

/** Policy gradient (GRPO and kin): `rl.steps` steps on fresh groups replace sample → … → update. */
export const policyGradient: Method = {
  name: 'policy-gradient',
  drawsTasks: true,
  solvedBy: 'passed',
  async round(run, round, tasks, plan) {
    const { parts } = run;
    await run.phase(round, 'rl', parts.recipe.rl!.steps, async (progress) => {
      await runRlRound(parts, round, tasks, run.roundContext(progress), plan);
    });
  },
};
