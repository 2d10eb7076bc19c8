/**
 * The policy-gradient update of RL rounds and self-play: a step's examples
 * (datum, sampling logprobs, advantage) through the recipe's loss, aggregation
 * and AdamW settings.
 */
import { Rng } from '../engine/random.js';
import type { UpdateSettings } from '../recipe/sections-rl.js';
import type { Datum, TrainingBackend } from '../spec/training-backend.js';
import { aggregationWeights, DEFAULT_LOSS_OPTIONS, klPenalties, policyLosses, policyLossFunction, type RlExample } from './algorithms/losses.js';

/**
 * The frozen reference's logprobs of each example's completion: attached as
 * `refLogprobs` when a KL penalty needs them, and in any case the mean k3 KL
 * between the sampling policy (the examples' logprobs) and the reference over
 * the examples' tokens, which is returned (policy/kl). `temperature`: the
 * one the examples were sampled at; the reference is read at it too, as the
 * policy is (TRL and verl divide both models' logits by it).
 */
export async function referenceKl(reference: TrainingBackend, examples: RlExample[], attach: boolean, temperature = 1): Promise<number> {
  if (examples.length === 0) return 0;
  const { logprobs } = await reference.forward(examples.map((e) => e.datum), temperature > 0 && temperature !== 1 ? { temperature } : undefined);
  const k3 = klPenalties.get('k3');
  let sum = 0;
  let tokens = 0;
  examples.forEach((e, i) => {
    const ref = logprobs[i].subarray(logprobs[i].length - e.oldLogprobs.length);
    e.oldLogprobs.forEach((lp, t) => (sum += k3.compute(lp, ref[t]).value));
    tokens += e.oldLogprobs.length;
    if (attach) e.refLogprobs = Array.from(ref);
  });
  return tokens ? sum / tokens : 0;
}

/**
 * epochs × minibatches of forwardBackward + optimStep over a step's examples;
 * returns the update's metrics. Without a KL penalty, completions the loss
 * says cannot contribute (advantage 0 under pg / ppo-clip / topr, e.g. every
 * member of an all-pass or all-fail GRPO group; passes under nsr; fails under
 * psr) are left out of the forward and backward passes: they add nothing to
 * the gradient, and the aggregation weights are still computed over the
 * whole minibatch, so the update is the same, for a fraction of the work.
 */
export async function policyUpdate(
  backend: TrainingBackend,
  examples: readonly RlExample[],
  rl: UpdateSettings & { normLength: number; samplingTemperature?: number },
  seed: number,
  /** An auxiliary supervised term (e.g. passing revisions of failed attempts): cross-entropy datums whose weights already carry its coefficient; added to the first minibatch's gradient, once per update. */
  auxiliary: readonly Datum[] = [],
): Promise<Record<string, number>> {
  // The policy's logprobs at the sampling temperature: the examples' oldLogprobs are the behaviour's, so the first epoch's ratios are 1 (at top-p 1).
  const forwardOptions = rl.samplingTemperature !== undefined && rl.samplingTemperature > 0 && rl.samplingTemperature !== 1 ? { temperature: rl.samplingTemperature } : undefined;
  const settings = { loss: rl.loss, options: { ...DEFAULT_LOSS_OPTIONS, ...definedOnly(rl.lossOptions) }, kl: { penalty: rl.kl.penalty, coef: rl.kl.coef } };
  const contributes = rl.kl.coef === 0 && examples.every((e) => !e.klCoef) ? policyLosses.get(rl.loss).contributes : undefined;
  const rng = new Rng(seed, 0x9e1);
  const sums = { tokens: 0, allTokens: 0, clipped: 0, ppoKl: 0, loss: 0, gradNorm: 0, optimizerSteps: 0, forwarded: 0, auxiliaryLoss: Number.NaN };
  for (let epoch = 0; epoch < rl.epochs; epoch++) {
    const order = examples.map((_, i) => i);
    if (rl.minibatches > 1 || epoch > 0) rng.shuffle(order);
    const size = Math.ceil(order.length / rl.minibatches);
    for (let start = 0; start < order.length; start += size) {
      const minibatch = order.slice(start, start + size).map((i) => examples[i]);
      const allWeights = aggregationWeights(minibatch.map((e) => e.oldLogprobs.length), rl.aggregation, rl.normLength);
      const kept = minibatch.map((e, i) => i).filter((i) => !contributes || contributes(minibatch[i]));
      sums.allTokens += minibatch.reduce((n, e) => n + e.oldLogprobs.length, 0);
      if (auxiliary.length && epoch === 0 && start === 0) sums.auxiliaryLoss = (await backend.forwardBackward(auxiliary, 'cross_entropy')).loss;
      if (kept.length) {
        const batch = kept.map((i) => minibatch[i]);
        const result = await backend.forwardBackward(batch.map((e) => e.datum), policyLossFunction(batch, kept.map((i) => allWeights[i]), settings), forwardOptions);
        const m = result.metrics;
        sums.tokens += m['policy/tokens'] ?? 0;
        sums.clipped += m['policy/clipped_sum'] ?? 0;
        sums.ppoKl += m['policy/ppo_kl_sum'] ?? 0;
        sums.loss += result.loss;
        sums.forwarded += batch.length;
      }
      // A minibatch with nothing to learn still takes its optimizer step, as it would had it been computed in full.
      const { gradNorm } = await backend.optimStep({ learningRate: rl.learningRate, beta1: rl.adam.beta1, beta2: rl.adam.beta2, weightDecay: rl.weightDecay, gradClipNorm: rl.gradClipNorm });
      sums.gradNorm += gradNorm;
      sums.optimizerSteps++;
    }
  }
  return {
    // Over every token of the batch (a left-out token is never clipped), as verl counts it.
    'policy/clip_ratio': sums.allTokens ? sums.clipped / sums.allTokens : 0,
    // Over the tokens that went through the forward pass.
    'policy/ppo_kl': sums.tokens ? sums.ppoKl / sums.tokens : 0,
    'policy/loss': sums.optimizerSteps ? sums.loss / sums.optimizerSteps : 0,
    'policy/grad_norm': sums.optimizerSteps ? sums.gradNorm / sums.optimizerSteps : 0,
    'policy/optimizer_steps': sums.optimizerSteps,
    'train/forward_completions': sums.forwarded,
    ...(Number.isNaN(sums.auxiliaryLoss) ? {} : { 'refine/sft_loss': sums.auxiliaryLoss }),
  };
}

export function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
