/**
 * The curricula as the loop ran them before controllers (src/loop/curricula.ts
 * and src/spec/curriculum.ts until issue 15), kept as the reference the
 * easy-to-hard controller is checked against: same outcomes, same plans.
 */
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

/** Every round at one difficulty. */
export function fixedCurriculum(difficulty: number): Curriculum {
  return { name: 'fixed', plan: (_round, _history): RoundPlan => ({ frontier: difficulty, counts: [{ difficulty, count: -1 }] }) };
}

/**
 * Easy to hard: the frontier starts at `start` and moves up one once a round
 * at the frontier had an accepted attempt for at least `promoteAt` of its
 * frontier tasks (the policy has mastered it), up to `max`. A `review` share of
 * each round's tasks is spread over the easier difficulties from `floor`
 * upwards, against forgetting. Counts of -1 mean "the rest of the round".
 */
export function easyToHardCurriculum(options: { start: number; max: number; promoteAt: number; review: number; floor: number }): Curriculum {
  return {
    name: 'easy-to-hard',
    plan(_round: number, history: readonly RoundOutcome[]): RoundPlan {
      let frontier = options.start;
      for (const outcome of history) {
        const atFrontier = outcome.byDifficulty[String(outcome.frontier)];
        const mastered = atFrontier !== undefined && atFrontier.tasks > 0 && atFrontier.solved / atFrontier.tasks >= options.promoteAt;
        frontier = mastered ? Math.min(outcome.frontier + 1, options.max) : outcome.frontier;
      }
      const easier = [];
      for (let d = options.floor; d < frontier; d++) easier.push(d);
      if (options.review === 0 || easier.length === 0) return { frontier, counts: [{ difficulty: frontier, count: -1 }] };
      return { frontier, counts: [{ difficulty: frontier, count: -1 }, ...easier.map((difficulty) => ({ difficulty, count: -options.review / easier.length }))] };
    },
  };
}

/**
 * Turns a plan's counts into task counts for a round of `total` tasks:
 * positive counts are taken as they are, negative ones are shares of what is
 * left (-1 = all of it, -0.25 = a quarter); the frontier gets the rest.
 */
export function planCounts(plan: RoundPlan, total: number): { difficulty: number; count: number }[] {
  const fixed = plan.counts.filter((c) => c.count >= 0).reduce((sum, c) => sum + c.count, 0);
  const left = Math.max(0, total - fixed);
  const shares = plan.counts.filter((c) => c.count < 0 && c.difficulty !== plan.frontier);
  const out = plan.counts.filter((c) => c.count >= 0).map((c) => ({ ...c }));
  let used = fixed;
  for (const share of shares) {
    const count = Math.floor(left * -share.count);
    out.push({ difficulty: share.difficulty, count });
    used += count;
  }
  if (plan.counts.some((c) => c.difficulty === plan.frontier && c.count < 0)) out.unshift({ difficulty: plan.frontier, count: Math.max(0, total - used) });
  return out.filter((c) => c.count > 0);
}
