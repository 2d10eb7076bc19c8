/**
 * Majority vote as a label-free reward (self-consistency as a pseudo-label):
 * the answers of a task's n samples vote, and each sample scores 1 when its
 * answer is the winner, 0 otherwise. This is TTRL's reward (Zuo et al. 2025,
 * "TTRL: Test-Time Reinforcement Learning", https://arxiv.org/abs/2504.16084),
 * built on self-consistency (Wang et al. 2022, https://arxiv.org/abs/2203.11171).
 *
 * It needs the whole group, so it implements `verifyGroups`; `verify` on a
 * lone completion answers `not-applicable`. A group gets no label — every
 * sample `not-applicable`, never a silent 0 — when no sample has an answer,
 * when two answers tie for first place, or when the winner's share of the
 * group is below `minAgreement`. Those groups carry no reward signal: the
 * loop leaves them out of RL steps and of the accepted set, and counts them
 * in `verify/not_applicable_rate` (`sampling/verify_errors` in RL rounds).
 *
 * In RL rounds a group is what one sampling call drew for a prompt: with
 * Reinforce-Ada's rounds of `perRound` samples, each round votes on its own
 * (so a recipe with `rl.sampling.perRound: 1` is refused).
 *
 * Unlike `accept.by: majority` (src/learn/curate.ts), whose ties go to the
 * answer seen first, a tie here abstains: a reward that picks one of two
 * equally supported answers by sample order would teach noise.
 */
import type { Task } from '../spec/task.js';
import type { Verification, VerificationGroup, Verifier } from '../spec/verifier.js';
import { majorityVote } from './consensus.js';
import { extractAnswer, parseNumber, type MatchOptions } from './match.js';

/** How answers are compared before counting: as written, ignoring case and spacing, or as numbers (`12`, `012` and `12.0` agree). */
export type VoteMatch = 'exact' | 'normalized' | 'numeric';

export interface MajorityVoteOptions extends Pick<MatchOptions, 'answerMarker' | 'answerEnd'> {
  /** Share of the group (samples without an answer count in the denominator) the winning answer needs (default 0.5). */
  minAgreement?: number;
  /** How answers are compared (default `exact`). */
  match?: VoteMatch;
}

/** The comparison key of an answer. */
export function voteKey(answer: string, match: VoteMatch): string {
  if (match === 'normalized') return answer.trim().replace(/\s+/g, ' ').toLowerCase();
  if (match === 'numeric') {
    const value = parseNumber(answer);
    return value === null ? answer.trim() : String(value);
  }
  return answer;
}

/** A verifier that rewards agreement with the majority answer of a task's samples. */
export function majorityVoteVerifier(options: MajorityVoteOptions = {}): Verifier {
  const minAgreement = options.minAgreement ?? 0.5;
  const match = options.match ?? 'exact';
  if (!(minAgreement >= 0 && minAgreement <= 1)) throw new RangeError(`majorityVoteVerifier: minAgreement must be in [0, 1], got ${minAgreement}`);
  const extract = { answerMarker: options.answerMarker, answerEnd: options.answerEnd };
  const marker = options.answerMarker !== undefined ? `, after ${JSON.stringify(options.answerMarker)}` : '';
  return {
    name: 'majority-vote',
    version: `1 (${match}, min ${minAgreement}${marker})`,
    verify(task: Task): Verification {
      return { status: 'not-applicable', reason: `majority vote scores the samples of task ${task.id} together (verifyGroups); a lone completion has no group to vote with` };
    },
    async verifyGroups(groups: readonly VerificationGroup[]): Promise<Verification[][]> {
      return groups.map(({ completions }) => voteGroup(completions, extract, match, minAgreement));
    },
  };
}

function voteGroup(completions: readonly string[], extract: Pick<MatchOptions, 'answerMarker' | 'answerEnd'>, match: VoteMatch, minAgreement: number): Verification[] {
  const n = completions.length;
  const vote = majorityVote(completions, { ...extract, minAgreement: 0, normalize: (answer) => voteKey(answer, match) });
  const abstain = (reason: string): Verification[] => completions.map(() => ({ status: 'not-applicable', reason }));
  if (vote.counts.size === 0) return abstain(`no majority: none of the ${n} samples has an answer to vote on`);
  const top = Math.max(...vote.counts.values());
  const leaders = [...vote.counts].filter(([, count]) => count === top).map(([answer]) => answer);
  if (leaders.length > 1) return abstain(`no majority: ${leaders.slice(0, 3).map((a) => JSON.stringify(a)).join(', ')}${leaders.length > 3 ? ', …' : ''} tie with ${top} of ${n} samples each`);
  const winner = leaders[0];
  if (top / n < minAgreement) return abstain(`no majority: the most common answer ${JSON.stringify(winner)} has ${top} of ${n} samples, below minAgreement ${minAgreement}`);
  const share = `${top} of ${n} samples`;
  return completions.map((completion) => {
    const raw = extractAnswer(completion, extract);
    if (raw === null || raw === '') {
      return { status: 'scored', reward: 0, pass: false, feedback: extract.answerMarker !== undefined && raw === null ? `no answer found: the completion has no ${JSON.stringify(extract.answerMarker)}` : 'no answer found: the answer is empty' };
    }
    const agrees = voteKey(raw, match) === winner;
    return agrees
      ? { status: 'scored', reward: 1, pass: true, feedback: `agrees with the majority answer ${JSON.stringify(winner)} (${share})`, extracted: raw }
      : { status: 'scored', reward: 0, pass: false, feedback: `disagrees with the majority answer ${JSON.stringify(winner)} (${share})`, extracted: raw };
  });
}
