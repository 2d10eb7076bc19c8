/**
 * LLM-as-judge: a policy reads a rubric filled with the task, the reference
 * answer (when the task has one) and a completion, writes a rationale and a
 * score; the score, mapped to [0, 1], is the reward. With the policy itself as
 * the judge this is self-rewarding (Yuan et al. 2024, "Self-Rewarding Language
 * Models", https://arxiv.org/abs/2401.10020; SSR-Zero, Yang et al. 2025,
 * https://arxiv.org/abs/2505.16637) and the "sharpening" view of
 * self-verification (Huang et al. 2024, https://arxiv.org/abs/2412.01951).
 * The `[[8]]` form is MT-Bench's (Zheng et al. 2023, https://arxiv.org/abs/2306.05685).
 *
 * Parsing (`parseJudgement`), per judge sample:
 * - Numeric scales ({min, max}). Explicit forms, case-insensitive:
 *   `<score>8</score>` (or `<rating>`), `[[8]]`, and a keyword — score, rating,
 *   grade, optionally "final"/"overall", optionally in markdown bold — followed
 *   by `:`, `=` or `is`, then the number, e.g. `Score: 7/10`, `**Rating:** 4 out of 5`.
 *   Only when there is no explicit form, a bare `X/max` or `X out of max` whose
 *   denominator is the scale's max (so "2/3 of the digits" in a rationale does not count).
 * - Verdicts (`yes-no`). Explicit forms: `<verdict>YES</verdict>`, `[[YES]]`, and
 *   a keyword (verdict, judgement, judgment, decision, answer, correct) with `:`
 *   or `=`, any case. Otherwise an upper-case YES or NO as a word, or an output
 *   that is only "yes" or "no" (any case, trailing punctuation allowed).
 * - Several matches of the chosen kind: the last one wins (`pick: 'last'`,
 *   the default: judges reason first and conclude), or the first (`pick: 'first'`,
 *   for rubrics that ask for the score up front).
 * - A chosen number outside [min, max], or written over another denominator
 *   (`4/5` on a 1–10 scale), makes the sample unparseable, with that reason;
 *   it is never clamped or rescaled.
 *
 * Reward: (score − min) / (max − min), YES = 1 and NO = 0. With `samples` > 1
 * the reward is the mean over the samples that parsed; those that did not are
 * left out and the feedback says how many parsed. When none parses, the
 * verdict is `{ status: 'error', error: 'judge output unparseable: …' }`.
 * `pass` is reward ≥ `threshold`. The feedback carries the rationale of the
 * first parsed sample (whitespace collapsed, cut to `feedbackChars`).
 *
 * Judge failures. A prompt the judge refuses as an argument (its sampler
 * throws InvalidArgumentError: the rubric filled with a long task and
 * completion is longer than the judge model's maxSeqLen, …) is that item's
 * verdict, `{ status: 'error', error: 'judge … cannot judge this completion: …' }`,
 * counted with the other errors (`verify/error_rate`, `sampling/verify_errors`);
 * the other items of the batch are judged as usual. The judge policy does not
 * expose its context length or tokenizer, so the refused prompts are found by
 * splitting a refused batch in halves until they stand alone (a few more
 * judge calls, only when some prompt is refused). Every other failure — a
 * server or transport error (ApiCallError), a dead engine, an answer of the
 * wrong shape — is thrown and stops the round: a judge that is down must not
 * silently turn the reward into errors.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, PolicyReplyError } from '../errors.js';
import { unknownPlaceholder } from '../config/template.js';
import type { Completion, Policy } from '../spec/policy.js';
import type { Task } from '../spec/task.js';
import type { Verification, VerificationGroup, Verifier } from '../spec/verifier.js';

/** A numeric scale from min (reward 0) to max (reward 1), or a YES/NO verdict. */
export type JudgeScale = { min: number; max: number } | 'yes-no';

/** The judge: anything that samples completions for prompts (the policy itself, another model). */
export type JudgePolicy = Pick<Policy, 'name' | 'sample'>;

