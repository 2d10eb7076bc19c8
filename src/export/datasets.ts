/**
 * Datasets for other trainers: a round's accepted set, read from a run's
 * store, written in the layouts TRL, verl and OpenAI fine-tuning read, every
 * row with its provenance (run, round, task, sample, policy version, sampler
 * settings, verifier and version, reward, accept reason).
 *
 *   trl-sft       JSONL  {prompt, completion, provenance}           one row per accepted sample
 *   trl-dpo       JSONL  {prompt, chosen, rejected, provenance}     one row per accepted sample with a failing peer
 *   openai-chat   JSONL  {messages: [user, assistant]}              one row per accepted sample;
 *                 provenance in a sidecar `<name>.provenance.jsonl`, line i ↔ line i
 *   verl-parquet  Parquet {data_source, prompt: [{role, content}], ability,
 *                 reward_model: {style, ground_truth}, extra_info: {…provenance}}   one row per task
 *
 * Prompt and completion are what the round's update trained on
 * (`trainingExample`): the task's own prompt (a reflection or hint prompt is
 * not kept) and the completion with the stop string the sampler cut put back.
 *
 * Only rounds that curate (sample → score → refine → curate → update) have an
 * accepted set; RL and self-play rounds train on fresh samples and keep none.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { InvalidArgumentError, RunStoreError } from '../errors.js';
import { trainingExample } from '../learn/curate.js';
import type { Recipe } from '../recipe/schema.js';
import type { Task } from '../spec/task.js';
import { openRunStoreReadOnly } from '../store/run-dir.js';
import type { RunStore, StoredSample } from '../store/run-store.js';
import { answerEnds, extractAnswer, type MatchOptions } from '../verifiers/match.js';
import { writeAtomically } from './output.js';
import { writeVerlParquet, type VerlRow } from './verl-parquet.js';
import type { Provenance, SampleProvenance, SamplerProvenance } from './provenance.js';

export type { Provenance, SampleProvenance, SamplerProvenance };

/** The dataset formats, each described for `--help`. */
export const DATASET_FORMATS = {
  'trl-sft': 'JSONL, TRL prompt-completion: {"prompt", "completion", "provenance"}; one row per accepted sample',
  'trl-dpo': 'JSONL, TRL preference pairs: {"prompt", "chosen", "rejected", "provenance"}; each accepted sample against a failing sample of the same task',
  'openai-chat': 'JSONL, OpenAI chat fine-tuning: {"messages": [user, assistant]}; provenance in <out>.provenance.jsonl, line for line',
  'verl-parquet': 'Parquet, verl RL layout: data_source, prompt (list of {role, content}), ability, reward_model {style, ground_truth}, extra_info (provenance); one row per task',
} as const;
export type DatasetFormat = keyof typeof DATASET_FORMATS;


export interface SftRow {
  prompt: string;
  completion: string;
  provenance: Provenance;
}

export interface DpoRow {
  prompt: string;
  chosen: string;
  rejected: string;
  /** The chosen sample's provenance, with the rejected one's under `rejected`. */
  provenance: Provenance & { rejected: SampleProvenance };
}

export interface OpenAiChatRow {
  messages: { role: 'user' | 'assistant'; content: string }[];
}

export interface ExportOptions {
  format: DatasetFormat;
  /** Round to export; default the last round with a non-empty accepted set. */
  round?: number;
  /** Output file; default `<run>/exports/round-<N>.<format>.jsonl` (`.parquet` for verl-parquet). */
  out?: string;
}

/** What an export wrote. */
export interface ExportSummary {
  format: DatasetFormat;
  run: string;
  runDir: string;
  round: number;
  rows: number;
  path: string;
  /** openai-chat: the provenance sidecar. */
  provenancePath?: string;
  /** Accepted samples in the round. */
  accepted: number;
  /** trl-dpo: accepted samples left out because their task had no failing sample. */
  unpaired?: number;
}

/** The fields of the stored recipe an export reads. */
const StoredRecipeSchema = z.looseObject({
  name: z.string(),
  rounds: z.number().int().nonnegative(),
  sample: z.looseObject({ stop: z.array(z.string()) }),
  accept: z.looseObject({ by: z.enum(['verifier', 'majority']), answerMarker: z.string().optional() }),
  rl: z.unknown().optional(),
  selfplay: z.unknown().optional(),
});
type StoredRecipe = z.infer<typeof StoredRecipeSchema>;

/** A run directory opened for export. */
interface RunView {
  dir: string;
  store: RunStore;
  recipe: StoredRecipe;
  /** How the run's answers are found in a completion (majority-vote rounds compare them). */
  answers: Pick<MatchOptions, 'answerMarker' | 'answerEnd'>;
}

