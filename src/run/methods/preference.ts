/**
 * Online iterative preference optimization from verifier-ranked pairs
 * (iterative DPO: Xiong et al. 2023, https://arxiv.org/abs/2312.11456;
 * Iterative RPO: Pang et al. 2024, https://arxiv.org/abs/2404.19733). A round —
 *
 *   sample n per task → score → curate pairs → update (preference loss) → checkpoint
 *
 * Pairs: per task, a passing attempt (chosen) and a failing one (rejected),
 * distinct (chosen, rejected) combinations of its distinct passing and failing
 * completions, at most `preference.pairsPerTask`, drawn seeded; a task with no
 * pass or no fail gives none (`pairs/tasks_without_pair`). The chosen side is
 * also saved as the round's accepted set (the monitors' accept/* figures).
 *
 * Update: `preference.steps` AdamW steps, `batchSize` pairs each (a seeded
 * shuffle per pass over the pairs), the loss from the registry
 * (src/learn/algorithms/preference.ts: dpo, ipo, simpo), with reference
 * sequence logprobs from the frozen reference backend holding the round-0
 * weights (`reference: base`) or the round's starting weights (`previous`,
 * as both papers do). Every round starts from the weights of the round
 * before with a fresh optimizer, as each iteration of Iterative RPO trains
 * M_t+1 from M_t. `nllCoef` adds Iterative RPO's NLL term on the chosen
 * completion, normalised by its length: loss = L_pref + nllCoef · (−log π(y_w|x)/|y_w|).
 * (The paper writes L_NLL + α·L_DPO with α = 1, so `nllCoef: 1` with dpo is its
 * loss up to the NLL's normaliser, which the paper takes over the whole
 * sequence; TRL's `rpo_alpha` weights the NLL, a token mean over the chosen
 * completion, as here.)
 *
 * Phases save what they make before they are marked done (pairs with the
 * round), so a killed run resumes exactly; a killed update is redone whole
 * from the same weights and seeds.
 */
import { Rng } from '../../engine/random.js';
import { datumFromSequence } from '../../engine/engine.js';
import { learningRateAt } from '../../engine/optimizer.js';
import type { Task } from '../../spec/task.js';
import type { Datum, LossFunction } from '../../spec/training-backend.js';
import type { PreferencePair, StoredSample } from '../../store/run-store.js';
import type { LoopParts, Method } from '../context.js';
import { preferenceLosses, preferenceLossFunction, referenceSequenceLogprobs, sequenceLogprobs } from '../../learn/algorithms/preference.js';
import { firstDistinct } from '../../learn/steps.js';
import { sampleAndScore } from '../phases.js';
import { seedFor } from '../seeds.js';
import { InvalidConfigError, RunStoreError } from '../../errors.js';

const passes = (s: StoredSample) => s.verification?.status === 'scored' && s.verification.pass;
const fails = (s: StoredSample) => s.verification?.status === 'scored' && !s.verification.pass;

/**
 * A round's pairs over its tasks (in task order), and how many tasks gave
 * none. Samples not scored (a verifier error, not applicable) are in neither side.
 */
export function preferencePairs(tasks: readonly Task[], samples: readonly StoredSample[], pairsPerTask: number, seed: number): { pairs: PreferencePair[]; tasksWithoutPair: number } {
  const byTask = new Map<string, StoredSample[]>();
  for (const s of samples) if (s.kind === 'sample') (byTask.get(s.taskId) ?? byTask.set(s.taskId, []).get(s.taskId)!).push(s);
  const rng = new Rng(seed, 0x9a1);
  const pairs: PreferencePair[] = [];
  let tasksWithoutPair = 0;
  for (const task of tasks) {
    const own = byTask.get(task.id) ?? [];
    const chosen = firstDistinct(own.filter(passes), Infinity, (s) => s.completion);
    // A text both passed and failed (a sampled judge) is no preference.
    const passed = new Set(chosen.map((s) => s.completion));
    const rejected = firstDistinct(own.filter((s) => fails(s) && !passed.has(s.completion)), Infinity, (s) => s.completion);
    if (chosen.length === 0 || rejected.length === 0) {
      tasksWithoutPair++;
      continue;
    }
    const combinations = chosen.flatMap((c) => rejected.map((r) => ({ taskId: task.id, chosenId: c.id, rejectedId: r.id })));
    pairs.push(...rng.shuffle(combinations).slice(0, pairsPerTask));
  }
  return { pairs, tasksWithoutPair };
}

/**
 * A sample as a datum: the prompt the policy read (BOS first), then the
 * tokens it sampled, with the stop string put back when one ended the sample
 * (as SFT examples do); weights mark the completion.
 */
function sampleDatum(parts: LoopParts, sample: StoredSample): Datum {
  const { tokenizer, recipe } = parts;
  const prompt = tokenizer.encode(sample.prompt, { addBos: true });
  const endedByStopString = sample.finishReason === 'stop' && sample.tokens.at(-1) !== tokenizer.eosId;
  const stop = endedByStopString && recipe.sample.stop[0] ? tokenizer.encode(recipe.sample.stop[0]) : [];
  return datumFromSequence([...prompt, ...sample.tokens, ...stop], prompt.length);
}

