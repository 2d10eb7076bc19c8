/**
 * Learner data from trajectories: the sequence a trajectory's policy read and
 * wrote (every turn's observation tokens, then its action tokens), as a Datum
 * whose weights mark the trained action tokens, with the behaviour and
 * temperature-1 logprobs of those tokens. Built from the tokens the rollout
 * recorded, never by re-encoding text.
 */
import type { Datum } from '../spec/training-backend.js';
import type { Trajectory } from '../spec/trajectory.js';
import { InvalidArgumentError } from '../errors.js';

/** A trajectory as learner data. */
export interface TrajectoryDatum {
  /** inputTokens = sequence[0..n−1), targetTokens = sequence[1..n); weights 1 on trained action tokens, 0 elsewhere. */
  datum: Datum;
  /** Per trained turn: which turn, and where its action's targets start in targetTokens and how many there are. */
  spans: { turn: number; start: number; length: number }[];
  /** Behaviour logprobs of the trained tokens, in order (the importance ratios' denominators). */
  behaviourLogprobs: number[];
  /** Temperature-1 logprobs of the trained tokens, in order. */
  logprobs: number[];
}

/**
 * The datum of a trajectory, training the actions of `turns` (default: every
 * turn). A turn whose action is empty adds no target.
 */
export function trajectoryDatum(trajectory: Trajectory, turns: readonly number[] = trajectory.turns.map((_, t) => t)): TrajectoryDatum {
  const sequence: number[] = [];
  const trained = new Set(turns);
  for (const t of trained) if (!Number.isInteger(t) || t < 0 || t >= trajectory.turns.length) throw new InvalidArgumentError('turns', `names turn ${t}, but the trajectory of task "${trajectory.task.id}" has ${trajectory.turns.length}`);
  const spans: TrajectoryDatum['spans'] = [];
  const behaviourLogprobs: number[] = [];
  const logprobs: number[] = [];
  trajectory.turns.forEach((turn, t) => {
    sequence.push(...turn.observationTokens);
    // Target k predicts sequence[k + 1]: the action's first token is the target at (its position − 1).
    if (trained.has(t) && turn.actionTokens.length > 0) {
      spans.push({ turn: t, start: sequence.length - 1, length: turn.actionTokens.length });
      if (!turn.behaviourLogprobs) throw new InvalidArgumentError('trajectory', `of task "${trajectory.task.id}" has no behaviour logprobs at turn ${t} (a text-only rollout at a temperature ≠ 1); a learner datum needs them: roll out with needs: 'tokens' and a policy that reports them`);
      behaviourLogprobs.push(...turn.behaviourLogprobs);
      logprobs.push(...turn.logprobs);
    }
    sequence.push(...turn.actionTokens);
  });
  if (sequence.length < 2) throw new InvalidArgumentError('trajectory', `of task "${trajectory.task.id}" has ${sequence.length} tokens; a datum needs at least 2`);
  const weights = new Array<number>(sequence.length - 1).fill(0);
  for (const span of spans) weights.fill(1, span.start, span.start + span.length);
  return { datum: { inputTokens: sequence.slice(0, -1), targetTokens: sequence.slice(1), weights }, spans, behaviourLogprobs, logprobs };
}

/** Whether the trained tokens are one suffix of the datum (a single-turn trajectory, or only its last turn trained): the form today's policy losses take. */
export function trainsSuffix(data: TrajectoryDatum): boolean {
  if (data.spans.length !== 1) return false;
  const [span] = data.spans;
  return span.start + span.length === data.datum.targetTokens.length;
}
