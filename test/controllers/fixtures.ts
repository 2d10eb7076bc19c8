/** Scripted histories for the controller tests: plans, task records, finished rounds, inputs. */
import type { ControllerInput, ProbeRecord, RoundHistory, RoundPlan, TaskRecord } from '../../src/spec/controller.js';

/** The recipe's defaults for a round of `tasks` tasks: one draw, T = 1, full marks accepted. */
export function defaultPlan(round: number, tasks = 10): RoundPlan {
  return { round, draws: [{ category: 'all', count: tasks }], sampling: { n: 4, temperature: 1, topP: 1 }, acceptThreshold: 1, setBy: {} };
}

/** A task's record: `passes` of `attempts` (solved when one passed), mean reward = pass rate unless given. */
export function taskRecord(taskId: string, category: string, attempts: number, passes: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  return { taskId, category, attempts, passes, solved: passes > 0, meanReward: attempts ? passes / attempts : 0, ...extra };
}

/** A finished round with `tasks`, its plan the default one changed by `plan`. */
export function finishedRound(round: number, tasks: TaskRecord[], plan: Partial<RoundPlan> = {}, probes: ProbeRecord[] = []): RoundHistory {
  return { round, plan: { ...defaultPlan(round), ...plan }, tasks, probes, metrics: {} };
}

/** A controller's input for `round` after `history`. */
export function controllerInput<State>(round: number, history: RoundHistory[], options: { plan?: RoundPlan; state?: State; seed?: number; probes?: ProbeRecord[] } = {}): ControllerInput<State> {
  return { round, history, plan: options.plan ?? defaultPlan(round), state: options.state, seed: options.seed ?? 7, probes: options.probes ?? [] };
}

/** `value` frozen all the way down, so a controller that writes into its input throws. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
