/**
 * Round metrics: pass@k with the unbiased estimator of Chen et al. (2021,
 * https://arxiv.org/abs/2107.03374) and the exploration / exploitation figures
 * B-STaR watches ("B-STaR: Monitoring and Balancing Exploration and
 * Exploitation in Self-Taught Reasoners", Zeng et al. 2024): how many distinct correct
 * answers the samples hold, and how well the accept filter separates right from
 * wrong when the ground truth is known.
 */
import type { Attempt } from '../learn/steps.js';
import { passed } from '../learn/steps.js';

/** Unbiased pass@k from c correct among n samples: 1 − C(n−c, k) / C(n, k). */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new RangeError(`passAtK needs integers 0 ≤ c ≤ n and 1 ≤ k ≤ n, got n=${n} c=${c} k=${k}`);
  }
  if (n - c < k) return 1;
  // ∏_{i=n−c+1}^{n} (1 − k / i), numerically stable
  let fail = 1;
  for (let i = n - c + 1; i <= n; i++) fail *= 1 - k / i;
  return 1 - fail;
}

/** Mean pass@k over tasks, for every k in `ks` that is ≤ the samples per task. */
export function meanPassAtK(groups: readonly Attempt[][], ks: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ks) {
    const usable = groups.filter((g) => g.length >= k);
    if (usable.length === 0) continue;
    out[`pass@${k}`] = usable.reduce((sum, g) => sum + passAtK(g.length, g.filter(passed).length, k), 0) / usable.length;
  }
  return out;
}

/**
 * Exploration: distinct correct completions per task (B-STaR's diversity of
 * good samples). Exploitation: precision and recall of the accept filter
 * against ground truth (`isCorrect`), when ground truth is known.
 */
export function exploreExploit(groups: readonly Attempt[][], accepted: readonly Attempt[], isCorrect?: (attempt: Attempt) => boolean): Record<string, number> {
  const metrics: Record<string, number> = {};
  const distinct = groups.map((g) => new Set(g.filter(passed).map((a) => a.completion)).size);
  metrics['explore/distinct_correct_per_task'] = distinct.length ? distinct.reduce((a, b) => a + b, 0) / distinct.length : 0;
  metrics['explore/frac_tasks_solved'] = distinct.length ? distinct.filter((d) => d > 0).length / distinct.length : 0;
  if (isCorrect) {
    const all = groups.flat();
    const acceptedSet = new Set(accepted);
    const truePositives = accepted.filter(isCorrect).length;
    const positives = all.filter(isCorrect).length;
    metrics['exploit/precision'] = accepted.length ? truePositives / accepted.length : 1;
    metrics['exploit/recall'] = positives ? all.filter((a) => acceptedSet.has(a) && isCorrect(a)).length / positives : 1;
  }
  return metrics;
}
