/**
 * `sec`: Self-Evolving Curriculum (Chen et al. 2025, "Self-Evolving Curriculum
 * for LLM Reasoning", https://arxiv.org/abs/2505.14970). Choosing what to
 * train on is a non-stationary multi-armed bandit whose arms are categories of
 * tasks (difficulties written `d3`, or task families). An arm's reward is the
 * learning gain the round got from it, measured as the mean absolute advantage
 * of its tasks; each arm's value follows its recent rewards by TD(0) (an
 * exponential moving average), and the round's tasks go to the arms by a
 * Boltzmann (softmax) policy over the values:
 *
 *   r_t(c)      = mean over the round's tasks x of category c of g(x)
 *   Q_{t+1}(c)  = α·r_t(c) + (1 − α)·Q_t(c)      (only arms the round drew)
 *   π(c)        = exp(Q(c)/τ) / Σ_c' exp(Q(c')/τ)
 *
 * g(x) is the task's mean |advantage| over its attempts
 * (`TaskRecord.meanAbsAdvantage`), recorded by policy-gradient rounds. Rounds
 * that compute no advantages (self-training) use the |advantage| a GRPO
 * update would have computed from the task's pass rate p̂ = passes / attempts:
 * with binary rewards normalised by the group's standard deviation
 * σ = √(p̂(1 − p̂)), a pass has |A| = (1 − p̂)/σ and a failure |A| = p̂/σ, so
 *
 *   mean |A| = p̂·(1 − p̂)/σ + (1 − p̂)·p̂/σ = 2·√(p̂(1 − p̂)),
 *
 * largest at p̂ = ½ and 0 for tasks always or never solved (no learning signal),
 * the paper's argument for |advantage| as a learning-gain proxy. (With the
 * Bessel-corrected σ of src/learn/algorithms/advantages.ts's `grpo` it is √((n − 1)/n) times
 * that on n attempts, the same factor for every task of a round.)
 *
 * Each task's category is sampled from π with the seeded Rng, as the paper
 * samples each problem of a batch: every arm keeps a chance of being drawn and
 * so of having its value updated, which a proportional allocation rounded to
 * whole tasks would not give arms with π(c) < 1/(round's tasks).
 */
import { z } from 'zod';
import { parseConfig } from '../config/validate.js';
import { Rng } from '../engine/random.js';
import { InvalidConfigError } from '../errors.js';
import type { Controller, ControllerInput, ControllerOutput, RoundHistory, TaskRecord } from '../spec/controller.js';
import { changePlan, drawFor, mean, roundTaskCount } from './plan.js';

export const SecOptionsSchema = z
  .object({
    /** The arms: categories of tasks, e.g. `[d1, d2, d3]` or task families. */
    categories: z.array(z.string().min(1)).min(1, 'is empty; give at least one arm, e.g. `[d1, d2, d3]`'),
    /** α of the TD(0) update Q ← α·r + (1 − α)·Q: how fast an arm's value follows its latest reward. */
    learningRate: z.number().gt(0).max(1).default(0.5),
    /** τ of the Boltzmann policy π(c) ∝ exp(Q(c)/τ): lower is greedier. */
    temperature: z.number().gt(0).default(1),
    /** Every arm's value before its first reward. */
    initialQ: z.number().default(0),
  })
  .strict();

export type SecOptions = z.input<typeof SecOptionsSchema>;

/** Its state: each arm's value and the last round folded into them. */
export interface SecState {
  q: Record<string, number>;
  /** Rounds up to this one are in `q` (0: none). */
  through: number;
}

/** Stream of the Rng that samples the tasks' categories (apart from other users of the run's seed). */
const CATEGORY_STREAM = 0x5ec;

/** The SEC bandit over `categories`. Sets `draws` (clearing `frontier`); metrics `curriculum/q|p|selected/<category>`. */
export function secController(input: SecOptions, field = 'controller'): Controller<SecState> {
  const options = parseConfig(SecOptionsSchema, input, field);
  const duplicate = options.categories.find((category, i) => options.categories.indexOf(category) !== i);
  if (duplicate !== undefined) throw new InvalidConfigError(`${field}.categories`, `lists "${duplicate}" twice; give each arm once`);
  return {
    name: 'sec',
    plan({ round, history, plan, state, seed }: ControllerInput<SecState>): ControllerOutput<SecState> {
      const q: Record<string, number> = {};
      for (const category of options.categories) q[category] = state?.q[category] ?? options.initialQ;
      let through = state?.through ?? 0;
      for (const finished of history) {
        if (finished.round <= through) continue;
        for (const [category, reward] of Object.entries(armRewards(finished, options.categories))) {
          q[category] = options.learningRate * reward + (1 - options.learningRate) * q[category];
        }
        through = finished.round;
      }
      const probabilities = boltzmann(options.categories.map((category) => q[category]), options.temperature);
      const selected = sampleCounts(probabilities, roundTaskCount(plan, 'sec'), new Rng(seed, CATEGORY_STREAM, round));
      const metrics: Record<string, number> = {};
      options.categories.forEach((category, i) => {
        metrics[`curriculum/q/${category}`] = q[category];
        metrics[`curriculum/p/${category}`] = probabilities[i];
        metrics[`curriculum/selected/${category}`] = selected[i];
      });
      const draws = options.categories.map((category, i) => drawFor(category, selected[i])).filter((draw) => draw.count > 0);
      return { plan: changePlan(plan, 'sec', { draws, frontier: undefined }), state: { q, through }, metrics };
    },
  };
}

/** r(c) of every arm the round drew tasks of (tasks with no attempts left out). */
export function armRewards(round: RoundHistory, categories: readonly string[]): Record<string, number> {
  const rewards: Record<string, number> = {};
  for (const category of categories) {
    const gains = round.tasks.filter((task) => task.category === category && task.attempts > 0).map(learningGain);
    const reward = mean(gains);
    if (reward !== undefined) rewards[category] = reward;
  }
  return rewards;
}

/** A task's learning gain: its mean |advantage|, else 2·√(p̂(1 − p̂)) of its pass rate (see the file's docstring). */
export function learningGain(task: TaskRecord): number {
  if (task.meanAbsAdvantage !== undefined) return task.meanAbsAdvantage;
  const passRate = task.passes / task.attempts;
  return 2 * Math.sqrt(passRate * (1 - passRate));
}

/** π(c) = exp(Q(c)/τ) / Σ exp(Q(c')/τ), computed after subtracting the largest Q (same result, no overflow). */
export function boltzmann(values: readonly number[], temperature: number): number[] {
  const largest = Math.max(...values);
  const weights = values.map((value) => Math.exp((value - largest) / temperature));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => weight / total);
}

/** How many of `total` tasks fall to each arm when each task's arm is drawn from `probabilities`. */
function sampleCounts(probabilities: readonly number[], total: number, rng: Rng): number[] {
  const counts = probabilities.map(() => 0);
  for (let task = 0; task < total; task++) {
    const u = rng.next();
    let arm = 0;
    let cumulative = probabilities[0];
    while (u >= cumulative && arm < probabilities.length - 1) cumulative += probabilities[++arm];
    counts[arm]++;
  }
  return counts;
}
