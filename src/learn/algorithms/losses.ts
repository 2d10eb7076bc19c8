/**
 * Policy losses, KL penalties and loss aggregation for policy-gradient
 * updates. Each policy loss is a pure function of one completion — its
 * per-token logprobs under the current weights, under the policy that sampled
 * it, its advantage and verdict — returning a value and d(value)/d(logprob)
 * per token. `policyLossFunction` combines them over a batch into the
 * LossFunction a TrainingBackend backpropagates (DESIGN §2: every loss is a
 * function of per-token logprobs of chosen tokens).
 *
 * Policy losses (`rl.loss`):
 *   pg           −A·log π                                 REINFORCE (exact on-policy)
 *   ppo-clip     max(−A·ρ, −A·clip(ρ, 1−ε_low, 1+ε_high)), dual clip at c for A < 0   PPO, https://arxiv.org/abs/1707.06347; DAPO clip-higher, https://arxiv.org/abs/2503.14476
 *   topr         positives: −A·log π; negatives: −sg(clip(ρ_seq, 0, 1))·A·log π        TOPR, https://arxiv.org/abs/2503.14286
 *   psr          ppo-clip with A = +1 on passing completions; failing ones leave the batch   https://arxiv.org/abs/2506.01347
 *   nsr          ppo-clip with A = −1 on failing completions; passing ones leave the batch   (same paper)
 *   w-reinforce  ppo-clip with A = λ on passing, −1 on failing (λ = 0.1)                      (same paper)
 *   nft          negative-aware fine-tuning: passing −log ρ, failing −log max((1 − r̂ρ)/(1 − r̂), c),
 *                each weighted by ω = 1 − r̂ (r̂ the prompt's pass rate)     https://arxiv.org/abs/2505.18116
 * with ρ = π/π_old per token (ρ_seq: the product over the completion). psr,
 * nsr and w-reinforce ignore the estimator's advantages, as the paper's code
 * does (RLVR-Decomposed); the completions they ignore keep counting in the
 * token-mean denominator, as there. On-policy (ρ = 1) they are ∓log π.
 *
 * KL penalties to a frozen reference (`rl.kl.penalty`), x = log π − log π_ref:
 *   k1  x        k2  x²/2        k3  exp(−x) + x − 1   (Schulman's estimators, http://joschu.net/blog/kl-approx.html)
 *
 * Aggregation (`rl.aggregation`), how token values become the batch loss:
 *   token-mean               Σ_i Σ_t v / Σ_i |o_i|            (DAPO; long completions weigh more)
 *   seq-mean-token-mean      (1/B) Σ_i (1/|o_i|) Σ_t v          (the original GRPO)
 *   seq-mean-token-sum       (1/B) Σ_i Σ_t v
 *   seq-mean-token-sum-norm  (1/(B·L)) Σ_i Σ_t v, L a constant (Dr. GRPO: the generation budget)
 */
import type { Datum, LossFunction } from '../../spec/training-backend.js';
import { Registry } from '../../registry.js';
import { InternalError } from '../../errors.js';

/** One completion as a policy loss sees it. */
export interface SequenceInput {
  /** log π_θ of each completion token under the current weights. */
  logprobs: ArrayLike<number>;
  /** log of each token under the policy that sampled it (π_old). */
  oldLogprobs: ArrayLike<number>;
  /** The completion's advantage (the same for all its tokens). */
  advantage: number;
  /** The verifier passed it. */
  pass: boolean;
  /** Share of its prompt's sampled completions that passed (NFT's r̂_q). */
  passRate: number;
}

export interface PolicyLossOptions {
  /** ppo-clip: lower clip range, ρ ≥ 1 − clipLow. */
  clipLow: number;
  /** ppo-clip: upper clip range, ρ ≤ 1 + clipHigh (DAPO's clip-higher raises it). */
  clipHigh: number;
  /** ppo-clip: dual-clip bound c for negative advantages (0 disables). */
  dualClip: number;
  /** w-reinforce: weight λ of positive samples. */
  lambda: number;
  /** nft: floor c of the implicit negative ratio (1 − r̂ρ)/(1 − r̂) inside the log (NVlabs/NFT's clamp_negative). */
  nftClamp: number;
}

