/**
 * Advantage estimators: pure functions from a batch's outcome rewards (one
 * scalar per completion, completions grouped by prompt) to one advantage per
 * completion, broadcast over its tokens by the policy loss. Registered by the
 * names recipes use (`rl.advantage`), as in verl's core_algos:
 *
 *   grpo           (r − mean_g) / (std_g + ε)            DeepSeekMath, https://arxiv.org/abs/2402.03300
 *   dr-grpo        r − mean_g                            Dr. GRPO, https://arxiv.org/abs/2503.20783
 *   rloo           r − mean of the other n−1 of the group  RLOO, https://arxiv.org/abs/2402.14740
 *   reinforce++    r whitened over all tokens of the batch REINFORCE++, https://arxiv.org/abs/2501.03262
 *   reinforce++-baseline  (r − mean_g), then whitened over the batch's tokens
 *   bnpo           (r − p) / f_Beta(p; α, β), α, β from the batch's success rates  BNPO, https://arxiv.org/abs/2506.02864
 *   self-critical  r − r(greedy completion of the prompt) SCST, https://arxiv.org/abs/1612.00563
 *   reinforce      scale·(r − b) for constants b and scale (TOPR's ±1 rewards: b 0.5, scale 2)
 *
 * Edge cases follow verl: a group of one gets A = r under grpo, dr-grpo and rloo.
 *
 * "Group statistics" are those of the completions in the batch unless the
 * sampler measured them over more (Reinforce-Ada's global baselines: every
 * completion sampled for the prompt, not only the ones kept).
 */
import { Registry } from '../../registry.js';
import { InternalError, InvalidArgumentError } from '../../errors.js';

export interface GroupStatistics {
  /** Mean reward over every completion sampled for the prompt. */
  mean: number;
  /** Standard deviation (Bessel-corrected) of those rewards. */
  std: number;
  /** How many completions they cover. */
  count: number;
}

export interface AdvantageInput {
  /** One outcome reward per completion. */
  rewards: readonly number[];
  /** Prompt (group) index of each completion. */
  groups: readonly number[];
  /** Completion lengths in tokens (token-level whitening). */
  lengths: readonly number[];
  /** Per-group statistics measured by the sampler over more completions than the batch keeps (Reinforce-Ada). */
  groupStatistics?: ReadonlyMap<number, GroupStatistics>;
  /** Reward of each group's greedy completion (self-critical). */
  greedyRewards?: ReadonlyMap<number, number>;
  /** Reward components per completion, each in [0, 1] (BNPO's advantage decomposition); `rewards` is their sum. */
  rewardParts?: readonly (readonly number[])[];
}

export interface AdvantageOptions {
  /** Added to a standard deviation before dividing by it. */
  epsilon: number;
  /** `reinforce`: the constant baseline subtracted from every reward. */
  baseline: number;
  /** `reinforce`: the factor applied after subtracting the baseline. */
  scale: number;
}

export const DEFAULT_ADVANTAGE_OPTIONS: AdvantageOptions = { epsilon: 1e-6, baseline: 0, scale: 1 };

export interface AdvantageResult {
  advantages: number[];
  metrics?: Record<string, number>;
}

export interface AdvantageEstimator {
  /** One line for `--help` and docs. */
  description: string;
  /** Inputs the loop must provide beyond rewards: `greedy` = each prompt's greedy completion is sampled and scored. */
  needs?: readonly 'greedy'[];
  estimate(input: AdvantageInput, options: AdvantageOptions): AdvantageResult;
}

export const advantageEstimators = new Registry<AdvantageEstimator>('advantage estimator', 'rl.advantage');

/** Advantages of a batch with a registered estimator; checks that the result is finite and the right length. */
export function computeAdvantages(name: string, input: AdvantageInput, options: Partial<AdvantageOptions> = {}): AdvantageResult {
  checkInput(input);
  const result = advantageEstimators.get(name).estimate(input, { ...DEFAULT_ADVANTAGE_OPTIONS, ...options });
  if (result.advantages.length !== input.rewards.length) throw new InternalError(`advantage estimator ${name} returned ${result.advantages.length} advantages for ${input.rewards.length} completions`);
  result.advantages.forEach((a, i) => {
    if (!Number.isFinite(a)) throw new InternalError(`advantage estimator ${name} returned ${a} for completion ${i}`);
  });
  return result;
}