/** Writes round `options.round` of the run in `runDir` in `options.format`. */
export function exportDataset(runDir: string, options: ExportOptions): ExportSummary {
  if (!Object.hasOwn(DATASET_FORMATS, options.format)) {
    throw new InvalidArgumentError('--format', `unknown format "${options.format}": use one of ${Object.keys(DATASET_FORMATS).join(', ')} (or gguf, for a checkpoint)`);
  }
  const run = openRunView(runDir);
  try {
    const round = resolveRound(run, options.round);
    const rows = roundRows(run, round);
    const extension = options.format === 'verl-parquet' ? 'parquet' : 'jsonl';
    const path = resolve(options.out ?? join(run.dir, 'exports', `round-${round}.${options.format}.${extension}`));
    const summary: ExportSummary = { format: options.format, run: run.recipe.name, runDir: run.dir, round, rows: 0, path, accepted: rows.length };
    if (options.format === 'trl-sft') {
      summary.rows = writeJsonLines(path, rows.map((r): SftRow => ({ prompt: r.prompt, completion: r.completion, provenance: r.provenance })));
    } else if (options.format === 'trl-dpo') {
      const pairs = preferencePairs(run, round, rows);
      summary.rows = writeJsonLines(path, pairs);
      summary.unpaired = rows.length - pairs.length;
    } else if (options.format === 'openai-chat') {
      summary.rows = writeJsonLines(path, rows.map((r): OpenAiChatRow => ({ messages: [{ role: 'user', content: r.prompt }, { role: 'assistant', content: r.completion }] })));
      summary.provenancePath = sidecarPath(path);
      writeJsonLines(summary.provenancePath, rows.map((r, line) => ({ line, ...r.provenance })));
    } else {
      const tasks = verlRows(run, rows);
      writeVerlParquet(path, tasks);
      summary.rows = tasks.length;
    }
    return summary;
  } finally {
    run.store.close();
  }
}

/** The sidecar next to an openai-chat file: `x.jsonl` → `x.provenance.jsonl`. */
export function sidecarPath(path: string): string {
  const name = basename(path);
  const stem = name.endsWith('.jsonl') ? name.slice(0, -'.jsonl'.length) : name;
  return join(dirname(path), `${stem}.provenance.jsonl`);
}

/** Opens a run directory's store, checking it is one. */
function openRunView(runDir: string): RunView {
  const dir = resolve(runDir);
  if (!existsSync(dir)) throw new InvalidArgumentError('run', `${dir} does not exist; pass the run directory that \`autodidact run --out\` wrote`);
  if (!statSync(dir).isDirectory()) throw new InvalidArgumentError('run', `${dir} is a file; pass the run directory that \`autodidact run --out\` wrote (it holds run.sqlite)`);
  if (!existsSync(join(dir, 'run.sqlite'))) {
    const hint = existsSync(join(dir, 'config.json')) ? ' (it looks like a checkpoint: only --format gguf reads checkpoints)' : '';
    throw new InvalidArgumentError('run', `${dir} is not a run directory: it has no run.sqlite${hint}; pass the directory that \`autodidact run --out\` wrote`);
  }
  const store = openRunStoreReadOnly(dir);
  const saved = store.getMeta('recipe');
  if (saved === undefined) {
    store.close();
    throw new InvalidArgumentError('run', `${dir}/run.sqlite records no recipe (meta key "recipe"); the run never started: run it with \`autodidact run <recipe> --out ${runDir}\` first`);
  }
  const parsed = StoredRecipeSchema.safeParse(JSON.parse(saved));
  if (!parsed.success) {
    store.close();
    const issue = parsed.error.issues[0];
    throw new InvalidArgumentError('run', `${dir}/run.sqlite holds a recipe this export cannot read (recipe.${issue.path.join('.')}: ${issue.message}); export it with the autodidact version that ran it`);
  }
  return { dir, store, recipe: parsed.data, answers: { answerMarker: parsed.data.accept.answerMarker, answerEnd: answerEnds(parsed.data.sample.stop) } };
}

