/**
 * Controllers and the RoundPlan. Between rounds (or steps), controllers read
 * the run's history and set the plan: which tasks, the sampling temperature
 * and n, the accept threshold. The plan is stored with the round, so a resumed
 * run is exact, and every sampling site reads the plan, not the recipe.
 */

/** One draw of a round's tasks. */
export interface TaskDraw {
  /** Difficulty on the source's scale, when the round draws by difficulty. */
  difficulty?: number;
  /** A category of tasks (SEC's arm: a difficulty written as `d3`, or a task family or type). */
  category: string;
  /** How many tasks. */
  count: number;
}

/** What a round runs with. Controllers write it; sampling, curation and learning read it. */
export interface RoundPlan {
  round: number;
  /** The difficulty the round focuses on (easy-to-hard's frontier), when it has one. */
  frontier?: number;
  /**
   * The tasks the round draws. Their counts add up to the round's task count
   * (the recipe's defaults: one draw of `tasks.perRound`); a curriculum
   * controller divides that total among its draws.
   */
  draws: TaskDraw[];
  /** Relative sampling weights of tasks within their draw (learnability), by task id; absent: uniform. */
  taskWeights?: Record<string, number>;
  /** Weight of a task `taskWeights` does not list (one never tried: learnability's prior); needed because a controller cannot list a source's untried tasks. Absent: 1. */
  defaultTaskWeight?: number;
  /** The settings every sampling site of the round reads. */
  sampling: { n: number; temperature: number; topP: number };
  /** Reward at or above which an attempt is accepted into training data (B-STaR's threshold); null: the verifier's pass decides. */
  acceptThreshold: number | null;
  /** Which controller last set each field, e.g. `{ draws: 'sec', 'sampling.temperature': 'b-star' }`. */
  setBy: Record<string, string>;
}

/** What a round did with one task, as controllers read it. */
export interface TaskRecord {
  taskId: string;
  category: string;
  difficulty?: number;
  /** Attempts sampled (own samples, not refinements). */
  attempts: number;
  /** Attempts that passed. */
  passes: number;
  /** Whether the round solved the task: an accepted attempt (self-training) or a passing one (policy gradient). */
  solved: boolean;
  /** Mean reward of its attempts (null rewards left out). */
  meanReward: number;
  /** Mean |advantage| of its attempts, when a policy-gradient update computed advantages (SEC's learning-gain proxy). */
  meanAbsAdvantage?: number;
}

/**
 * An attempt's figures for choosing settings after the fact (B-STaR): its
 * reward, whether it is right by ground truth, and the temperature it was
 * sampled at. A probe samples the same tasks at several temperatures.
 */
export interface ProbeRecord {
  taskId: string;
  temperature: number;
  reward: number;
  /** Right by ground truth (the task's label), when known. */
  correct: boolean;
  /**
   * The attempt's completion text (or a digest of it). Distinct correct
   * completions count as exploration, as B-STaR's unique correct responses and
   * `explore/distinct_correct_per_task` do; a final answer would not do, since
   * every correct answer to a math task is the same one.
   */
  completion: string;
}

/** One finished round, as controllers read it. */
export interface RoundHistory {
  round: number;
  plan: RoundPlan;
  tasks: TaskRecord[];
  /** Probe samples the round drew for a controller (B-STaR), if any. */
  probes: ProbeRecord[];
  /** The round's metrics. */
  metrics: Record<string, number>;
}

/** What a controller is given before a round. */
export interface ControllerInput<State> {
  round: number;
  /** Finished rounds, oldest first. */
  history: readonly RoundHistory[];
  /** The plan so far (the recipe's defaults, then earlier controllers' changes). */
  plan: RoundPlan;
  /** This controller's state after the last round (undefined before the first). */
  state: State | undefined;
  /**
   * The probe samples the loop drew for this controller before this round,
   * with the current policy (B-STaR searches its settings on them); empty when
   * it declares no `probe`. The loop stores them with the round (`RoundHistory.probes`).
   */
  probes: readonly ProbeRecord[];
  /** Seeds any random choice: the same input and seed give the same plan. */
  seed: number;
}

/** What a controller returns: the plan with its changes, its new state (stored with the round) and metrics (`curriculum/*`, `bstar/*`). */
export interface ControllerOutput<State> {
  plan: RoundPlan;
  state: State;
  metrics: Record<string, number>;
}

/**
 * Sets part of a round's plan from the history. Pure: a resumed run that
 * replays the same history and stored state plans the same round.
 */
export interface Controller<State = unknown> {
  /** What it is, e.g. `sec`, `b-star`. */
  readonly name: string;
  /** Probe samples it wants before it plans a round (B-STaR: temperatures on a few tasks), or none. */
  readonly probe?: { temperatures: number[]; tasks: number; n: number };
  plan(input: ControllerInput<State>): ControllerOutput<State>;
}
