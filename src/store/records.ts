/** The records a run store holds and hands back: samples, round plans, preference pairs. */
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
  logprobs: readonly number[];
  finishReason: 'stop' | 'length';
  policyVersion: string;
  /** Sampler settings, as JSON-able data. */
  sampler: Record<string, unknown>;
  /** The policy-gradient step of the round that sampled it (0 outside RL rounds). */
  step?: number;
}

/** A stored sample, with its id and score (null until scored). */
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
