/**
 * Self-correction metrics of two-attempt trajectories: SCoRe's accuracies
 * and transition shares (Kumar et al. 2024, https://arxiv.org/abs/2409.12917:
 * Accuracy@t1, Accuracy@t2, Δ(t1, t2), Δ^{i→c}, Δ^{c→i}) and the
 * Confidence-vs-Critique decomposition (Yang et al. 2024,
 * https://arxiv.org/abs/2412.19513).
 *
 * Over the N trajectories whose two attempts were both scored, with R1 / W1
 * those right / wrong at attempt 1:
 *   acc_t1      |R1| / N
 *   acc_t2      |right at attempt 2| / N
 *   delta       acc_t2 − acc_t1  (= i_to_c − c_to_i)
 *   i_to_c      |W1 ∩ right at 2| / N      (a share of all problems, as SCoRe reports it)
 *   c_to_i      |R1 ∩ wrong at 2| / N
 *   confidence  |R1 ∩ right at 2| / |R1|   (the Confidence Level CL = P(right at 2 | right at 1))
 *   critique    |W1 ∩ right at 2| / |W1|   (the Critique Score CS = P(right at 2 | wrong at 1))
 * so that acc_t2 = acc_t1·CL + (1 − acc_t1)·CS (the paper's decomposition).
 * An empty denominator gives 0, never NaN; the counts `problems`,
 * `right_t1` and `wrong_t1` say how many each rate stands on, and
 * `unscored` counts trajectories left out because an attempt had no score.
 */
import type { Trajectory, Turn } from '../spec/trajectory.js';

/** Whether each attempt was right. */
export interface AttemptOutcome {
  first: boolean;
  second: boolean;
}

/** A turn's pass by its verdict; null when it was not scored (verifier error, not applicable, no verifier). */
function turnPass(turn: Turn): boolean | null {
  return turn.verification?.status === 'scored' ? turn.verification.pass : null;
}

/** The two attempts' outcomes of a trajectory; null unless it has exactly two turns, both scored. */
export function attemptOutcome(trajectory: Pick<Trajectory, 'turns'>): AttemptOutcome | null {
  if (trajectory.turns.length !== 2) return null;
  const first = turnPass(trajectory.turns[0]);
  const second = turnPass(trajectory.turns[1]);
  return first === null || second === null ? null : { first, second };
}

const share = (count: number, of: number) => (of > 0 ? count / of : 0);

/** The metrics of a set of attempt outcomes (see the module comment); `unscored` is passed through as a count. */
export function correctionMetricsOfOutcomes(outcomes: readonly AttemptOutcome[], unscored = 0): Record<string, number> {
  const problems = outcomes.length;
  let rightFirst = 0;
  let rightSecond = 0;
  let rightToRight = 0;
  let wrongToRight = 0;
  for (const { first, second } of outcomes) {
    if (first) rightFirst++;
    if (second) rightSecond++;
    if (first && second) rightToRight++;
    if (!first && second) wrongToRight++;
  }
  const wrongFirst = problems - rightFirst;
  const rightToWrong = rightFirst - rightToRight;
  return {
    'correction/acc_t1': share(rightFirst, problems),
    'correction/acc_t2': share(rightSecond, problems),
    'correction/delta': share(rightSecond - rightFirst, problems),
    'correction/i_to_c': share(wrongToRight, problems),
    'correction/c_to_i': share(rightToWrong, problems),
    'correction/confidence': share(rightToRight, rightFirst),
    'correction/critique': share(wrongToRight, wrongFirst),
    'correction/problems': problems,
    'correction/right_t1': rightFirst,
    'correction/wrong_t1': wrongFirst,
    'correction/unscored': unscored,
  };
}

/** The correction metrics of two-attempt trajectories; those without two scored attempts are left out and counted in `correction/unscored`. */
export function correctionMetrics(trajectories: readonly Pick<Trajectory, 'turns'>[]): Record<string, number> {
  const outcomes: AttemptOutcome[] = [];
  for (const trajectory of trajectories) {
    const outcome = attemptOutcome(trajectory);
    if (outcome) outcomes.push(outcome);
  }
  return correctionMetricsOfOutcomes(outcomes, trajectories.length - outcomes.length);
}
