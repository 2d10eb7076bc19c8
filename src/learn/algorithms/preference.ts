/**
 * Preference losses over pairs of completions of one prompt, a chosen y_w and
 * a rejected y_l, written, like every loss here, as a function of per-token
 * logprobs (DESIGN §2). Each is a pure function of a pair's sequence
 * logprobs; `preferenceLossFunction` spreads its derivative over the pair's
 * completion tokens and averages over pairs.
 *
 * Notation: s = Σ_t log π_θ(y_t | x, y_<t) over the completion's tokens, s_ref
 * the same under the frozen reference, |y| the completion's token count,
 * σ the logistic function, ε the label smoothing.
 *
 *   dpo    h = (s_w − s_ref,w) − (s_l − s_ref,l)
 *          −(1−ε)·log σ(βh) − ε·log σ(−βh)
 *          Rafailov et al. 2023, https://arxiv.org/abs/2305.18290 (ε: conservative DPO,
 *          Mitchell 2023, https://ericmitchell.ai/cdpo.pdf)
 *   ipo    h = (s_w − s_ref,w)/|y_w| − (s_l − s_ref,l)/|y_l|
 *          (h − 1/(2τ))², β as τ
 *          Azar et al. 2023, https://arxiv.org/abs/2310.12036 (Eq. 17)
 *   simpo  z = β·s_w/|y_w| − β·s_l/|y_l| − γ       (reference-free)
 *          −(1−ε)·log σ(z) − ε·log σ(−z)
 *          Meng et al. 2024, https://arxiv.org/abs/2405.14734
 *
 * Conventions checked against TRL (huggingface/trl, trl/trainer/dpo_trainer.py
 * and trl/experimental/cpo/cpo_trainer.py):
 * - sequence logprobs are sums over completion tokens (TRL masks the prompt
 *   with its completion_mask; we with weights > 0);
 * - IPO divides each log-ratio by its completion length, as TRL does (its
 *   comment: confirmed with the IPO authors; the paper writes sequence sums);
 * - SimPO is TRL's CPO `loss_type="simpo"`: average logprobs, logits minus γ/β,
 *   label smoothing as in cDPO;
 * - label smoothing on DPO is cDPO as TRL had it until its DPO refactor (#3906);
 *   TRL now keeps it only for its `robust` and `exo_pair` losses;
 * - rewards as TRL logs them: dpo and ipo β·(s − s_ref) (`rewards/chosen`,
 *   `rewards/rejected`, unnormalized even for IPO), simpo β·s/|y| (CPO's);
 *   accuracy is the share of pairs with chosen reward > rejected reward
 *   (strictly), margin the mean of their difference.
 */
import type { Datum, LossFunction, TrainingBackend } from '../../spec/training-backend.js';
import { InvalidArgumentError, InvalidConfigError } from '../../errors.js';
import { Registry } from '../../registry.js';

/** One pair as a preference loss sees it: sequence logprobs (sums over completion tokens) and completion lengths. */
export interface PairInput {
  /** s_w: Σ log π_θ over the chosen completion's tokens. */
  chosenLogprob: number;
  /** s_l: Σ log π_θ over the rejected completion's tokens. */
  rejectedLogprob: number;
  /** s_ref,w (0 for a reference-free loss). */
  chosenReference: number;
  /** s_ref,l (0 for a reference-free loss). */
  rejectedReference: number;
  /** |y_w|, at least 1. */
  chosenLength: number;
  /** |y_l|, at least 1. */
  rejectedLength: number;
}

/** The options a preference loss reads. */
export interface PreferenceLossOptions {
  /** β of DPO and SimPO; τ of IPO. */
  beta: number;
  /** ε: the probability that a preference label is flipped (cDPO); 0 disables. */
  labelSmoothing: number;
  /** γ: SimPO's target reward margin. */
  gamma: number;
}