export interface JudgeOptions {
  policy: JudgePolicy;
  /**
   * Prompt template: `{prompt}`, `{completion}`, `{reference}`, `{min}`, `{max}`
   * are filled in. Lines holding `{reference}` are dropped when the task has no
   * answer (or `reference` is false). Default: DEFAULT_RUBRIC or DEFAULT_VERDICT_RUBRIC.
   */
  rubric?: string;
  /** Default { min: 1, max: 10 }. */
  scale?: JudgeScale;
  /** Judge samples per completion; the reward is their mean (default 1). */
  samples?: number;
  /** Judge sampling temperature (default 0). */
  temperature?: number;
  topP?: number;
  /** Judge tokens per sample (default 256). */
  maxTokens?: number;
  stop?: string[];
  /** Base seed of the judge's sampling; each batch's seed also depends on its prompts (default 0). */
  seed?: number;
  /** `pass` when the reward is at least this (default 0.5). */
  threshold?: number;
  /** Which match wins when a sample has several (default `last`). */
  pick?: 'last' | 'first';
  /** Show the judge the task's answer when it has one (default true). */
  reference?: boolean;
  /** Longest rationale kept in the feedback (default 500 characters). */
  feedbackChars?: number;
}

export const DEFAULT_RUBRIC = [
  'Please act as an impartial judge and evaluate the response to the task below.',
  'Task: {prompt}',
  'Reference answer: {reference}',
  'Response: {completion}',
  'Explain briefly whether the response is correct and complete, then give a score from {min} to {max} on the last line, in the form "Score: N".',
].join('\n');

export const DEFAULT_VERDICT_RUBRIC = [
  'Please act as an impartial judge and decide whether the response to the task below is correct.',
  'Task: {prompt}',
  'Reference answer: {reference}',
  'Response: {completion}',
  'Explain briefly, then end with "Verdict: YES" if the response is correct or "Verdict: NO" if it is not.',
].join('\n');

const PLACEHOLDERS = ['prompt', 'completion', 'reference', 'min', 'max'];

/** What is wrong with a rubric (unknown placeholders, no `{completion}`), or null. */
export function rubricProblem(rubric: string): string | null {
  const unknown = unknownPlaceholder(rubric, PLACEHOLDERS);
  if (unknown) return unknown;
  if (!rubric.includes('{completion}')) return 'has no {completion}: the judge would never see the answer it scores';
  return null;
}

