/**
 * The run store: one SQLite file per run (better-sqlite3, synchronous, WAL)
 * holding everything a round produced — tasks, samples with their token ids and
 * logprobs (and behaviour logprobs), the turns of multi-turn trajectories,
 * scores with feedback, refinements, the accepted set, metrics, checkpoints,
 * phase timings, round plans and the finished steps of step-wise rounds
 * (src/store/steps.ts) — with provenance (policy version, sampler
 * settings, verifier name and version). Every write is a transaction, so a run
 * killed at any moment keeps everything it finished, and the loop resumes from it.
 *
 * The store is tied to its directory: checkpoint paths are kept relative to it,
 * so a run moved or copied elsewhere reads its own weights. An existing file is
 * first opened read-only and checked to be a store of ours (meta `store_format`,
 * or the tables of a store written before that key existed); only then are
 * tables created or migrated (src/store/schema.ts), so another program's
 * SQLite file is never written.
 */
import { randomUUID } from 'node:crypto';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type Database from 'better-sqlite3';
import { RunStoreError } from '../errors.js';
import type { Task } from '../spec/task.js';
import type { Verification } from '../spec/verifier.js';
import type { TrajectoryKind } from '../spec/trajectory.js';
import type { ProbeRecord, RoundPlan } from '../spec/controller.js';
import { openDatabase, probeRunStore, STORE_FORMAT, STORE_VERSION } from './store-file.js';
import type { FinishedSteps, PreferencePair, SampleRow, StoredPlan, StoredSample, StoredStep } from './records.js';
import { createOrMigrate } from './schema.js';
import { SAMPLE_COLUMNS, SAMPLE_SELECT, sampleValues, toStoredSample, type SampleRecord } from './sample-rows.js';
import { finishedSteps, loadSteps, saveStep } from './steps.js';

export type { FinishedSteps, PreferencePair, SampleRow, StoredPlan, StoredSample, StoredStep };

export interface RunStoreOptions {
  /** Read only (export): the file must exist and be a store of ours; nothing is created or migrated. */
  readonly?: boolean;
}

export class RunStore {
  readonly path: string;
  /** The run directory: the folder holding the store, which stored checkpoint paths are relative to. */
  readonly dir: string;
  /** The run's id (meta `run_id`, also in the directory's autodidact-run.json); undefined only for an old store opened read-only. */
  readonly runId: string | undefined;
  private readonly db: Database.Database;