/** `loss` plus `coef` × the mean over pairs of the chosen completion's token-mean NLL (Iterative RPO's term); its metric `preference/nll`. */
export function withChosenNll(loss: LossFunction, coef: number): LossFunction {
  if (coef === 0) return loss;
  return (logprobs, batch) => {
    const result = loss(logprobs, batch);
    const grad = result.grad.map((row) => Float32Array.from(row));
    const { sums, lengths } = sequenceLogprobs(logprobs, batch);
    const pairs = batch.length / 2;
    let nll = 0;
    for (let w = 0; w < batch.length; w += 2) {
      nll -= sums[w] / lengths[w];
      const weights = batch[w].weights;
      // d(−s_w / |y_w|) / d logprob[t] = −1/|y_w| on each completion token.
      for (let t = 0; t < grad[w].length; t++) if (!weights || weights[t] > 0) grad[w][t] -= coef / (pairs * lengths[w]);
    }
    return { loss: result.loss + (coef * nll) / pairs, grad, metrics: { ...result.metrics, 'preference/nll': nll / pairs } };
  };
}

/** Preference optimization rounds: pairs of the policy's own passing and failing attempts replace curate → fine-tune. */
export const preference: Method = {
  name: 'preference',
  drawsTasks: true,
  // Curricula read a task as solved when one of its attempts passed.
  solvedBy: 'passed',
  async round(run, round, tasks, plan) {
    const { parts, phase } = run;
    const { recipe, store, backend } = parts;
    const settings = recipe.preference!;

    // sample and score: n attempts per task from the weights of the round before, and the verifier's verdicts.
    await sampleAndScore(run, round, tasks, plan.sampling);

    // curate: the round's pairs, saved with it; the chosen side as its accepted set.
    await phase(round, 'curate', 0, async () => {
      const samples = store.loadSamples(round, 'sample');
      const { pairs, tasksWithoutPair } = preferencePairs(tasks, samples, settings.pairsPerTask, seedFor(recipe.seed, 'pairs', round));
      const rewards = samples.flatMap((s) => (s.verification?.status === 'scored' ? [s.verification.reward] : []));
      store.savePairs(round, pairs);
      store.saveAccepted(round, [...new Set(pairs.map((p) => p.chosenId))].map((sampleId) => ({ sampleId, reason: 'chosen' })));
      store.saveMetrics(round, { 'pairs/count': pairs.length, 'pairs/tasks_without_pair': tasksWithoutPair, 'reward/mean': rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : 0 });
    });

    // update: preference.steps steps over the pairs from the round before's weights (fresh AdamW), then the round's checkpoint.
    await phase(round, 'update', settings.steps, async (progress) => {
      const start = store.checkpoint(round - 1);
      if (!start) throw new RunStoreError(store.path, `round ${round - 1} has no checkpoint to start round ${round}'s update from; start the run over with --fresh`);
      await run.roundContext(progress).loadWeights(start.path, start.policyVersion, { weightsOnly: true });
      const pairs = store.pairs(round);
      const samples = new Map(store.samplesById(pairs.flatMap((p) => [p.chosenId, p.rejectedId])).map((s) => [s.id, s]));
      const data = pairs.flatMap((p) => [sampleDatum(parts, samples.get(p.chosenId)!), sampleDatum(parts, samples.get(p.rejectedId)!)]); // chosen, rejected, …
      const reference = preferenceLosses.get(settings.loss).needsReference && data.length ? await referenceLogprobs(parts, data, settings.reference === 'base' ? 0 : round - 1, 2 * settings.batchSize) : undefined;
      const rng = new Rng(seedFor(recipe.seed, 'preference-order', round), 0x9a2);
      const sums = new Map<string, number>();
      let order: number[] = [];
      for (let step = 0; step < settings.steps && pairs.length; step++) {
        if (order.length === 0) order = rng.shuffle(pairs.map((_, i) => i));
        const batch = order.splice(0, settings.batchSize).flatMap((p) => [2 * p, 2 * p + 1]);
        const loss = preferenceLossFunction({ loss: settings.loss, beta: settings.beta, labelSmoothing: settings.labelSmoothing, gamma: settings.gamma }, reference && batch.map((i) => reference[i]));
        const { metrics } = await backend.forwardBackward(batch.map((i) => data[i]), withChosenNll(loss, settings.nllCoef));
        // Weight decay 0, as TRL's DPO; the cosine schedule of the SFT updates.
        const { gradNorm } = await backend.optimStep({ learningRate: learningRateAt({ kind: 'cosine', learningRate: settings.learningRate, warmupSteps: Math.floor(settings.steps / 20), totalSteps: settings.steps, minLearningRate: settings.learningRate / 10 }, step), weightDecay: 0, gradClipNorm: 1 });
        for (const [key, value] of [...Object.entries(metrics ?? {}).filter(([k]) => k.startsWith('preference/')), ['preference/grad_norm', gradNorm] as const]) sums.set(key, (sums.get(key) ?? 0) + value);
        progress(step + 1);
      }
      const steps = pairs.length ? settings.steps : 0;
      store.saveMetrics(round, { ...Object.fromEntries([...sums].map(([key, sum]) => [key, sum / steps])), 'preference/optimizer_steps': steps });
      await run.saveWeights(round, `round-${round}`);
    });
  },
};

/** Each datum's sequence logprob under the frozen reference, loaded with round `at`'s weights (chunks of `chunk` datums). */
async function referenceLogprobs(parts: LoopParts, data: readonly Datum[], at: number, chunk: number): Promise<number[]> {
  if (!parts.reference) throw new InvalidConfigError('preference.loss', `${parts.recipe.preference!.loss} compares to a frozen reference, and the run has no reference backend (LoopParts.reference): pass one, or use the reference-free simpo loss`);
  const saved = parts.store.checkpoint(at);
  if (!saved) throw new RunStoreError(parts.store.path, `round ${at} has no checkpoint to load as the preference reference; start the run over with --fresh`);
  await parts.reference.load(saved.path);
  const logprobs: number[] = [];
  for (let i = 0; i < data.length; i += chunk) logprobs.push(...(await referenceSequenceLogprobs(parts.reference, data.slice(i, i + chunk))));
  return logprobs;
}