export const DEFAULT_LOSS_OPTIONS: PolicyLossOptions = { clipLow: 0.2, clipHigh: 0.2, dualClip: 3, lambda: 0.1, nftClamp: 1 };

/** Per-token loss values and d(value)/d(logprob); `clipped` counts tokens whose gradient clipping removed. */
export interface TokenTerms {
  values: Float64Array;
  grads: Float64Array;
  clipped: number;
}

export interface PolicyLoss {
  description: string;
  /**
   * Whether a completion can have a non-zero loss or gradient under this loss
   * (absent a KL penalty). Completions for which it is false still count in
   * the aggregation's denominators, but the update may leave them out of the
   * forward and backward passes. Absent: every completion contributes.
   */
  contributes?(sequence: { advantage: number; pass: boolean }): boolean;
  compute(sequence: SequenceInput, options: PolicyLossOptions): TokenTerms;
}

export const policyLosses = new Registry<PolicyLoss>('policy loss', 'rl.loss');

/** Token terms of a loss linear in log π with a constant coefficient: value = −coef·log π, grad = −coef. */
function linear(logprobs: ArrayLike<number>, coef: number): TokenTerms {
  const n = logprobs.length;
  const values = new Float64Array(n);
  const grads = new Float64Array(n);
  if (coef !== 0) {
    for (let t = 0; t < n; t++) {
      values[t] = -coef * logprobs[t];
      grads[t] = -coef;
    }
  }
  return { values, grads, clipped: 0 };
}

/** π/π_old per token, with the log-ratio clamped to ±20 against overflow (verl does the same). */
function ratio(logprob: number, oldLogprob: number): number {
  return Math.exp(Math.max(-20, Math.min(20, logprob - oldLogprob)));
}

policyLosses.register('pg', {
  description: 'REINFORCE: −A·log π (ignores the sampling policy; exact when on-policy)',
  contributes: (s) => s.advantage !== 0,
  compute: (s) => linear(s.logprobs, s.advantage),
});

/** PPO's clipped surrogate per token: max(−A·ρ, −A·clip(ρ, 1−clipLow, 1+clipHigh)), then min(·, −A·c) for A < 0 (dual clip). */
function ppoClip(s: SequenceInput, advantage: number, { clipLow, clipHigh, dualClip }: PolicyLossOptions): TokenTerms {
  const n = s.logprobs.length;
  const values = new Float64Array(n);
  const grads = new Float64Array(n);
  let clipped = 0;
  const A = advantage;
  for (let t = 0; t < n; t++) {
    const rho = ratio(s.logprobs[t], s.oldLogprobs[t]);
    const unclipped = -A * rho;
    const bounded = -A * Math.min(Math.max(rho, 1 - clipLow), 1 + clipHigh);
    // The unclipped branch carries the gradient d(−A·ρ)/d log π = −A·ρ; a clipped one none.
    let value = unclipped;
    let grad = -A * rho;
    if (bounded > unclipped) {
      value = bounded;
      grad = 0;
      clipped++;
    } else if (A < 0 && dualClip > 0 && -A * dualClip < value) {
      value = -A * dualClip;
      grad = 0;
      clipped++;
    }
    values[t] = value;
    grads[t] = grad;
  }
  return { values, grads, clipped };
}

policyLosses.register('ppo-clip', {
  description: 'PPO clipped importance ratio, clip-higher (clipLow/clipHigh) and dual clip for negative advantages',
  contributes: (s) => s.advantage !== 0,
  compute: (s, options) => ppoClip(s, s.advantage, options),
});

policyLosses.register('topr', {
  description: 'tapered off-policy REINFORCE: positives as SFT-weighted REINFORCE, negatives scaled by the truncated sequence ratio clip(π/μ, 0, 1)',
  contributes: (s) => s.advantage !== 0,
  compute(s) {
    if (s.advantage >= 0) return linear(s.logprobs, s.advantage);
    let logRatio = 0;
    for (let t = 0; t < s.logprobs.length; t++) logRatio += s.logprobs[t] - s.oldLogprobs[t];
    const taper = Math.min(1, Math.exp(Math.min(0, logRatio))); // clip(ρ_seq, 0, 1), no gradient through it
    const terms = linear(s.logprobs, taper * s.advantage);
    return { ...terms, clipped: taper < 1 ? s.logprobs.length : 0 };
  },
});