  constructor(path: string, options: RunStoreOptions = {}) {
    this.path = resolve(path);
    this.dir = dirname(this.path);
    const existing = probeRunStore(this.path);
    if (options.readonly && !existing) throw new RunStoreError(this.path, 'does not exist (or is empty); pass the run directory that `autodidact run --out` wrote');
    this.db = openDatabase(this.path, { readonly: options.readonly });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      // Tables created or migrated, and the version bumped, in one transaction: a kill mid-migration leaves the old store as it was.
      this.db.transaction(() => {
        createOrMigrate(this.db, this.path, existing?.version);
        if (!existing?.format) this.setMeta('store_format', STORE_FORMAT);
        this.setMeta('store_version', String(STORE_VERSION));
        if (!existing?.runId) this.setMeta('run_id', randomUUID());
        this.migrateCheckpointPaths();
      })();
    }
    this.runId = this.getMeta('run_id');
  }

  close(): void {
    this.db.close();
  }

  /** Saves a round's plan with every controller's state after planning it and the probe samples they read (one transaction). */
  savePlan(round: number, record: StoredPlan): void {
    this.db.prepare('INSERT OR REPLACE INTO plans (round, plan, states, probes) VALUES (?, ?, ?, ?)').run(round, JSON.stringify(record.plan), JSON.stringify(record.states), JSON.stringify(record.probes));
  }

  /** A round's stored plan, or undefined when it was not planned yet (or by a store of version 1). */
  loadPlan(round: number): StoredPlan | undefined {
    const row = this.db.prepare('SELECT plan, states, probes FROM plans WHERE round = ?').get(round) as { plan: string; states: string; probes: string } | undefined;
    return row ? { plan: JSON.parse(row.plan) as RoundPlan, states: JSON.parse(row.states) as Record<string, unknown>, probes: JSON.parse(row.probes) as Record<string, ProbeRecord[]> } : undefined;
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Whether a phase of a round has finished. */
  phaseDone(round: number, phase: string): boolean {
    return this.db.prepare('SELECT 1 FROM phases WHERE round = ? AND phase = ?').get(round, phase) !== undefined;
  }

  markPhase(round: number, phase: string, ms: number): void {
    this.db.prepare('INSERT OR REPLACE INTO phases (round, phase, ms, finished_at) VALUES (?, ?, ?, ?)').run(round, phase, ms, new Date().toISOString());
  }

  /** Milliseconds of each finished phase of a round. */
  phaseTimings(round: number): Record<string, number> {
    const rows = this.db.prepare('SELECT phase, ms FROM phases WHERE round = ? ORDER BY finished_at').all(round) as { phase: string; ms: number }[];
    return Object.fromEntries(rows.map((row) => [row.phase, row.ms]));
  }

  saveTasks(round: number, split: string, tasks: readonly Task[]): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO tasks (round, split, position, id, difficulty, json) VALUES (?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM tasks WHERE round = ? AND split = ?').run(round, split);
      tasks.forEach((task, i) => insert.run(round, split, i, task.id, task.difficulty ?? null, JSON.stringify(task)));
    })();
  }

  /** The tasks of a round and split, in the order they were saved; null when none were. */
  loadTasks(round: number, split: string): Task[] | null {
    const rows = this.db.prepare('SELECT json FROM tasks WHERE round = ? AND split = ? ORDER BY position').all(round, split) as { json: string }[];
    return rows.length ? rows.map((row) => JSON.parse(row.json) as Task) : null;
  }

  /** Saves samples in one transaction and returns their ids. */
  saveSamples(rows: readonly SampleRow[]): number[] {
    const insert = this.db.prepare(`INSERT INTO samples (${SAMPLE_COLUMNS.join(', ')}) VALUES (${SAMPLE_COLUMNS.map(() => '?').join(', ')})`);
    return this.db.transaction(() => rows.map((row) => Number(insert.run(...sampleValues(row)).lastInsertRowid)))();
  }

  /** Saves the scores of samples in one transaction. */
  saveScores(rows: readonly { sampleId: number; verifier: { name: string; version: string }; verification: Verification }[]): void {
    const insert = this.db.prepare(
      'INSERT OR REPLACE INTO scores (sample_id, verifier, verifier_version, status, reward, pass, feedback, extracted, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (const { sampleId, verifier, verification: v } of rows) {
        if (v.status === 'scored') insert.run(sampleId, verifier.name, verifier.version, v.status, v.reward, v.pass ? 1 : 0, v.feedback, v.extracted ?? null, null);
        else insert.run(sampleId, verifier.name, verifier.version, v.status, null, null, null, null, v.status === 'error' ? v.error : v.reason);
      }
    })();
  }

  /** Samples of a round (of one kind, when given), in insertion order, with their scores. */
  loadSamples(round: number, kind?: TrajectoryKind): StoredSample[] {
    const rows = this.db.prepare(`${SAMPLE_SELECT} WHERE s.round = ? AND (? IS NULL OR s.kind = ?) ORDER BY s.id`).all(round, kind ?? null, kind ?? null) as SampleRecord[];
    return rows.map(toStoredSample);
  }

  /** Samples of one policy-gradient step of a round, in insertion order, with their scores. */
  loadStepSamples(round: number, step: number): StoredSample[] {
    const rows = this.db.prepare(`${SAMPLE_SELECT} WHERE s.round = ? AND s.step = ? ORDER BY s.id`).all(round, step) as SampleRecord[];
    return rows.map(toStoredSample);
  }

  /** Deletes the samples (and scores) of a step that a killed run left unfinished, so it can be redone whole. */
  deleteStepSamples(round: number, step: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM scores WHERE sample_id IN (SELECT id FROM samples WHERE round = ? AND step = ?)').run(round, step);
      this.db.prepare('DELETE FROM samples WHERE round = ? AND step = ?').run(round, step);
    })();
  }

  /** Samples by id (any round), with their scores. */
  samplesById(ids: readonly number[]): StoredSample[] {
    if (ids.length === 0) return [];
    const select = this.db.prepare(`${SAMPLE_SELECT} WHERE s.id = ?`);
    return ids.map((id) => {
      const row = select.get(id) as SampleRecord | undefined;
      if (!row) throw new RunStoreError(this.path, `no sample ${id}`);
      return toStoredSample(row);
    });
  }

  saveAccepted(round: number, accepted: readonly { sampleId: number; reason: string }[]): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO accepted (round, sample_id, reason) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM accepted WHERE round = ?').run(round);
      for (const row of accepted) insert.run(round, row.sampleId, row.reason);
    })();
  }

  /** Ids of the samples accepted in rounds `from`..`to` (inclusive). */
  acceptedIds(from: number, to: number): number[] {
    return (this.db.prepare('SELECT sample_id FROM accepted WHERE round BETWEEN ? AND ? ORDER BY round, sample_id').all(from, to) as { sample_id: number }[]).map((row) => row.sample_id);
  }

  /** The accepted set of one round: sample ids (ascending) with the reason each was accepted. */
  acceptedSet(round: number): { sampleId: number; reason: string }[] {
    const rows = this.db.prepare('SELECT sample_id, reason FROM accepted WHERE round = ? ORDER BY sample_id').all(round) as { sample_id: number; reason: string }[];
    return rows.map((row) => ({ sampleId: row.sample_id, reason: row.reason }));
  }

  saveMetrics(round: number, metrics: Record<string, number>): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO metrics (round, key, value) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(metrics)) if (Number.isFinite(value)) insert.run(round, key, value);
    })();
  }

  metrics(round: number): Record<string, number> {
    const rows = this.db.prepare('SELECT key, value FROM metrics WHERE round = ? ORDER BY key').all(round) as { key: string; value: number }[];
    return Object.fromEntries(rows.map((row) => [row.key, row.value]));
  }

  /**
   * Records round `round`'s checkpoint. A path inside the run directory is kept
   * relative to it; only round 0 may lie outside (the checkpoint the recipe
   * starts from, `model.checkpoint`), kept absolute.
   */
  saveCheckpoint(round: number, path: string, policyVersion: string): void {
    const local = this.inside(resolve(path));
    if (local === undefined && round !== 0) throw new RunStoreError(this.path, `round ${round}'s checkpoint ${path} is outside the run directory ${this.dir}; a run's checkpoints live in its own checkpoints/ folder`);
    this.db.prepare('INSERT OR REPLACE INTO checkpoints (round, path, policy_version) VALUES (?, ?, ?)').run(round, local ?? resolve(path), policyVersion);
  }

  /**
   * Round `round`'s checkpoint, its path resolved against where the run is now.
   * A checkpoint recorded outside the run directory belongs to another run and
   * is refused (round 0 excepted: the recipe's starting checkpoint).
   */
  checkpoint(round: number): { path: string; policyVersion: string } | undefined {
    const row = this.db.prepare('SELECT path, policy_version FROM checkpoints WHERE round = ?').get(round) as { path: string; policy_version: string } | undefined;
    if (!row) return undefined;
    const path = resolve(this.dir, this.localPath(round, row.path));
    if (this.inside(path) === undefined && round !== 0) {
      throw new RunStoreError(this.path, `round ${round}'s checkpoint is recorded at ${row.path}, outside this run directory (${this.dir}): it belongs to another run; rerun with --fresh to start this run over`);
    }
    return { path, policyVersion: row.policy_version };
  }

  /** `path` relative to the run directory (with `/` separators), or undefined when it lies outside. */
  private inside(path: string): string | undefined {
    const local = relative(this.dir, path);
    if (local === '' || local === '..' || local.startsWith(`..${sep}`) || isAbsolute(local)) return undefined;
    return local.split(sep).join('/');
  }

  /**
   * The run-relative form of a stored checkpoint path. Stores written before
   * paths were relative hold `<the run's directory then>/checkpoints/round-N`:
   * that is this run's checkpoints/round-N wherever the run is now (moved or
   * copied). Round 0 of a recipe that starts from a checkpoint keeps its path.
   */
  private localPath(round: number, stored: string): string {
    if (!isAbsolute(stored)) return stored;
    const parts = stored.split(/[\\/]/);
    if (parts.at(-1) !== `round-${round}` || parts.at(-2) !== 'checkpoints') return stored;
    if (round === 0 && this.startsFromCheckpoint()) return stored;
    return `checkpoints/round-${round}`;
  }

  private startsFromCheckpoint(): boolean {
    const recipe = this.getMeta('recipe');
    if (recipe === undefined) return false;
    try {
      return typeof (JSON.parse(recipe) as { model?: { checkpoint?: unknown } }).model?.checkpoint === 'string';
    } catch {
      return false;
    }
  }

  /** Rewrites old absolute checkpoint paths in their run-relative form (see localPath). */
  private migrateCheckpointPaths(): void {
    const update = this.db.prepare('UPDATE checkpoints SET path = ? WHERE round = ?');
    for (const row of this.db.prepare('SELECT round, path FROM checkpoints').all() as { round: number; path: string }[]) {
      const local = this.localPath(row.round, row.path);
      if (local !== row.path) update.run(local, row.round);
    }
  }

  /** Saves finished step `step` of round `round`'s step-wise phase (`rl`, `selfplay`): the state the next step continues from and the step's metrics, in one transaction. */
  saveStep(round: number, phase: string, step: number, record: { state: unknown; metrics: Record<string, number> }): void {
    saveStep(this.db, this.path, round, phase, step, record);
  }

  /** The finished steps of a round's phase, in order, each with its state and metrics. */
  loadSteps<State = unknown>(round: number, phase: string): StoredStep<State>[] {
    return loadSteps<State>(this.db, this.path, round, phase);
  }

  /** What a round's phase resumes from: the count of finished steps, the last one's state, every step's metrics. */
  finishedSteps<State = unknown>(round: number, phase: string): FinishedSteps<State> {
    return finishedSteps<State>(this.db, this.path, round, phase);
  }

  /** The metrics of each finished step of a round's phase, in step order. */
  stepMetrics(round: number, phase: string): Record<string, number>[] {
    return this.loadSteps(round, phase).map((s) => s.metrics);
  }

  /**
   * The rows of the multi-turn trajectory that sample `sampleId` is a turn of,
   * first turn first: from its first turn (following parents while the row is
   * a `correction`) down its chain of `correction` rows.
   */
  trajectoryRows(sampleId: number): StoredSample[] {
    let [row] = this.samplesById([sampleId]);
    while (row.kind === 'correction' && row.parentId !== null && row.parentId !== undefined) [row] = this.samplesById([row.parentId]);
    const rows = [row];
    const child = this.db.prepare(`${SAMPLE_SELECT} WHERE s.parent_id = ? AND s.kind = 'correction' ORDER BY s.id`);
    for (let next = child.all(row.id) as SampleRecord[]; next.length > 0; next = child.all(rows.at(-1)!.id) as SampleRecord[]) {
      if (next.length > 1) throw new RunStoreError(this.path, `sample ${rows.at(-1)!.id} has ${next.length} correction rows as its next turn; a trajectory's turn has one next turn (the store is damaged)`);
      rows.push(toStoredSample(next[0]));
    }
    return rows;
  }

  /** Saves a round's preference pairs, in order, replacing any it had. */
  savePairs(round: number, pairs: readonly PreferencePair[]): void {
    const insert = this.db.prepare('INSERT INTO pairs (round, position, task_id, chosen_id, rejected_id) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM pairs WHERE round = ?').run(round);
      pairs.forEach((pair, i) => insert.run(round, i, pair.taskId, pair.chosenId, pair.rejectedId));
    })();
  }

  /** A round's preference pairs, in the order they were saved (empty when it has none, or when a store written before pairs existed is read read-only). */
  pairs(round: number): PreferencePair[] {
    if (!this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pairs'").get()) return [];
    const rows = this.db.prepare('SELECT task_id, chosen_id, rejected_id FROM pairs WHERE round = ? ORDER BY position').all(round) as { task_id: string; chosen_id: number; rejected_id: number }[];
    return rows.map((row) => ({ taskId: row.task_id, chosenId: row.chosen_id, rejectedId: row.rejected_id }));
  }
}
