/**
 * A single-turn trajectory as a run-store sample row: what the policy read
 * (text and token ids) and wrote, its logprobs at temperature 1 and under the
 * behaviour distribution, with its provenance. A multi-turn trajectory is
 * stored one row per turn (src/run/trajectories.ts storeTrajectories), each
 * made here from a one-turn slice: a whole one is refused.
 *
 * The behaviour logprobs stored are the turn's as the rollout set them
 * (reported by the policy, or known without it: temperature 1 and top-p 1,
 * or greedy); a turn without them (a text-only rollout at another
 * temperature) stores null, never a stand-in.
 */
import type { Trajectory } from '../spec/trajectory.js';
import type { SampleRow } from '../store/run-store.js';
import { InternalError } from '../errors.js';

/** The row of a one-turn trajectory; `sampleIndex` is its index among the round's and step's samples of its task, `turnIndex` the turn of its episode it is. */
export function trajectoryRow(trajectory: Trajectory, sampleIndex: number, turnIndex = 0): Omit<SampleRow, 'sampler'> {
  if (trajectory.turns.length !== 1) throw new InternalError(`trajectoryRow: the trajectory of task "${trajectory.task.id}" has ${trajectory.turns.length} turns; a multi-turn trajectory is stored one row per turn (storeTrajectories in src/run/trajectories.ts)`);
  const [turn] = trajectory.turns;
  const { round, step, kind, parentId } = trajectory.provenance;
  return {
    round,
    ...(step !== undefined ? { step } : {}),
    kind,
    taskId: trajectory.task.id,
    sampleIndex,
    ...(parentId !== undefined ? { parentId } : {}),
    turn: turnIndex,
    prompt: turn.observation,
    observationTokens: turn.observationTokens,
    completion: turn.action,
    tokens: turn.actionTokens,
    logprobs: turn.logprobs,
    behaviourLogprobs: turn.behaviourLogprobs,
    finishReason: turn.finishReason,
    policyVersion: trajectory.policyVersion,
  };
}