policyLosses.register('psr', {
  description: 'positive sample reinforcement: ppo-clip with A = +1 on passing completions, 0 on failing ones',
  contributes: (s) => s.pass,
  compute: (s, options) => ppoClip(s, s.pass ? 1 : 0, options),
});

policyLosses.register('nsr', {
  description: 'negative sample reinforcement: ppo-clip with A = −1 on failing completions (pushes them down), 0 on passing ones',
  contributes: (s) => !s.pass,
  compute: (s, options) => ppoClip(s, s.pass ? 0 : -1, options),
});

policyLosses.register('w-reinforce', {
  description: 'weighted REINFORCE: ppo-clip with A = λ on passing, −1 on failing completions',
  compute: (s, options) => ppoClip(s, s.pass ? options.lambda : -1, options),
});

policyLosses.register('nft', {
  description: 'negative-aware fine-tuning: likelihood ratio up on passing, implicit negative policy on failing, weighted by 1 − r̂',
  compute(s, { nftClamp }) {
    const n = s.logprobs.length;
    const values = new Float64Array(n);
    const grads = new Float64Array(n);
    const rate = Math.min(0.98, Math.max(0.02, s.passRate)); // r̂ clamped as in NVlabs/NFT
    const weight = 1 - rate; // ω(q), the Dr. GRPO-matching prompt weight
    let clipped = 0;
    for (let t = 0; t < n; t++) {
      const raw = s.logprobs[t] - s.oldLogprobs[t];
      const logRatio = Math.min(10, raw); // clamped as in NVlabs/NFT; beyond the clamp there is no gradient
      if (raw > 10) {
        values[t] = s.pass ? -weight * logRatio : -weight * Math.log(Math.max((1 - rate * Math.exp(logRatio)) / (1 - rate), nftClamp));
        grads[t] = 0;
        clipped++;
      } else if (s.pass) {
        // −log ρ: d/d log π = −1
        values[t] = -weight * logRatio;
        grads[t] = -weight;
      } else {
        const rho = Math.exp(logRatio);
        const proxy = (1 - rate * rho) / (1 - rate);
        const floored = Math.max(proxy, nftClamp);
        if (proxy < nftClamp) clipped++;
        // −log max(proxy, c) with a straight-through max: the gradient is that of −log proxy at the floored value.
        values[t] = -weight * Math.log(floored);
        grads[t] = (weight * rate * rho) / ((1 - rate) * floored);
      }
    }
    return { values, grads, clipped };
  },
});

/** A KL penalty to a frozen reference: value and d(value)/d(log π) from x = log π − log π_ref. */
export interface KlPenalty {
  description: string;
  compute(logprob: number, refLogprob: number): { value: number; grad: number };
}

export const klPenalties = new Registry<KlPenalty>('KL penalty', 'rl.kl.penalty');

klPenalties.register('k1', {
  description: 'log π − log π_ref (unbiased, high variance, can be negative)',
  compute: (lp, ref) => ({ value: lp - ref, grad: 1 }),
});
klPenalties.register('k2', {
  description: '(log π − log π_ref)² / 2 (low variance, biased)',
  compute: (lp, ref) => ({ value: 0.5 * (lp - ref) ** 2, grad: lp - ref }),
});
klPenalties.register('k3', {
  description: 'π_ref/π − log(π_ref/π) − 1 (unbiased, non-negative; the GRPO paper’s estimator), clamped like verl’s low_var_kl',
  compute(lp, ref) {
    const k = Math.max(-20, Math.min(20, ref - lp)); // log(π_ref/π)
    const value = Math.exp(k) - k - 1;
    if (value > 10) return { value: 10, grad: 0 };
    return { value, grad: k === ref - lp ? 1 - Math.exp(k) : 0 };
  },
});

export const AGGREGATIONS = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum', 'seq-mean-token-sum-norm'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/**
 * Weight of each sequence's token sum in the batch loss: loss = Σ_i w_i Σ_t v_it.
 * `lengths` are the completion lengths of the whole optimizer batch (a
 * minibatch split into several backward calls uses the same weights), and
 * `normLength` the constant L of seq-mean-token-sum-norm.
 */
