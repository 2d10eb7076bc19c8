import type { Task } from './task.js';
import type { Verifier } from './verifier.js';

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

/** Options of a procedural generator. */
export interface GenerateOptions {
  /** How many tasks. */
  count: number;
  /** Difficulty on the family's scale. */
  difficulty: number;
  /** Seed: the same options give the same tasks. */
  seed: number;
  /** Task ids are prefixed with this (e.g. `train`, `heldout`), so splits never collide. */
  split?: string;
}

/**
 * A task family: a seeded generator with a difficulty knob and the verifier
 * that scores its answers. This is the public task API: a user writes one in
 * their own module and names it in a recipe by module path.
 */
export interface TaskFamily {
  /** Family name, also the `family` field of its tasks. */
  readonly name: string;
  /** Valid difficulties, inclusive. */
  readonly difficulty: { min: number; max: number };
  /** Generates `count` tasks of a difficulty. */
  generate(options: GenerateOptions): Task[];
  /** The verifier for this family's answers. */
  readonly verifier: Verifier;
}
