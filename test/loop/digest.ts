/**
 * A digest of what a run stored, for tests that prove a change to the loop
 * loses nothing: the run store read back into six sections of keyed records —
 * tasks, samples, scores, accepted (and preference pairs), checkpoints, metrics — from which a
 * sha256 per section, small counts, and (on a mismatch) the first differing
 * record are computed.
 *
 * Left out, because they legitimately vary between runs and machines: row ids
 * (a sample's parent is named by its key), checkpoint paths outside the run
 * directory (paths are kept relative to it), `timing_ms/*` and `sampler/*`
 * metrics (wall clock and a remote sampler's per-process spend), phase
 * timings, and the wording of JavaScript errors in feedback (a sandboxed
 * program's SyntaxError message is V8's and may change with Node). Floats are
 * rounded to 6 significant digits; metrics below METRIC_RESOLUTION read as 0.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { RunStore, StoredSample } from '../../src/store/run-store.js';
import { SCRIPTED_WEIGHTS_FILE } from './scripted-backend.js';

export const SECTIONS = ['tasks', 'samples', 'scores', 'accepted', 'checkpoints', 'metrics'] as const;
export type Section = (typeof SECTIONS)[number];

/** One record: a key unique within its section, and a JSON value. */
export type DigestRecord = [key: string, value: unknown];

export interface Digest {
  sections: Record<Section, DigestRecord[]>;
  counts: DigestCounts;
}

/** Small human-readable figures of a run, kept in the fixture beside the hashes. */
export interface DigestCounts {
  tasks: number;
  samples: Record<string, number>;
  scored: number;
  passes: number;
  errors: number;
  accepted: number;
  checkpoints: number;
  metrics: number;
}

/** A float rounded to 6 significant digits (non-finite values as strings, −0 as 0). */
export function round6(x: number): number | string {
  if (!Number.isFinite(x)) return String(x);
  const rounded = Number(x.toPrecision(6));
  return rounded === 0 ? 0 : rounded;
}

/**
 * Metrics smaller than this in magnitude read as 0: they are the cancellation
 * residue of sums that are 0 in exact arithmetic (a group-normalized
 * advantage mean, an on-policy loss), which any change of summation order
 * moves. Every metric of these runs that is not such a residue is far larger.
 */
export const METRIC_RESOLUTION = 1e-7;

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Feedback with the wording of JavaScript errors (V8's own, which may change between Node versions) cut: `SyntaxError: Unexpected token ')'` → `SyntaxError: …`. */
export function engineWordingOut(text: string): string {
  return text.replace(/\b((?:Syntax|Type|Reference|Range|Eval|URI|Internal)?Error): [^\n]*/g, '$1: …');
}

/** Compares strings by code unit (never by locale, which differs between machines). */
export const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A sample's key: what makes it unique in the store (round, step, kind, task, index). */
export function sampleKey(s: Pick<StoredSample, 'round' | 'step' | 'kind' | 'taskId' | 'sampleIndex'>): string {
  return `r${s.round}/s${s.step ?? 0}/${s.kind}/${s.taskId}/${s.sampleIndex}`;
}

