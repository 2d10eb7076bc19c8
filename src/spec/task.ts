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