/** A pair's loss, its derivative with respect to s_w and s_l, and the implicit rewards metrics report. */
export interface PairTerms {
  loss: number;
  /** d loss / d s_w. */
  dChosen: number;
  /** d loss / d s_l. */
  dRejected: number;
  chosenReward: number;
  rejectedReward: number;
}

export interface PreferenceLoss {
  description: string;
  /** Whether the loss reads the reference's sequence logprobs. */
  needsReference: boolean;
  /** Which of the optional settings the loss reads; setting another is an error. */
  reads: readonly ('labelSmoothing' | 'gamma')[];
  compute(pair: PairInput, options: PreferenceLossOptions): PairTerms;
}

export const preferenceLosses = new Registry<PreferenceLoss>('preference loss', 'preference.loss');

/** log σ(x) without overflow: −log(1 + e^−x) for x ≥ 0, x − log(1 + e^x) below. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/** σ(x) without overflow. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** −(1−ε)·log σ(z) − ε·log σ(−z) and its derivative in z: −(1−ε)·σ(−z) + ε·σ(z). */
function smoothedLogistic(z: number, epsilon: number): { value: number; derivative: number } {
  return {
    value: -(1 - epsilon) * logSigmoid(z) - epsilon * logSigmoid(-z),
    derivative: -(1 - epsilon) * sigmoid(-z) + epsilon * sigmoid(z),
  };
}

preferenceLosses.register('dpo', {
  description: 'direct preference optimization: −log σ(β·[(s_w − s_ref,w) − (s_l − s_ref,l)]), with cDPO label smoothing',
  needsReference: true,
  reads: ['labelSmoothing'],
  compute(p, { beta, labelSmoothing }) {
    const chosenRatio = p.chosenLogprob - p.chosenReference;
    const rejectedRatio = p.rejectedLogprob - p.rejectedReference;
    const { value, derivative } = smoothedLogistic(beta * (chosenRatio - rejectedRatio), labelSmoothing);
    return { loss: value, dChosen: beta * derivative, dRejected: -beta * derivative, chosenReward: beta * chosenRatio, rejectedReward: beta * rejectedRatio };
  },
});

preferenceLosses.register('ipo', {
  description: 'identity preference optimization: (h − 1/(2τ))² with h the difference of length-normalized log-ratios (TRL), β as τ',
  needsReference: true,
  reads: [],
  compute(p, { beta }) {
    const chosenRatio = p.chosenLogprob - p.chosenReference;
    const rejectedRatio = p.rejectedLogprob - p.rejectedReference;
    const residual = chosenRatio / p.chosenLength - rejectedRatio / p.rejectedLength - 1 / (2 * beta);
    return {
      loss: residual * residual,
      dChosen: (2 * residual) / p.chosenLength,
      dRejected: (-2 * residual) / p.rejectedLength,
      chosenReward: beta * chosenRatio,
      rejectedReward: beta * rejectedRatio,
    };
  },
});

preferenceLosses.register('simpo', {
  description: 'simple preference optimization: −log σ(β·s_w/|y_w| − β·s_l/|y_l| − γ), reference-free, with label smoothing',
  needsReference: false,
  reads: ['labelSmoothing', 'gamma'],
  compute(p, { beta, labelSmoothing, gamma }) {
    const chosenReward = (beta * p.chosenLogprob) / p.chosenLength;
    const rejectedReward = (beta * p.rejectedLogprob) / p.rejectedLength;
    const { value, derivative } = smoothedLogistic(chosenReward - rejectedReward - gamma, labelSmoothing);
    return { loss: value, dChosen: (beta / p.chosenLength) * derivative, dRejected: (-beta / p.rejectedLength) * derivative, chosenReward, rejectedReward };
  },
});

/** What a preference update is configured with. */
export interface PreferenceSettings {
  /** A name in `preferenceLosses`: dpo, ipo, simpo. */
  loss: string;
  /** β (τ for IPO); TRL's default is 0.1 for DPO; SimPO's paper uses β around 2. */
  beta: number;
  /** cDPO's ε in [0, 0.5) (dpo, simpo; default 0). */
  labelSmoothing?: number;
  /** SimPO's γ (default 0.5, TRL's simpo_gamma). */
  gamma?: number;
  /**
   * Pairs in the optimizer batch when it is split over several backward calls,
   * so the sum of the calls is the mean over the whole batch (default: this
   * call's pairs).
   */
  totalPairs?: number;
}