/** The round to export: the one asked for (checked), else the last round with a non-empty accepted set. */
function resolveRound(run: RunView, requested: number | undefined): number {
  const last = lastStartedRound(run);
  const curated = Array.from({ length: last }, (_, i) => i + 1).filter((r) => run.store.acceptedSet(r).length > 0);
  const choices = curated.length ? `rounds with an accepted set: ${curated.join(', ')}` : 'no round of this run has an accepted set yet';
  if (requested === undefined) {
    if (curated.length) return curated.at(-1)!;
    throw new InvalidArgumentError('--round', `${run.dir} has no round with an accepted set${kindNote(run)}; nothing to export`);
  }
  if (!Number.isInteger(requested) || requested < 0) throw new InvalidArgumentError('--round', `expected a round number (1, 2, …), got ${requested}`);
  if (requested === 0) throw new InvalidArgumentError('--round', `round 0 is the warm-up, which accepts nothing; ${choices}`);
  if (requested > Math.max(last, run.recipe.rounds)) {
    throw new InvalidArgumentError('--round', `round ${requested} is out of range: the recipe has rounds 1–${run.recipe.rounds}${last < run.recipe.rounds ? ` and the run has reached round ${last}` : ''}; ${choices}`);
  }
  if (run.recipe.rl !== undefined || run.recipe.selfplay !== undefined) {
    throw new InvalidArgumentError('--round', `round ${requested} has no accepted set${kindNote(run)}; ${choices}`);
  }
  if (!run.store.phaseDone(requested, 'curate')) {
    throw new InvalidArgumentError('--round', `round ${requested} has not finished its curate phase (the run stopped before it; resume it with \`autodidact run\`); ${choices}`);
  }
  if (run.store.acceptedSet(requested).length === 0) {
    throw new InvalidArgumentError('--round', `round ${requested} accepted no samples (none passed ${run.recipe.accept.by === 'majority' ? 'the majority vote' : 'the verifier'}); ${choices}`);
  }
  return requested;
}

/** Why a run has no accepted sets, from its recipe. */
function kindNote(run: RunView): string {
  if (run.recipe.rl !== undefined) return ': its rounds are policy-gradient (rl) rounds, which train on fresh samples without curating an accepted set';
  if (run.recipe.selfplay !== undefined) return ': its rounds are self-play rounds, which keep no accepted set';
  return '';
}

/** The last round that has tasks saved (0 when none has). */
function lastStartedRound(run: RunView): number {
  let last = 0;
  for (let r = 1; r <= run.recipe.rounds + 1 && run.store.loadTasks(r, 'train') !== null; r++) last = r;
  return last;
}

/** One accepted sample as a training example with its provenance. */
interface AcceptedRow {
  task: Task;
  sample: StoredSample;
  prompt: string;
  completion: string;
  provenance: Provenance;
}

/** The round's accepted samples (ascending sample id) as training examples. */
function roundRows(run: RunView, round: number): AcceptedRow[] {
  const tasks = new Map((run.store.loadTasks(round, 'train') ?? []).map((t) => [t.id, t]));
  const accepted = run.store.acceptedSet(round);
  const samples = run.store.samplesById(accepted.map((a) => a.sampleId));
  const eosId = new ByteTokenizer().eosId;
  return accepted.map(({ reason }, i) => {
    const sample = samples[i];
    const task = tasks.get(sample.taskId);
    if (!task) throw new RunStoreError(run.store.path, `accepted sample ${sample.id} names task ${sample.taskId}, missing from round ${round}: the run store is inconsistent; rerun that round (autodidact run --fresh) to export it`);
    // trainingExample reads recipe.sample.stop only, which StoredRecipeSchema checked.
    const { prompt, completion } = trainingExample(run.recipe as unknown as Recipe, sample, task, eosId);
    const provenance: Provenance = { run: run.recipe.name, run_dir: run.dir, round, task_id: task.id, family: task.family, difficulty: task.difficulty ?? null, ...sampleProvenance(sample), accept_reason: reason };
    return { task, sample, prompt, completion, provenance };
  });
}

/** A stored sample's provenance fields. */
function sampleProvenance(sample: StoredSample): SampleProvenance {
  const v = sample.verification;
  return {
    sample_id: sample.id,
    sample_kind: sample.kind,
    policy_version: sample.policyVersion,
    sampler: samplerProvenance(sample.sampler),
    verifier: sample.verifier?.name ?? null,
    verifier_version: sample.verifier?.version ?? null,
    reward: v?.status === 'scored' ? v.reward : null,
    pass: v?.status === 'scored' ? v.pass : null,
  };
}

/** Sampler settings as stored (camelCase, any keys) under the fixed keys of SamplerProvenance. */
export function samplerProvenance(sampler: Record<string, unknown>): SamplerProvenance {
  const { n, temperature, topP, maxTokens, seed, stop, ...rest } = sampler;
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);
  const extraKeys = Object.keys(rest).sort();
  return {
    n: number(n),
    temperature: number(temperature),
    top_p: number(topP),
    max_tokens: number(maxTokens),
    seed: number(seed),
    stop: Array.isArray(stop) ? stop.filter((s): s is string => typeof s === 'string') : [],
    extra: extraKeys.length ? JSON.stringify(Object.fromEntries(extraKeys.map((key) => [key, rest[key]]))) : null,
  };
}

