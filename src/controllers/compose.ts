/**
 * Controllers in order: each is given the plan as the ones before it left it
 * (the recipe's defaults first), so a curriculum controller can set the draws
 * and B-STaR the temperature and threshold of the same round. Pure, like the
 * controllers: the same inputs plan the same round.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Controller, ProbeRecord, RoundHistory, RoundPlan } from '../spec/controller.js';

/** What a round's controllers are given together. */
export interface PlanRoundInput {
  round: number;
  /** Finished rounds, oldest first. */
  history: readonly RoundHistory[];
  /** The recipe's defaults for the round. */
  plan: RoundPlan;
  /** Each controller's state after the last round, by controller name (none before the first). */
  states: Readonly<Record<string, unknown>>;
  seed: number;
  /** The probe samples drawn for each controller that declares a `probe`, by controller name. */
  probes?: Readonly<Record<string, readonly ProbeRecord[]>>;
}

/** The round's plan, every controller's new state by name (stored with the round) and their metrics together. */
export interface PlanRoundOutput {
  plan: RoundPlan;
  states: Record<string, unknown>;
  metrics: Record<string, number>;
}

/** Runs `controllers` in order over the round; two controllers of one name would share a state, so that is an error. */
export function planRound(controllers: readonly Controller[], input: PlanRoundInput): PlanRoundOutput {
  const names = controllers.map((controller) => controller.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new InvalidArgumentError('controllers', `"${twice}" appears twice; each controller keeps one state per run, so list it once`);
  let plan = input.plan;
  const states: Record<string, unknown> = {};
  const metrics: Record<string, number> = {};
  for (const controller of controllers) {
    const output = controller.plan({
      round: input.round,
      history: input.history,
      plan,
      state: input.states[controller.name],
      seed: input.seed,
      probes: input.probes?.[controller.name] ?? [],
    });
    plan = output.plan;
    states[controller.name] = output.state;
    Object.assign(metrics, output.metrics);
  }
  return { plan, states, metrics };
}