/** Sum of the logprobs of each datum's trained tokens (weights > 0; absent weights: every token) and their count. */
export function sequenceLogprobs(logprobs: readonly ArrayLike<number>[], batch: readonly Datum[]): { sums: number[]; lengths: number[] } {
  const sums: number[] = [];
  const lengths: number[] = [];
  batch.forEach((datum, i) => {
    const row = logprobs[i];
    const weights = datum.weights;
    if (weights && weights.length !== row.length) throw new InvalidArgumentError('batch', `datum ${i} has ${weights.length} weights for ${row.length} target tokens`);
    let sum = 0;
    let count = 0;
    for (let t = 0; t < row.length; t++) {
      if (weights && !(weights[t] > 0)) continue;
      sum += row[t];
      count++;
    }
    sums.push(sum);
    lengths.push(count);
  });
  return { sums, lengths };
}

/** The frozen reference's sequence logprobs of each datum (one `forward`, no gradients), as `preferenceLossFunction` takes them. */
export async function referenceSequenceLogprobs(reference: Pick<TrainingBackend, 'forward'>, batch: readonly Datum[]): Promise<number[]> {
  const { logprobs } = await reference.forward(batch);
  return sequenceLogprobs(logprobs, batch).sums;
}

/** The options of a settings object, checked: β positive, ε in [0, 0.5), and only options the loss reads. */
function resolveOptions(settings: PreferenceSettings, loss: PreferenceLoss): PreferenceLossOptions {
  const { beta, labelSmoothing, gamma, totalPairs } = settings;
  if (!(Number.isFinite(beta) && beta > 0)) throw new InvalidConfigError('preference.beta', `must be a positive number, got ${beta}`);
  for (const [key, value] of [['labelSmoothing', labelSmoothing], ['gamma', gamma]] as const) {
    if (value !== undefined && !loss.reads.includes(key)) throw new InvalidConfigError(`preference.${key}`, `the ${settings.loss} loss does not use it; remove it (read by: ${preferenceLosses.names().filter((n) => preferenceLosses.get(n).reads.includes(key)).join(', ')})`);
  }
  if (labelSmoothing !== undefined && !(labelSmoothing >= 0 && labelSmoothing < 0.5)) throw new InvalidConfigError('preference.labelSmoothing', `must lie in [0, 0.5), got ${labelSmoothing}`);
  if (gamma !== undefined && !Number.isFinite(gamma)) throw new InvalidConfigError('preference.gamma', `must be a finite number, got ${gamma}`);
  if (totalPairs !== undefined && !(Number.isInteger(totalPairs) && totalPairs > 0)) throw new InvalidConfigError('preference.totalPairs', `must be a positive integer, got ${totalPairs}`);
  return { beta, labelSmoothing: labelSmoothing ?? 0, gamma: gamma ?? 0.5 };
}

/**
 * The LossFunction of a batch of preference pairs. Layout: pairs are
 * consecutive datums, batch[2p] the chosen and batch[2p + 1] the rejected
 * completion of pair p (so a split into minibatches of even size keeps pairs
 * whole); each datum's completion tokens are those with weights > 0 (absent
 * weights: every target token), and only they receive gradient. The loss is
 * the mean over pairs (over `totalPairs` when given). `referenceLogprobs[i]`
 * is datum i's sequence logprob under the frozen reference
 * (`referenceSequenceLogprobs`); losses that need it refuse to run without.
 *
 * Metrics, means over this call's pairs: `preference/loss` (the mean loss),
 * `preference/accuracy`, `preference/margin`, `preference/chosen_reward`,
 * `preference/rejected_reward`, `preference/chosen_logprob`,
 * `preference/rejected_logprob` (sequence logprobs), and `preference/pairs`.
 */
