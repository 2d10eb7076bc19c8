/**
 * Built-in monitors: what a round sampled, accepted and refined, and the
 * exploration / exploitation figures B-STaR watches (Zeng et al. 2024,
 * https://arxiv.org/abs/2412.17256): pass@k over the n samples, distinct
 * correct answers per task, and the accept filter's precision and recall
 * against ground truth when it is known.
 */
import type { Monitor, RoundRecord } from '../spec/monitor.js';
import { exploreExploit, meanPassAtK } from './metrics.js';
import { passed } from '../learn/steps.js';

/** Rewards, verifier outcomes and the accepted set. */
export const samplingMonitor: Monitor = {
  name: 'sampling',
  observe(record: RoundRecord) {
    const samples = record.groups.flat();
    const scored = samples.filter((a) => a.verification.status === 'scored');
    const rewards = scored.map((a) => (a.verification.status === 'scored' ? a.verification.reward : 0));
    const metrics: Record<string, number> = {
      'sampling/tasks': record.groups.length,
      'sampling/samples': samples.length,
      'sampling/frac_truncated': samples.length ? samples.filter((a) => a.finishReason === 'length').length / samples.length : 0,
      'reward/mean': rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : 0,
      'verify/error_rate': samples.length ? samples.filter((a) => a.verification.status === 'error').length / samples.length : 0,
      'verify/not_applicable_rate': samples.length ? samples.filter((a) => a.verification.status === 'not-applicable').length / samples.length : 0,
      'accept/count': record.accepted.length,
      'accept/frac_tasks': record.groups.length ? new Set(record.accepted.map((a) => a.task.id)).size / record.groups.length : 0,
      'accept/from_refinement': record.accepted.filter((a) => (a.kind ?? 'sample') !== 'sample').length,
    };
    for (const kind of ['reflection', 'rationalization'] as const) {
      const revised = record.refinements.filter((a) => a.kind === kind);
      if (revised.length) {
        metrics[`refine/${kind}_count`] = revised.length;
        metrics[`refine/${kind}_pass_rate`] = revised.filter(passed).length / revised.length;
      }
    }
    return metrics;
  },
};

/** B-STaR's exploration (pass@k, distinct correct answers) and exploitation (accept precision / recall). */
export const bstarMonitor: Monitor = {
  name: 'b-star',
  observe(record: RoundRecord) {
    const n = Math.max(0, ...record.groups.map((g) => g.length));
    const ks = [1, 2, 4, 8, 16, 32, 64].filter((k) => k <= n);
    const passAtK = Object.fromEntries(Object.entries(meanPassAtK(record.groups, ks)).map(([key, value]) => [`explore/${key}`, value]));
    // Precision and recall of acceptance among the policy's own samples (refinements are not part of the filter's input).
    const own = record.accepted.filter((a) => (a.kind ?? 'sample') === 'sample');
    return { ...passAtK, ...exploreExploit(record.groups, own, record.isCorrect) };
  },
};

export const defaultMonitors: Monitor[] = [samplingMonitor, bstarMonitor];