/** Reads the digest of a finished run of `rounds` rounds from its store (and its checkpoints' weights files). */
export function digestRun(store: RunStore, rounds: number): Digest {
  const roundList = Array.from({ length: rounds + 1 }, (_, r) => r);
  const samples = roundList.flatMap((r) => store.loadSamples(r));
  const keyOfId = new Map(samples.map((s) => [s.id, sampleKey(s)]));

  const tasks: DigestRecord[] = [];
  for (const r of roundList) {
    (store.loadTasks(r, 'train') ?? []).forEach((task, position) => tasks.push([`r${r}/${position}`, task]));
    // The round's stored plan (with the controllers' states and probes), and self-play's task buffers (its proposed tasks) after it.
    const plan = store.loadPlan(r);
    if (plan !== undefined) tasks.push([`r${r}/plan`, plan]);
    const selfplay = store.finishedSteps<{ buffers: unknown }>(r, 'selfplay').state;
    if (selfplay !== undefined) tasks.push([`r${r}/buffers`, selfplay.buffers]);
  }

  const sampleRecords: DigestRecord[] = [];
  const scoreRecords: DigestRecord[] = [];
  for (const s of samples) {
    const key = sampleKey(s);
    sampleRecords.push([
      key,
      {
        round: s.round,
        step: s.step ?? 0,
        kind: s.kind,
        taskId: s.taskId,
        sampleIndex: s.sampleIndex,
        parent: s.parentId === null || s.parentId === undefined ? null : (keyOfId.get(s.parentId) ?? `missing sample ${s.parentId}`),
        prompt: s.prompt,
        completion: s.completion,
        tokens: s.tokens,
        logprobs: s.logprobs.map(round6),
        finishReason: s.finishReason,
        policyVersion: s.policyVersion,
        sampler: s.sampler,
      },
    ]);
    const v = s.verification;
    scoreRecords.push([key, v === null ? null : { verifier: s.verifier, ...v, ...(v.status === 'scored' ? { reward: round6(v.reward), feedback: engineWordingOut(v.feedback) } : v.status === 'error' ? { error: engineWordingOut(v.error) } : {}) }]);
  }
  sampleRecords.sort(([a], [b]) => byCodeUnit(a, b));
  scoreRecords.sort(([a], [b]) => byCodeUnit(a, b));

  const accepted: DigestRecord[] = [];
  for (const r of roundList) {
    const set = store.acceptedSet(r).map(({ sampleId, reason }): DigestRecord => [`r${r} accepts ${keyOfId.get(sampleId) ?? `missing sample ${sampleId}`}`, { reason }]);
    accepted.push(...set.sort(([a], [b]) => byCodeUnit(a, b)));
    // A preference round's pairs, in order (other methods store none, so their records are unchanged).
    store.pairs(r).forEach((pair, i) => accepted.push([`r${r} pair ${i}`, { chosen: keyOfId.get(pair.chosenId) ?? `missing sample ${pair.chosenId}`, rejected: keyOfId.get(pair.rejectedId) ?? `missing sample ${pair.rejectedId}` }]));
  }

  const checkpoints: DigestRecord[] = [];
  for (const r of roundList) {
    const saved = store.checkpoint(r);
    if (!saved) continue;
    const weightsFile = join(saved.path, SCRIPTED_WEIGHTS_FILE);
    const weights = existsSync(weightsFile) ? JSON.parse(readFileSync(weightsFile, 'utf8')) : null;
    checkpoints.push([`r${r}`, { policyVersion: saved.policyVersion, path: relative(store.dir, saved.path).split(sep).join('/'), weights }]);
  }

  const metrics: DigestRecord[] = [];
  for (const r of roundList) {
    for (const [key, value] of Object.entries(store.metrics(r))) {
      if (key.startsWith('timing_ms/') || key.startsWith('sampler/')) continue;
      metrics.push([`r${r}/${key}`, round6(Math.abs(value) < METRIC_RESOLUTION / 2 ? 0 : value)]);
    }
  }

  const counts: DigestCounts = {
    tasks: tasks.filter(([key]) => /^r\d+\/\d+$/.test(key)).length,
    samples: Object.fromEntries([...new Set(samples.map((s) => s.kind))].sort(byCodeUnit).map((kind) => [kind, samples.filter((s) => s.kind === kind).length])),
    scored: samples.filter((s) => s.verification?.status === 'scored').length,
    passes: samples.filter((s) => s.verification?.status === 'scored' && s.verification.pass).length,
    errors: samples.filter((s) => s.verification !== null && s.verification.status !== 'scored').length,
    accepted: accepted.length,
    checkpoints: checkpoints.length,
    metrics: metrics.length,
  };
  return { sections: { tasks, samples: sampleRecords, scores: scoreRecords, accepted, checkpoints, metrics }, counts };
}

/** sha256 (hex) of a section's records. */
export function sectionHash(records: readonly DigestRecord[]): string {
  const hash = createHash('sha256');
  for (const [key, value] of records) hash.update(`${key}\t${canonicalJson(value)}\n`);
  return hash.digest('hex');
}

/** Records longer than this (as canonical JSON) are kept in the fixture as their hash only. */
const INLINE_LIMIT = 200;

/** A record as the fixture keeps it: the value itself (canonical JSON, which holds no tab or newline) when short, else `#` and 16 hex digits of its sha256. */
export function recordSummary(value: unknown): string {
  const json = canonicalJson(value);
  return json.length <= INLINE_LIMIT ? json : `#${createHash('sha256').update(json).digest('hex').slice(0, 16)}`;
}

/**
 * Where two sections first differ, in words: the first key whose record
 * differs, is missing or is extra, with the expected summary and the actual
 * record. `expected` holds [key, summary] pairs (see recordSummary).
 */
export function firstDifference(expected: readonly [string, string][], actual: readonly DigestRecord[]): string {
  const want = new Map(expected);
  const got = new Map(actual.map(([key, value]) => [key, value]));
  for (const [key, value] of actual) {
    const summary = want.get(key);
    if (summary === undefined) return `extra record ${key} (not in the fixture): ${canonicalJson(value)}`;
    if (summary !== recordSummary(value)) return `record ${key} differs:\n    expected ${summary}\n    actual   ${canonicalJson(value)}`;
  }
  const missing = expected.find(([key]) => !got.has(key));
  if (missing) return `record ${missing[0]} is missing (the fixture has ${missing[1]})`;
  const order = actual.findIndex(([key], i) => expected[i]?.[0] !== key);
  return order >= 0 ? `the records are the same but in another order from #${order} (${actual[order][0]})` : 'the records are the same (the fixture hash is stale: regenerate it)';
}

/** Where two digests of the same recipe differ (determinism and resume checks): per differing section, its first differing record in both; undefined when they are the same. */
export function compareDigests(expected: Digest, actual: Digest, labels: [string, string] = ['first', 'second']): string | undefined {
  const width = Math.max(labels[0].length, labels[1].length);
  const problems: string[] = [];
  for (const section of SECTIONS) {
    if (sectionHash(expected.sections[section]) === sectionHash(actual.sections[section])) continue;
    const summaries = expected.sections[section].map(([key, value]): [string, string] => [key, recordSummary(value)]);
    const detail = firstDifference(summaries, actual.sections[section]);
    // Both records are at hand: show them in full (the summary may be a hash).
    const key = /^record (\S+) differs/.exec(detail)?.[1];
    const full = (records: readonly DigestRecord[]) => canonicalJson(records.find(([k]) => k === key)![1]);
    problems.push(`${section}: ${key ? `record ${key} differs:\n    ${labels[0].padEnd(width)} ${full(expected.sections[section])}\n    ${labels[1].padEnd(width)} ${full(actual.sections[section])}` : detail}`);
  }
  return problems.length ? problems.join('\n') : undefined;
}
