/** What a curriculum knows of a finished round. */
export interface RoundOutcome {
  round: number;
  /** Per difficulty: tasks sampled and tasks with at least one accepted attempt. */
  byDifficulty: Record<string, { tasks: number; solved: number }>;
  /** The difficulty the round focused on. */
  frontier: number;
}

/** The tasks of one round: how many of each difficulty. */
export interface RoundPlan {
  /** The difficulty the round focuses on (the hardest it asks for). */
  frontier: number;
  /** Task counts per difficulty. */
  counts: { difficulty: number; count: number }[];
}

/**
 * Picks what a round trains on from the outcomes of earlier rounds. Curricula
 * are pure functions of that history, so a resumed run plans the same rounds.
 */
export interface Curriculum {
  readonly name: string;
  plan(round: number, history: readonly RoundOutcome[]): RoundPlan;
}