export function preferenceLossFunction(settings: PreferenceSettings, referenceLogprobs?: readonly number[]): LossFunction {
  const loss = preferenceLosses.get(settings.loss);
  const options = resolveOptions(settings, loss);
  if (loss.needsReference && !referenceLogprobs) throw new InvalidArgumentError('referenceLogprobs', `the ${settings.loss} loss compares to a frozen reference: pass each datum's reference sequence logprob (referenceSequenceLogprobs(reference, batch))`);
  if (!loss.needsReference && referenceLogprobs) throw new InvalidArgumentError('referenceLogprobs', `the ${settings.loss} loss is reference-free; do not pass reference logprobs`);
  return (logprobs, batch) => {
    if (batch.length === 0 || batch.length % 2 !== 0) throw new InvalidArgumentError('batch', `a preference batch holds pairs (chosen, rejected) as consecutive datums; got ${batch.length} datums`);
    if (logprobs.length !== batch.length) throw new InvalidArgumentError('logprobs', `${logprobs.length} rows for ${batch.length} datums`);
    if (referenceLogprobs && referenceLogprobs.length !== batch.length) throw new InvalidArgumentError('referenceLogprobs', `${referenceLogprobs.length} values for ${batch.length} datums: give one per datum, chosen and rejected alike`);
    const { sums, lengths } = sequenceLogprobs(logprobs, batch);
    lengths.forEach((n, i) => {
      if (n === 0) throw new InvalidArgumentError('batch', `datum ${i} has no completion tokens (no weight > 0): a preference pair compares two completions`);
    });
    const pairs = batch.length / 2;
    const scale = 1 / (settings.totalPairs ?? pairs);
    const sumsOf = { loss: 0, correct: 0, margin: 0, chosenReward: 0, rejectedReward: 0, chosenLogprob: 0, rejectedLogprob: 0 };
    const grad = logprobs.map((row) => new Float32Array(row.length));
    for (let p = 0; p < pairs; p++) {
      const w = 2 * p;
      const l = w + 1;
      const terms = loss.compute(
        {
          chosenLogprob: sums[w],
          rejectedLogprob: sums[l],
          chosenReference: referenceLogprobs ? referenceLogprobs[w] : 0,
          rejectedReference: referenceLogprobs ? referenceLogprobs[l] : 0,
          chosenLength: lengths[w],
          rejectedLength: lengths[l],
        },
        options,
      );
      // d s / d logprob[t] is 1 on each completion token and 0 elsewhere.
      for (const [i, d] of [[w, terms.dChosen], [l, terms.dRejected]] as const) {
        const weights = batch[i].weights;
        const g = grad[i];
        for (let t = 0; t < g.length; t++) if (!weights || weights[t] > 0) g[t] = scale * d;
      }
      sumsOf.loss += terms.loss;
      sumsOf.correct += terms.chosenReward > terms.rejectedReward ? 1 : 0;
      sumsOf.margin += terms.chosenReward - terms.rejectedReward;
      sumsOf.chosenReward += terms.chosenReward;
      sumsOf.rejectedReward += terms.rejectedReward;
      sumsOf.chosenLogprob += sums[w];
      sumsOf.rejectedLogprob += sums[l];
    }
    return {
      loss: scale * sumsOf.loss,
      grad,
      metrics: {
        'preference/loss': sumsOf.loss / pairs,
        'preference/accuracy': sumsOf.correct / pairs,
        'preference/margin': sumsOf.margin / pairs,
        'preference/chosen_reward': sumsOf.chosenReward / pairs,
        'preference/rejected_reward': sumsOf.rejectedReward / pairs,
        'preference/chosen_logprob': sumsOf.chosenLogprob / pairs,
        'preference/rejected_logprob': sumsOf.rejectedLogprob / pairs,
        'preference/pairs': pairs,
      },
    };
  };
}