export function aggregationWeights(lengths: readonly number[], mode: Aggregation, normLength: number): number[] {
  const B = lengths.length;
  if (B === 0) return [];
  switch (mode) {
    case 'token-mean': {
      const tokens = lengths.reduce((a, b) => a + b, 0);
      return lengths.map(() => (tokens > 0 ? 1 / tokens : 0));
    }
    case 'seq-mean-token-mean':
      return lengths.map((n) => (n > 0 ? 1 / (B * n) : 0));
    case 'seq-mean-token-sum':
      return lengths.map(() => 1 / B);
    case 'seq-mean-token-sum-norm':
      if (!(normLength > 0)) throw new RangeError(`seq-mean-token-sum-norm needs a positive normalizing length, got ${normLength}`);
      return lengths.map(() => 1 / (B * normLength));
  }
}

/** A completion ready for a policy-gradient step: the datum (prompt + completion) and what the loss reads. */
export interface RlExample {
  /** Prompt and completion tokens as one datum; the completion is the last `oldLogprobs.length` targets. */
  datum: Datum;
  oldLogprobs: readonly number[];
  /** log π_ref of the completion tokens, when a KL penalty or the KL metric is used. */
  refLogprobs?: readonly number[];
  advantage: number;
  pass: boolean;
  passRate: number;
  /** This example's KL coefficient, instead of the settings' (SCoRe's per-attempt β). */
  klCoef?: number;
}

export interface PolicyLossSettings {
  loss: string;
  options: PolicyLossOptions;
  /** The KL penalty's name and coefficient (0: none; the KL to the reference is still reported when refLogprobs are given). */
  kl: { penalty: string; coef: number };
}

/**
 * The LossFunction of one backward call over `examples`, each weighted by
 * `weights` (from aggregationWeights over the optimizer batch). Metrics are
 * sums over the call's completion tokens (`policy/*_sum`) and its token count,
 * so callers can average over several calls.
 */
export function policyLossFunction(examples: readonly RlExample[], weights: readonly number[], settings: PolicyLossSettings): LossFunction {
  const policyLoss = policyLosses.get(settings.loss);
  const penalty = klPenalties.get(settings.kl.penalty);
  const k3 = klPenalties.get('k3');
  return (logprobs, batch) => {
    if (batch.length !== examples.length) throw new InternalError(`policy loss built for ${examples.length} examples called with ${batch.length}`);
    let loss = 0;
    let clipped = 0;
    let tokens = 0;
    let klSum = 0;
    let klTokens = 0;
    let oldKlSum = 0;
    const grad = logprobs.map((row, i) => {
      const example = examples[i];
      const n = example.oldLogprobs.length;
      const offset = row.length - n;
      if (offset < 0) throw new InternalError(`example ${i}: ${n} completion logprobs but a datum of ${row.length} tokens`);
      const current = row.subarray(offset);
      const terms = policyLoss.compute({ logprobs: current, oldLogprobs: example.oldLogprobs, advantage: example.advantage, pass: example.pass, passRate: example.passRate }, settings.options);
      const g = new Float32Array(row.length);
      const w = weights[i];
      for (let t = 0; t < n; t++) {
        let value = terms.values[t];
        let d = terms.grads[t];
        if (example.refLogprobs) {
          const kl = penalty.compute(current[t], example.refLogprobs[t]);
          klSum += k3.compute(current[t], example.refLogprobs[t]).value;
          klTokens++;
          const coef = example.klCoef ?? settings.kl.coef;
          if (coef !== 0) {
            value += coef * kl.value;
            d += coef * kl.grad;
          }
        }
        oldKlSum += example.oldLogprobs[t] - current[t];
        loss += w * value;
        g[offset + t] = w * d;
      }
      clipped += terms.clipped;
      tokens += n;
      return g;
    });
    const metrics: Record<string, number> = { 'policy/tokens': tokens, 'policy/clipped_sum': clipped, 'policy/ppo_kl_sum': oldKlSum };
    if (klTokens > 0) Object.assign(metrics, { 'policy/kl_sum': klSum, 'policy/kl_tokens': klTokens });
    return { loss, grad, metrics };
  };
}
