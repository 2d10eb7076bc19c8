/**
 * SCoRe's training targets for two-attempt trajectories (Kumar et al. 2024,
 * https://arxiv.org/abs/2409.12917), as pure functions of the per-turn
 * rewards r1 and r2 the two-attempt environment records
 * (src/environments/two-attempt.ts). Each turn gets the reward its tokens are
 * credited with and the coefficient of its KL penalty to the frozen
 * reference; the policy-gradient learner applies them.
 *
 *   Stage I   max E[ r2 − β2·KL_attempt1 − β1·KL_attempt2 ]
 *             attempt 1: reward 0, KL coefficient β2 (strong: attempt 1 stays near the base model)
 *             attempt 2: reward r2, KL coefficient β1
 *   Stage II  max E[ r1 + r̂2 − β1·(KL_attempt1 + KL_attempt2) ],  r̂2 = r2 + α·(r2 − r1)
 *             attempt 1: reward r1, attempt 2: reward r̂2, both KL coefficient β1
 *             total = r1 + r2 + α·(r2 − r1)
 *
 * The paper's Stage I objective (its Eq. 3) writes only the β2 term on attempt
 * 1; β1 on attempt 2 is the usual KL regularizer of its RL runs, and β1 = 0
 * gives Eq. 3 exactly. The bonus α·(r2 − r1) rewards a wrong-to-right
 * correction and penalizes right-to-wrong; it is added to the second attempt's
 * reward. Per-turn rewards are instantaneous (each turn is credited with its
 * own reward); a learner that credits turns with returns sums them
 * (`total`).
 */
import type { Trajectory } from '../spec/trajectory.js';
import { InvalidArgumentError, InvalidConfigError } from '../errors.js';

/** Which SCoRe stage, and its coefficients. */
export interface ScoreSettings {
  stage: 1 | 2;
  /** β1: the KL coefficient of attempt 2 (Stage I) and of both attempts (Stage II). */
  beta1: number;
  /** β2: Stage I's strong KL coefficient on attempt 1 (β2 ≫ β1). */
  beta2: number;
  /** α: Stage II's self-correction bonus, α·(r2 − r1) added to attempt 2's reward. */
  alpha: number;
}

/** What one turn is trained towards: the reward its tokens are credited with and the coefficient of its KL penalty. */
export interface TurnTarget {
  reward: number;
  klCoefficient: number;
}

/** Both turns' targets and the trajectory's total (shaped) reward. */
export interface ScoreTargets {
  turns: [TurnTarget, TurnTarget];
  total: number;
}

function checkSettings(settings: ScoreSettings): void {
  if (settings.stage !== 1 && settings.stage !== 2) throw new InvalidConfigError('score.stage', `must be 1 or 2, got ${String(settings.stage)}`);
  for (const key of ['beta1', 'beta2', 'alpha'] as const) {
    const value = settings[key];
    if (!(Number.isFinite(value) && value >= 0)) throw new InvalidConfigError(`score.${key}`, `must be a non-negative number, got ${value}`);
  }
}

/**
 * SCoRe's targets from the two attempts' rewards; null when a reward the
 * stage needs is null (not scored: Stage I needs r2, Stage II both), so the
 * trajectory leaves the batch and is counted, never trained as a 0.
 */
export function scoreTargetsOfRewards(firstReward: number | null, secondReward: number | null, settings: ScoreSettings): ScoreTargets | null {
  checkSettings(settings);
  const { beta1, beta2, alpha } = settings;
  if (secondReward === null) return null;
  if (settings.stage === 1) {
    return { turns: [{ reward: 0, klCoefficient: beta2 }, { reward: secondReward, klCoefficient: beta1 }], total: secondReward };
  }
  if (firstReward === null) return null;
  const shapedSecond = secondReward + alpha * (secondReward - firstReward);
  return { turns: [{ reward: firstReward, klCoefficient: beta1 }, { reward: shapedSecond, klCoefficient: beta1 }], total: firstReward + shapedSecond };
}

/** SCoRe's targets for a two-turn trajectory of the two-attempt environment (its turns' rewards); another turn count is an InvalidArgumentError. */
export function scoreTargets(trajectory: Pick<Trajectory, 'task' | 'turns'>, settings: ScoreSettings): ScoreTargets | null {
  if (trajectory.turns.length !== 2) throw new InvalidArgumentError('trajectory', `SCoRe trains on two-attempt trajectories; the one of task "${trajectory.task.id}" has ${trajectory.turns.length} turns (use twoAttemptEnvironment)`);
  return scoreTargetsOfRewards(trajectory.turns[0].reward, trajectory.turns[1].reward, settings);
}
