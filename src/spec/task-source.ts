import type { Task } from './task.js';

/** What a loop round asks a task source for. */
export interface TaskRequest {
  /** How many tasks. */
  count: number;
  /** Difficulty on the source's scale; sources without one ignore it. */
  difficulty: number;
  /** The same request and seed give the same tasks. */
  seed: number;
  /** Prefix of task ids, so splits (`round-3`, `heldout`) never collide. */
  split: string;
}

/**
 * Where a loop's tasks come from: a procedural family (seeded, with a
 * difficulty knob), a JSONL file, or later a proposer whose tasks an executor
 * validates (Absolute Zero). Sources are deterministic, so a resumed run sees
 * the same tasks.
 */
export interface TaskSource {
  /** Name recorded with every task. */
  readonly name: string;
  /** Valid difficulties, inclusive. */
  readonly difficulty: { min: number; max: number };
  /** The tasks of one request. */
  tasks(request: TaskRequest): Task[];
}
