import { extractAnswer, type MatchOptions } from './match.js';

/**
 * Label-free acceptance by majority vote (self-consistency, Wang et al. 2022,
 * https://arxiv.org/abs/2203.11171): among a task's samples, the most frequent
 * extracted answer wins if enough samples agree on it.
 */
export interface Vote {
  /** The winning answer, or null when no answer reached the agreement threshold. */
  answer: string | null;
  /** Share of samples (with an answer or not) that gave the winning answer. */
  agreement: number;
  /** How many samples gave each answer. */
  counts: Map<string, number>;
}

/** Majority vote over completions; ties go to the answer seen first. `normalize` maps answers before counting. */
export function majorityVote(completions: readonly string[], options: MatchOptions & { minAgreement?: number; normalize?: (answer: string) => string } = {}): Vote {
  const counts = new Map<string, number>();
  for (const completion of completions) {
    const raw = extractAnswer(completion, options);
    if (raw === null || raw === '') continue;
    const answer = options.normalize ? options.normalize(raw) : raw;
    counts.set(answer, (counts.get(answer) ?? 0) + 1);
  }
  let best: string | null = null;
  let bestCount = 0;
  for (const [answer, count] of counts) {
    if (count > bestCount) [best, bestCount] = [answer, count];
  }
  const agreement = completions.length ? bestCount / completions.length : 0;
  const threshold = options.minAgreement ?? 0.5;
  return { answer: agreement >= threshold && best !== null ? best : null, agreement, counts };
}