/** The judge's prompt for one completion. */
export function judgePrompt(rubric: string, task: Task, completion: string, scale: JudgeScale, useReference = true): string {
  const reference = useReference ? task.answer : undefined;
  const lines = reference === undefined ? rubric.split('\n').filter((line) => !line.includes('{reference}')) : rubric.split('\n');
  const values: Record<string, string> = { prompt: task.prompt, completion, reference: reference ?? '', min: scale === 'yes-no' ? 'NO' : String(scale.min), max: scale === 'yes-no' ? 'YES' : String(scale.max) };
  // One pass over the template: text filled in (a prompt holding "{max}") is not scanned again.
  return lines.join('\n').replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** One judge sample, parsed: its score and reward, or why it could not be read. */
export type Judgement = { ok: true; score: number; reward: number; matched: string } | { ok: false; reason: string };

interface Candidate {
  index: number;
  text: string;
  value: number;
  denominator?: number;
}

const number = (name: string) => `(?<${name}>[+-]?\\d+(?:\\.\\d+)?)`;
const DENOMINATOR = `(?:\\s*(?:\\/|out\\s+of)\\s*${number('denominator')})?`;
const EXPLICIT_SCORE = [
  new RegExp(`<(score|rating)>\\s*${number('value')}${DENOMINATOR}\\s*<\\/\\1>`, 'gi'),
  new RegExp(`\\[\\[\\s*${number('value')}${DENOMINATOR}\\s*\\]\\]`, 'gi'),
  new RegExp(`\\b(?:(?:final|overall)\\s+)?(?:score|rating|grade)s?\\s*\\**\\s*(?::|=|\\bis\\b)\\s*\\**\\s*${number('value')}${DENOMINATOR}`, 'gi'),
];
// A bare fraction: not inside a longer number or path on either side.
const BARE_SCORE = new RegExp(`(?<![\\w./])${number('value')}\\s*(?:\\/|out\\s+of)\\s*${number('denominator')}(?![\\w/]|\\.\\d)`, 'gi');

function scoreCandidates(pattern: RegExp, text: string): Candidate[] {
  return [...text.matchAll(pattern)].map((m) => ({
    index: m.index,
    text: m[0],
    value: Number(m.groups!.value),
    denominator: m.groups!.denominator !== undefined ? Number(m.groups!.denominator) : undefined,
  }));
}

function pickOf<T extends { index: number }>(candidates: T[], pick: 'last' | 'first'): T | undefined {
  const sorted = [...candidates].sort((a, b) => a.index - b.index);
  return pick === 'last' ? sorted.at(-1) : sorted[0];
}

/** Reads a score or verdict from one judge output (rules in the module comment). */
export function parseJudgement(output: string, scale: JudgeScale, pick: 'last' | 'first' = 'last'): Judgement {
  if (scale === 'yes-no') return parseVerdict(output, pick);
  const { min, max } = scale;
  const explicit = EXPLICIT_SCORE.flatMap((pattern) => scoreCandidates(pattern, output));
  const bare = explicit.length ? [] : scoreCandidates(BARE_SCORE, output).filter((c) => c.denominator === max);
  const chosen = pickOf(explicit.length ? explicit : bare, pick);
  if (!chosen) return { ok: false, reason: `no score found (expected e.g. "Score: N" with N from ${min} to ${max})` };
  if (chosen.denominator !== undefined && chosen.denominator !== max) return { ok: false, reason: `"${chosen.text}" is out of ${chosen.denominator}, not on the scale ${min}–${max}` };
  if (!(chosen.value >= min && chosen.value <= max)) return { ok: false, reason: `score ${chosen.value} in "${chosen.text}" is outside the scale ${min}–${max}` };
  return { ok: true, score: chosen.value, reward: (chosen.value - min) / (max - min), matched: chosen.text };
}

const EXPLICIT_VERDICT = [/<verdict>\s*(yes|no)\s*<\/verdict>/gi, /\[\[\s*(yes|no)\s*\]\]/gi, /\b(?:verdict|judge?ment|decision|answer|correct)\s*\**\s*[:=]\s*\**\s*(yes|no)\b/gi];

function parseVerdict(output: string, pick: 'last' | 'first'): Judgement {
  const only = /^\W*(yes|no)\W*$/i.exec(output.trim());
  const explicit = EXPLICIT_VERDICT.flatMap((pattern) => [...output.matchAll(pattern)].map((m) => ({ index: m.index, text: m[0], word: m[1] })));
  const bare = explicit.length ? [] : only ? [{ index: 0, text: only[0], word: only[1] }] : [...output.matchAll(/\b(YES|NO)\b/g)].map((m) => ({ index: m.index, text: m[0], word: m[1] }));
  const chosen = pickOf(explicit.length ? explicit : bare, pick);
  if (!chosen) return { ok: false, reason: 'no verdict found (expected "Verdict: YES" or "Verdict: NO")' };
  const yes = chosen.word.toLowerCase() === 'yes';
  return { ok: true, score: yes ? 1 : 0, reward: yes ? 1 : 0, matched: chosen.text };
}

/** Whitespace collapsed, cut to `limit` characters. */
function trimmed(text: string, limit: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > limit ? `${flat.slice(0, limit - 1)}…` : flat;
}

/** Combines the judge samples of one completion into a verdict (rules in the module comment). */
export function combineJudgements(outputs: readonly string[], scale: JudgeScale, options: { pick?: 'last' | 'first'; threshold?: number; feedbackChars?: number } = {}): Verification {
  const parsed = outputs.map((output) => parseJudgement(output, scale, options.pick ?? 'last'));
  const good = parsed.flatMap((p, i) => (p.ok ? [{ ...p, output: outputs[i] }] : []));
  if (good.length === 0) {
    const first = parsed.find((p): p is Extract<Judgement, { ok: false }> => !p.ok);
    const count = outputs.length > 1 ? ` (0 of ${outputs.length} judge samples parsed; the first:)` : '';
    return { status: 'error', error: `judge output unparseable${count}: ${first?.reason ?? 'the judge returned no samples'}; output: "${trimmed(outputs[0] ?? '', 160)}"` };
  }
  const reward = good.reduce((sum, p) => sum + p.reward, 0) / good.length;
  const mean = good.reduce((sum, p) => sum + p.score, 0) / good.length;
  const shown = scale === 'yes-no' ? `${good.filter((p) => p.score === 1).length} of ${good.length} YES` : `score ${Number(mean.toFixed(2))} on ${scale.min}–${scale.max}`;
  const partial = good.length < outputs.length ? `, ${good.length} of ${outputs.length} judge samples parsed` : '';
  return { status: 'scored', reward, pass: reward >= (options.threshold ?? 0.5), feedback: `judge: ${shown}${partial}. ${trimmed(good[0].output, options.feedbackChars ?? 500)}` };
}

/** A verifier whose verdicts a policy writes (see the module comment). */
export function judgeVerifier(options: JudgeOptions): Verifier {
  const scale = options.scale ?? { min: 1, max: 10 };
  if (scale !== 'yes-no' && !(Number.isFinite(scale.min) && Number.isFinite(scale.max) && scale.max > scale.min)) throw new RangeError(`judgeVerifier: scale.max must be above scale.min, got ${scale.min}–${scale.max}`);
  const rubric = options.rubric ?? (scale === 'yes-no' ? DEFAULT_VERDICT_RUBRIC : DEFAULT_RUBRIC);
  const problem = rubricProblem(rubric);
  if (problem) throw new RangeError(`judgeVerifier: the rubric ${problem}`);
  const samples = options.samples ?? 1;
  if (!(Number.isInteger(samples) && samples >= 1)) throw new RangeError(`judgeVerifier: samples must be a positive integer, got ${samples}`);
  const sampling = { n: samples, temperature: options.temperature ?? 0, topP: options.topP ?? 1, maxTokens: options.maxTokens ?? 256, stop: options.stop ?? [], seed: options.seed ?? 0 };
  const settings = { pick: options.pick ?? 'last', threshold: options.threshold ?? 0.5, feedbackChars: options.feedbackChars ?? 500 } as const;
  const useReference = options.reference ?? true;
  const version = `1+${createHash('sha256').update(JSON.stringify({ rubric, scale, sampling, settings, useReference })).digest('hex').slice(0, 10)}`;
  const judge = options.policy;

  /**
   * Judge samples for `items`, batched in one call. A call the judge refuses
   * with InvalidArgumentError (a prompt it cannot read: longer than its
   * context, …) is split in halves until the refused prompts stand alone;
   * each of those is that error instead of samples. Any other error is thrown,
   * naming the judge.
   */
  const judgeItems = async (items: readonly string[]): Promise<(Completion[] | InvalidArgumentError)[]> => {
    // The seed is drawn from the prompts, so judge noise differs between batches (RL steps) yet a resumed run judges a batch as before.
    const seed = (sampling.seed ^ createHash('sha256').update(items.join('\u0000')).digest().readUInt32LE(0)) >>> 1;
    let outputs: Completion[][];
    try {
      outputs = await judge.sample(items, { ...sampling, seed });
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw new PolicyReplyError(`judge ${judge.name}`, `sampling ${items.length} judgements failed: ${(error as Error).message}`, { cause: error });
      if (items.length === 1) return [error];
      const half = Math.ceil(items.length / 2);
      return [...(await judgeItems(items.slice(0, half))), ...(await judgeItems(items.slice(half)))];
    }
    if (outputs.length !== items.length || outputs.some((o) => o.length !== samples)) throw new PolicyReplyError(`judge ${judge.name}`, `asked for ${samples} sample(s) of ${items.length} prompts, got ${outputs.map((o) => o.length).join(', ')}: the judge must return n completions per prompt`);
    return outputs;
  };

  const verifyGroups = async (groups: readonly VerificationGroup[]): Promise<Verification[][]> => {
    const items = groups.flatMap(({ task, completions }) => completions.map((completion) => judgePrompt(rubric, task, completion, scale, useReference)));
    if (items.length === 0) return groups.map(() => []);
    const outputs = await judgeItems(items); // one batched call for every completion of every group, unless the judge refuses some prompts
    let k = 0;
    return groups.map(({ completions }) =>
      completions.map(() => {
        const output = outputs[k++];
        if (output instanceof InvalidArgumentError) return { status: 'error', error: `judge ${judge.name} cannot judge this completion: ${output.message}` };
        return combineJudgements(output.map((c) => c.text), scale, settings);
      }),
    );
  };
  return {
    name: `judge(${judge.name})`,
    version,
    async verify(task: Task, completion: string): Promise<Verification> {
      return (await verifyGroups([{ task, completions: [completion] }]))[0][0];
    },
    verifyGroups,
  };
}