/**
 * DPO pairs, deterministic: for each task, its accepted samples (ascending id)
 * are the chosen completions; its failing samples (ascending id, first of each
 * distinct completion) are the rejected ones, handed out in turn — the i-th
 * accepted sample of a task meets failing sample i mod (number failing).
 * A failing sample is one the verifier scored as not passing; when the round
 * accepted by majority vote (unlabeled tasks), one of the task's own samples
 * whose answer differs from the accepted (majority) answer. Every pair is
 * formatted like the accepted one (stop string put back). Tasks without a
 * failing sample give no pair: their accepted samples are counted in
 * `ExportSummary.unpaired`.
 */
function preferencePairs(run: RunView, round: number, rows: readonly AcceptedRow[]): DpoRow[] {
  const samples = run.store.loadSamples(round);
  const acceptedIds = new Set(rows.map((r) => r.sample.id));
  const eosId = new ByteTokenizer().eosId;
  const byTask = new Map<string, AcceptedRow[]>();
  for (const row of rows) (byTask.get(row.task.id) ?? byTask.set(row.task.id, []).get(row.task.id)!).push(row);
  const pairs: DpoRow[] = [];
  for (const [taskId, chosen] of byTask) {
    const failing = distinctBy(samples.filter((s) => s.taskId === taskId && !acceptedIds.has(s.id) && isFailing(run, s, chosen[0])), (s) => s.completion);
    if (failing.length === 0) continue;
    chosen.forEach((row, i) => {
      const rejected = failing[i % failing.length];
      pairs.push({
        prompt: row.prompt,
        chosen: row.completion,
        rejected: trainingExample(run.recipe as unknown as Recipe, rejected, row.task, eosId).completion,
        provenance: { ...row.provenance, rejected: sampleProvenance(rejected) },
      });
    });
  }
  return pairs;
}

/** Whether a non-accepted sample of a task is a failure (see preferencePairs). */
function isFailing(run: RunView, sample: StoredSample, accepted: AcceptedRow): boolean {
  const v = sample.verification;
  if (v?.status === 'scored') return !v.pass;
  if (run.recipe.accept.by !== 'majority' || sample.kind !== 'sample') return false;
  return extractAnswer(sample.completion, run.answers) !== extractAnswer(accepted.sample.completion, run.answers);
}

function distinctBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(key(item)) && seen.add(key(item)) !== undefined);
}

/**
 * verl rows: one per task with an accepted sample (an RL prompt set; several
 * accepted samples of a task would only repeat its prompt). The ground truth
 * is the task's answer; for an unlabeled task accepted by majority vote, the
 * majority answer (a pseudo-label); for a task checked by tests (code), its
 * `meta` as JSON. The provenance is the task's first accepted sample's, with
 * every accepted sample id listed.
 */
function verlRows(run: RunView, rows: readonly AcceptedRow[]): VerlRow[] {
  const out: VerlRow[] = [];
  const seen = new Map<string, VerlRow>();
  for (const row of rows) {
    const existing = seen.get(row.task.id);
    if (existing) {
      existing.extra_info.accepted_sample_ids.push(row.sample.id);
      continue;
    }
    const majority = run.recipe.accept.by === 'majority' ? extractAnswer(row.sample.completion, run.answers) : null;
    const [groundTruth, source] =
      row.task.answer !== undefined ? [row.task.answer, 'task-answer'] : majority !== null ? [majority, 'majority-vote'] : row.task.meta !== undefined ? [JSON.stringify(row.task.meta), 'task-meta'] : [null, 'none'];
    const verl: VerlRow = {
      data_source: `autodidact/${row.task.family}`,
      prompt: [{ role: 'user', content: row.prompt }],
      ability: row.task.family,
      reward_model: { style: 'rule', ground_truth: groundTruth },
      extra_info: { split: 'train', index: out.length, question: row.prompt, answer: row.completion, ground_truth_source: source, accepted_sample_ids: [row.sample.id], ...row.provenance },
    };
    seen.set(row.task.id, verl);
    out.push(verl);
  }
  return out;
}

/** Writes rows as JSON Lines (UTF-8, LF), atomically; returns the row count. */
function writeJsonLines(path: string, rows: readonly unknown[]): number {
  writeAtomically(path, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
  return rows.length;
}
