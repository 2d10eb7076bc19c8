/**
 * A task: a prompt the policy answers, with what is known about the answer.
 * Procedural families, JSONL files and (later) proposers all produce these.
 */
export interface Task {
  /** Stable id, unique within its source (the run store keys samples by it). */
  id: string;
  /** The family or source it comes from, e.g. `addition`. */
  family: string;
  /** Text the policy continues. */
  prompt: string;
  /** Ground-truth final answer, when known. Unlabeled tasks leave it out. */
  answer?: string;
  /** A worked completion (rationale + answer) for supervised fine-tuning, when the source can write one. */
  solution?: string;
  /** Difficulty on the family's own scale (digits, list length, …). */
  difficulty?: number;
  /** Anything else the family's verifier or a curriculum needs. */
  meta?: Record<string, unknown>;
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
  readonly verifier: import('./verifier.js').Verifier;
}
