/**
 * `b-star`: B-STaR's auto-balance (Zeng et al. 2024, "B-STaR: Monitoring and
 * Balancing Exploration and Exploitation in Self-Taught Reasoners",
 * https://arxiv.org/abs/2412.17256). Before each round the loop samples a few
 * tasks at every candidate temperature (this controller's `probe`); every
 * candidate reward threshold is then applied to those samples' rewards after
 * the fact, and the round runs with the (temperature t, threshold τ) of the
 * highest mean balance score.
 *
 * The balance score, in the paper's notation, for query i of the probe set Q
 * sampled at temperature t, with the responses of reward ≥ τ selected:
 *
 *   n_i   = number of distinct selected responses
 *   n_i′  = number of them that are correct (ground truth)
 *   bs_i  = min(n_i′ / n*, 1) · n_i′ / n_i        (0 when n_i = 0)
 *   BS(t, τ) = (1 / |Q|) Σ_{i ∈ Q} bs_i
 *
 * The first factor rewards exploration (enough distinct correct responses,
 * capped at n*), the second exploitation (the threshold keeps few wrong ones).
 * Responses are told apart by their completion text, as the reference code
 * (hkust-nlp/B-STaR, train_code/determine_hyper.py, where n* = 8) dedupes
 * before counting.
 *
 * Deviations from the reference code: a query none of whose responses reaches
 * τ scores 0 and stays in the mean (the code leaves such queries out, which
 * favours thresholds that drop every hard query); responses are selected by
 * reward ≥ τ (the plan's `acceptThreshold` meaning), where the code keeps
 * reward > τ; and the code also caps responses per query to reach a target
 * data size, which is curation's business here. Ties go to the first
 * candidate, temperatures in the order given, then thresholds.
 */
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { InvalidConfigError } from '../errors.js';
import type { Controller, ControllerInput, ControllerOutput, ProbeRecord } from '../spec/controller.js';
import { changePlan, mean } from './plan.js';

export const BStarOptionsSchema = z
  .object({
    /** Candidate sampling temperatures; the loop probes each. */
    temperatures: z.array(z.number().min(0)).min(1, 'is empty; give at least one candidate temperature').default([0.4, 0.6, 0.8, 1.0, 1.2]),
    /** Candidate reward thresholds, applied to the probe samples' rewards. */
    thresholds: z.array(z.number()).min(1, 'is empty; give at least one candidate threshold').default([0.5, 0.75, 1]),
    /** n*: distinct correct selected responses of a query beyond which exploration earns no more. */
    nStar: z.number().int().positive().default(4),
    /** Tasks the loop probes before each round. */
    probeTasks: z.number().int().positive().default(8),
    /** Samples per probe task at each temperature. */
    probeSamples: z.number().int().positive().default(8),
  })
  .strict();

export type BStarOptions = z.input<typeof BStarOptionsSchema>;

/** Its state: the settings it chose last (kept for a round whose probes are missing), or null before any. */
export type BStarState = { temperature: number; threshold: number } | null;

/**
 * Chooses `sampling.temperature` and `acceptThreshold` by the mean balance
 * score on the round's probes. Metrics `bstar/temperature`, `bstar/threshold`,
 * `bstar/balance` (the best) and `bstar/balance/t=<t>/threshold=<τ>` per candidate.
 */
export function bStarController(input: BStarOptions = {}, field = 'controller'): Controller<BStarState> {
  const options = parseConfig(BStarOptionsSchema, input, field);
  for (const key of ['temperatures', 'thresholds'] as const) {
    const values = options[key];
    const twice = values.find((value, i) => values.indexOf(value) !== i);
    if (twice !== undefined) throw new InvalidConfigError(`${field}.${key}`, `lists ${twice} twice; give each candidate once`);
  }
  if (options.nStar > options.probeSamples) {
    throw new InvalidConfigError(`${field}.nStar`, `${options.nStar} is above ${field}.probeSamples = ${options.probeSamples}, so no query could reach a balance of 1; set nStar ≤ probeSamples`);
  }
  return {
    name: 'b-star',
    probe: { temperatures: [...options.temperatures], tasks: options.probeTasks, n: options.probeSamples },
    plan({ plan, state, probes }: ControllerInput<BStarState>): ControllerOutput<BStarState> {
      const metrics: Record<string, number> = {};
      let best: { temperature: number; threshold: number; balance: number } | undefined;
      for (const temperature of options.temperatures) {
        const atTemperature = probes.filter((record) => record.temperature === temperature);
        for (const threshold of options.thresholds) {
          const balance = balanceScore(atTemperature, threshold, options.nStar);
          if (balance === undefined) continue;
          metrics[`bstar/balance/t=${temperature}/threshold=${threshold}`] = balance;
          if (best === undefined || balance > best.balance) best = { temperature, threshold, balance };
        }
      }
      metrics['bstar/probe_tasks'] = new Set(probes.map((record) => record.taskId)).size;
      // No probe at any candidate temperature: keep the last choice, or the plan as it is.
      const choice = best ?? state ?? undefined;
      if (choice === undefined) return { plan, state: null, metrics };
      if (best) metrics['bstar/balance'] = best.balance;
      metrics['bstar/temperature'] = choice.temperature;
      metrics['bstar/threshold'] = choice.threshold;
      const changed = changePlan(plan, 'b-star', { sampling: { temperature: choice.temperature }, acceptThreshold: choice.threshold });
      return { plan: changed, state: { temperature: choice.temperature, threshold: choice.threshold }, metrics };
    },
  };
}

/**
 * BS(t, τ) of probe samples all drawn at one temperature t (see the file's
 * docstring); undefined when there are none.
 */
export function balanceScore(records: readonly ProbeRecord[], threshold: number, nStar: number): number | undefined {
  const byTask = new Map<string, ProbeRecord[]>();
  for (const record of records) byTask.set(record.taskId, [...(byTask.get(record.taskId) ?? []), record]);
  const scores = [...byTask.values()].map((samples) => {
    // Distinct selected responses, each correct if any copy of it is.
    const selected = new Map<string, boolean>();
    for (const sample of samples) if (sample.reward >= threshold) selected.set(sample.completion, (selected.get(sample.completion) ?? false) || sample.correct);
    const n = selected.size;
    const nCorrect = [...selected.values()].filter(Boolean).length;
    return n === 0 ? 0 : Math.min(nCorrect / nStar, 1) * (nCorrect / n);
  });
  return mean(scores);
}
