/**
 * A single-turn trajectory as a run-store sample row: what the policy read
 * and wrote, with its provenance. (Multi-turn trajectories need the store's
 * turns table, which is not built yet: they are refused here.)
 */
import type { Trajectory } from '../spec/trajectory.js';
import type { SampleRow } from '../store/run-store.js';
import { InternalError } from '../errors.js';

/** The row of a one-turn trajectory; `sampleIndex` is its index among the round's and step's samples of its task. */
export function trajectoryRow(trajectory: Trajectory, sampleIndex: number): Omit<SampleRow, 'sampler'> {
  if (trajectory.turns.length !== 1) throw new InternalError(`trajectoryRow: the trajectory of task "${trajectory.task.id}" has ${trajectory.turns.length} turns; the run store keeps single-turn samples only`);
  const [turn] = trajectory.turns;
  const { round, step, kind, parentId } = trajectory.provenance;
  return {
    round,
    ...(step !== undefined ? { step } : {}),
    kind,
    taskId: trajectory.task.id,
    sampleIndex,
    ...(parentId !== undefined ? { parentId } : {}),
    prompt: turn.observation,
    completion: turn.action,
    tokens: turn.actionTokens,
    logprobs: turn.logprobs,
    finishReason: turn.finishReason,
    policyVersion: trajectory.policyVersion,
  };
}
