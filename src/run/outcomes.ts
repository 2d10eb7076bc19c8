/**
 * What curricula read of finished rounds: tasks and solved tasks per
 * difficulty, stored with each round.
 */
import type { RoundOutcome } from '../spec/curriculum.js';
import type { Task } from '../spec/task.js';
import type { RunStore } from '../store/run-store.js';

/** What the curriculum reads of a round: tasks and solved tasks per difficulty. */
export function saveOutcome(store: RunStore, round: number, frontier: number, tasks: readonly Task[], solved: ReadonlySet<string>): void {
  const byDifficulty: RoundOutcome['byDifficulty'] = {};
  for (const task of tasks) {
    const entry = (byDifficulty[String(task.difficulty ?? 0)] ??= { tasks: 0, solved: 0 });
    entry.tasks++;
    if (solved.has(task.id)) entry.solved++;
  }
  store.setMeta(`outcome/${round}`, JSON.stringify({ round, frontier, byDifficulty } satisfies RoundOutcome));
}

/** The outcomes of the rounds before `before`. */
export function outcomes(store: RunStore, before: number): RoundOutcome[] {
  const list: RoundOutcome[] = [];
  for (let r = 1; r < before; r++) {
    const saved = store.getMeta(`outcome/${r}`);
    if (saved) list.push(JSON.parse(saved) as RoundOutcome);
  }
  return list;
}