function checkInput(input: AdvantageInput): void {
  const n = input.rewards.length;
  if (input.groups.length !== n || input.lengths.length !== n) throw new RangeError(`advantages: ${n} rewards, ${input.groups.length} group ids, ${input.lengths.length} lengths; they must match`);
  input.rewards.forEach((r, i) => {
    if (!Number.isFinite(r)) throw new RangeError(`advantages: reward ${i} is ${r}`);
  });
  if (input.rewardParts && input.rewardParts.length !== n) throw new RangeError(`advantages: ${input.rewardParts.length} reward-part rows for ${n} completions`);
}

/** Mean and Bessel-corrected standard deviation (0 for fewer than 2 values). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  if (n === 0) return { mean: 0, std: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: 0 };
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  return { mean, std: Math.sqrt(variance) };
}

/** Indices of each group's completions, by group id. */
function byGroup(groups: readonly number[]): Map<number, number[]> {
  const map = new Map<number, number[]>();
  groups.forEach((g, i) => (map.get(g) ?? map.set(g, []).get(g)!).push(i));
  return map;
}

/** Each group's reward statistics: the sampler's when given, else those of the batch's completions. */
function groupStatistics(input: AdvantageInput): Map<number, GroupStatistics> {
  const stats = new Map<number, GroupStatistics>();
  for (const [g, members] of byGroup(input.groups)) {
    const given = input.groupStatistics?.get(g);
    stats.set(g, given ?? { ...meanStd(members.map((i) => input.rewards[i])), count: members.length });
  }
  return stats;
}

/**
 * Whitening over tokens: each completion's value counts once per token, so the
 * mean and variance are those of the token-level advantages, as verl's
 * masked_whiten computes them: (x − μ) / √(var + 1e-8), var Bessel-corrected
 * over the token count.
 */
function whitenOverTokens(values: readonly number[], lengths: readonly number[]): number[] {
  const tokens = lengths.reduce((a, b) => a + b, 0);
  if (tokens < 2) return values.map(() => 0);
  const mean = values.reduce((s, v, i) => s + v * lengths[i], 0) / tokens;
  const variance = values.reduce((s, v, i) => s + (v - mean) ** 2 * lengths[i], 0) / (tokens - 1);
  return values.map((v) => (v - mean) / Math.sqrt(variance + 1e-8));
}

advantageEstimators.register('grpo', {
  description: 'group-normalized: (r − group mean) / (group std + ε); a group of one gets r (verl)',
  estimate(input, { epsilon }) {
    const stats = groupStatistics(input);
    return {
      advantages: input.rewards.map((r, i) => {
        const { mean, std, count } = stats.get(input.groups[i])!;
        return count < 2 ? r : (r - mean) / (std + epsilon);
      }),
    };
  },
});

advantageEstimators.register('dr-grpo', {
  description: 'Dr. GRPO: r − group mean (no std division; pair with seq-mean-token-sum-norm aggregation)',
  estimate(input) {
    const stats = groupStatistics(input);
    return { advantages: input.rewards.map((r, i) => (stats.get(input.groups[i])!.count < 2 ? r : r - stats.get(input.groups[i])!.mean)) };
  },
});

advantageEstimators.register('rloo', {
  description: 'leave-one-out: r − mean of the other completions of the prompt',
  estimate(input) {
    const stats = groupStatistics(input);
    return {
      advantages: input.rewards.map((r, i) => {
        const { mean, count } = stats.get(input.groups[i])!;
        return count < 2 ? r : r - (mean * count - r) / (count - 1);
      }),
    };
  },
});

advantageEstimators.register('reinforce++', {
  description: 'REINFORCE++: the outcome reward of every token, whitened over all tokens of the batch',
  estimate(input) {
    return { advantages: whitenOverTokens(input.rewards, input.lengths) };
  },
});

advantageEstimators.register('reinforce++-baseline', {
  description: 'REINFORCE++ with a group-mean baseline: r − group mean, then whitened over the batch’s tokens',
  estimate(input) {
    const stats = groupStatistics(input);
    return { advantages: whitenOverTokens(input.rewards.map((r, i) => (stats.get(input.groups[i])!.count < 2 ? r : r - stats.get(input.groups[i])!.mean)), input.lengths) };
  },
});

advantageEstimators.register('self-critical', {
  description: 'self-critical: r − reward of the prompt’s greedy completion',
  needs: ['greedy'],
  estimate(input) {
    const greedy = input.greedyRewards;
    if (!greedy) throw new InvalidArgumentError('greedyRewards', 'self-critical advantages need the reward of each prompt’s greedy completion (greedyRewards): pass input.greedyRewards');
    return {
      advantages: input.rewards.map((r, i) => {
        const baseline = greedy.get(input.groups[i]);
        if (baseline === undefined) throw new InvalidArgumentError('greedyRewards', `self-critical: group ${input.groups[i]} has no greedy reward; give one for every group`);
        return r - baseline;
      }),
    };
  },
});

