/** The records a run store holds and hands back: samples (and the turns of multi-turn trajectories), finished steps, round plans, preference pairs. */
import type { ProbeRecord, RoundPlan } from '../spec/controller.js';
import type { TrajectoryKind } from '../spec/trajectory.js';
import type { Verification } from '../spec/verifier.js';

/** A sample to store: one completion of a task (or a revision of one) and how it was made. */
export interface SampleRow {
  round: number;
  kind: TrajectoryKind;
  taskId: string;
  sampleIndex: number;
  /** The sample a refinement revises. */
  parentId?: number | null;
  /** What the policy read (the task prompt, or a reflection / hint prompt). */
  prompt: string;
  completion: string;
  tokens: readonly number[];
  /** log p of each token under the policy at temperature 1. */
  logprobs: readonly number[];
  /**
   * log p of each token under the distribution it was drawn from (the temperature and top-p used):
   * stored whenever the completion reported them, even where they equal `logprobs` (temperature 1,
   * top-p 1), so a stored sample never has to be read as "same as logprobs" by convention.
   */
  behaviourLogprobs?: readonly number[];
  /** The turn of its episode (default 0, and always set on a stored sample read back: 0 is the first; a later turn of a multi-turn trajectory is a `correction` whose parent is the turn before). */
  turn?: number;
  /** The token ids of this turn's own observation as the policy read them (turn 0: the prompt, with BOS; later: the environment's message only, while `prompt` holds the whole episode so far). */
  observationTokens?: readonly number[];
  finishReason: 'stop' | 'length';
  policyVersion: string;
  /** Sampler settings, as JSON-able data. */
  sampler: Record<string, unknown>;
  /** The policy-gradient step of the round that sampled it (0 outside RL rounds). */
  step?: number;
}

/** A stored sample, with its id and score (null until scored). `behaviourLogprobs` and `observationTokens` are absent where they were not stored (rows written before store version 3, and rows not made from a trajectory). */
export interface StoredSample extends SampleRow {
  id: number;
  verification: Verification | null;
  verifier: { name: string; version: string } | null;
}

/** A preference pair of a round: two samples of one task, the chosen (preferred) and the rejected one. */
export interface PreferencePair {
  taskId: string;
  chosenId: number;
  rejectedId: number;
}

/** A round's plan as stored: the plan, each controller's state by name, and the probe samples each read. */
export interface StoredPlan {
  plan: RoundPlan;
  states: Record<string, unknown>;
  probes: Record<string, ProbeRecord[]>;
}

/** A finished step of a step-wise round (policy gradient, self-play) as stored: one `steps` row and its `step_metrics` rows. */
export interface StoredStep<State = unknown> {
  step: number;
  /**
   * What the next step continues from, as JSON (the policy-gradient cursor and |advantage| sums;
   * self-play's task buffers), on the last finished step of a round only: null on the steps
   * before it (saving a step clears the previous one's, so a round keeps one copy).
   */
  state: State | null;
  /** The step's metrics (finite values only). */
  metrics: Record<string, number>;
  /** When it finished (ISO time); null for a step migrated from a version-2 store. */
  finishedAt: string | null;
}

/** What a step-wise round resumes from: how many steps finished, the last one's state, and every finished step's metrics in order. */
export interface FinishedSteps<State = unknown> {
  steps: number;
  /** The last finished step's state; undefined when no step finished. */
  state: State | undefined;
  metrics: Record<string, number>[];
}