advantageEstimators.register('reinforce', {
  description: 'plain REINFORCE: scale·(r − baseline) with constants (rl.advantageOptions.baseline, default 0; scale, default 1)',
  estimate(input, { baseline, scale }) {
    return { advantages: input.rewards.map((r) => scale * (r - baseline)) };
  },
});

/**
 * BNPO (Xiao et al. 2025, https://arxiv.org/abs/2506.02864; reference code
 * changyi7231/BNPO): with binary rewards, a prompt's success rate p ~ Beta(a, b)
 * over prompts. a and b are fitted to the batch's group means by the method of
 * moments, fresh each batch; the advantage is (r − p) / f(p; α, β) with f the
 * Beta density, α = max(1 + a/3, 1), β = max(1 + b/3, 1) (the variance-minimizing
 * choice), the factor 1/f clamped to [0, 1e6]. α = β = 1 is REINFORCE with a
 * group baseline; α = β = 3/2 divides by √(p(1−p)) up to a constant, like GRPO.
 * Rewards must lie in [0, 1]. With `rewardParts` (advantage decomposition),
 * each component gets its own fit and the advantages are averaged.
 */
export function bnpoAdvantages(rewards: readonly number[], groups: readonly number[], statistics?: ReadonlyMap<number, GroupStatistics>): { advantages: number[]; alpha: number; beta: number } {
  rewards.forEach((r, i) => {
    if (r < 0 || r > 1) throw new RangeError(`bnpo needs rewards in [0, 1]; completion ${i} has ${r}`);
  });
  const members = byGroup(groups);
  const p = new Map<number, number>();
  for (const [g, idx] of members) p.set(g, statistics?.get(g)?.mean ?? (idx.length < 2 ? 0 : idx.reduce((s, i) => s + rewards[i], 0) / idx.length));
  const rates = [...p.values()];
  let m = 0;
  let v = 1;
  if (rates.length > 1) ({ mean: m, std: v } = meanStd(rates)), (v = v * v);
  // Method of moments; v = 0 (every prompt equally hard) means an infinitely concentrated Beta: cap it.
  const common = v > 1e-12 ? (m * (1 - m)) / v - 1 : 1e12;
  const alpha = Math.max(1 + (common * m) / 3, 1);
  const beta = Math.max(1 + (common * (1 - m)) / 3, 1);
  const advantages = rewards.map((r, i) => {
    const q = p.get(groups[i])!;
    if (r === q) return 0;
    const factor = Math.min(Math.max(Math.exp(-logBetaDensity(q, alpha, beta)), 0), 1e6);
    return factor * (r - q);
  });
  return { advantages, alpha, beta };
}

/** log of the Beta(α, β) density at x (−∞ where it is 0). */
export function logBetaDensity(x: number, alpha: number, beta: number): number {
  const logNorm = logGamma(alpha + beta) - logGamma(alpha) - logGamma(beta);
  const left = alpha === 1 ? 0 : x <= 0 ? -Infinity : (alpha - 1) * Math.log(x);
  const right = beta === 1 ? 0 : x >= 1 ? -Infinity : (beta - 1) * Math.log(1 - x);
  return logNorm + left + right;
}

/** log Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; ~1e-15 relative). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < 9; i++) sum += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

advantageEstimators.register('bnpo', {
  description: 'BNPO: (r − p) / Beta density at p, the Beta fitted to the batch’s success rates; per-component with rewardParts',
  estimate(input) {
    if (!input.rewardParts) {
      const { advantages, alpha, beta } = bnpoAdvantages(input.rewards, input.groups, input.groupStatistics);
      return { advantages, metrics: { 'advantage/bnpo_alpha': alpha, 'advantage/bnpo_beta': beta } };
    }
    const parts = input.rewardParts[0]?.length ?? 0;
    if (parts === 0 || input.rewardParts.some((row) => row.length !== parts)) throw new RangeError('bnpo: every completion needs the same number of reward parts');
    const sum = input.rewards.map(() => 0);
    for (let k = 0; k < parts; k++) {
      const { advantages } = bnpoAdvantages(input.rewardParts.map((row) => row[k]), input.groups);
      advantages.forEach((a, i) => (sum[i] += a / parts));
    }
    return { advantages: sum };
  },
});
