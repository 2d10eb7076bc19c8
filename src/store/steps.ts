/**
 * The finished steps of step-wise rounds (policy gradient's `rl` phase,
 * self-play's `selfplay` phase) in the run store: one `steps` row per
 * finished step and one `step_metrics` row per metric of the step. The last
 * finished step's row also holds, as JSON, the state the next step continues
 * from (the policy-gradient cursor and |advantage| sums, self-play's task
 * buffers, which may hold thousands of programs): saving a step clears the
 * state of the step before it, so a round keeps one copy, not one per step.
 * A step's row, its metrics and that clearing are one transaction, so a kill
 * can never leave one without the other; a round resumes at the step after
 * the last row.
 *
 * Stores of version 2 and before kept a round's whole state (steps done, the
 * last step's state, every step's metrics) as one JSON value in the meta table
 * under `rl/<round>` or `selfplay/<round>`; `stepsOfMeta` reads that shape, for
 * the migration to version 3 and for such a store opened read-only.
 */
import type Database from 'better-sqlite3';
import { RunStoreError } from '../errors.js';
import type { FinishedSteps, StoredStep } from './records.js';

/** The tables of version 3; created by the store's schema (src/store/schema.ts). */
export const STEP_TABLES = `
CREATE TABLE IF NOT EXISTS steps (
  round INTEGER NOT NULL, phase TEXT NOT NULL, step INTEGER NOT NULL,
  state TEXT, finished_at TEXT,
  PRIMARY KEY (round, phase, step));
CREATE TABLE IF NOT EXISTS step_metrics (
  round INTEGER NOT NULL, phase TEXT NOT NULL, step INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (round, phase, step, key),
  FOREIGN KEY (round, phase, step) REFERENCES steps (round, phase, step));
`;

/** The meta keys of a version-2 round state (`rl/3`, `selfplay/1`), whose prefix is the step-wise phase. */
export const VERSION_2_STEP_KEY = /^(rl|selfplay)\/(\d+)$/;

/**
 * Saves finished step `step` of a round's phase: its state (clearing the
 * previous step's) and its metrics (non-finite values left out, as the round's
 * metrics leave them out) in one transaction. Steps are saved in order: a step
 * whose previous step has no row is refused.
 */
export function saveStep(db: Database.Database, path: string, round: number, phase: string, step: number, record: { state: unknown; metrics: Record<string, number> }): void {
  db.transaction(() => {
    const before = (db.prepare('SELECT COUNT(*) AS n FROM steps WHERE round = ? AND phase = ? AND step < ?').get(round, phase, step) as { n: number }).n;
    if (before !== step) throw new RunStoreError(path, `step ${step} of round ${round}'s ${phase} phase is saved with ${before} of the steps before it stored; steps are saved in order (this is a bug: report it)`);
    db.prepare('DELETE FROM step_metrics WHERE round = ? AND phase = ? AND step = ?').run(round, phase, step);
    db.prepare('UPDATE steps SET state = NULL WHERE round = ? AND phase = ? AND step = ?').run(round, phase, step - 1);
    db.prepare('INSERT OR REPLACE INTO steps (round, phase, step, state, finished_at) VALUES (?, ?, ?, ?, ?)').run(round, phase, step, JSON.stringify(record.state), new Date().toISOString());
    const insert = db.prepare('INSERT INTO step_metrics (round, phase, step, key, value) VALUES (?, ?, ?, ?, ?)');
    for (const [key, value] of Object.entries(record.metrics)) if (Number.isFinite(value)) insert.run(round, phase, step, key, value);
  })();
}

/** The finished steps of a round's phase, in order; read from the version-2 meta value when the store (opened read-only) has no steps table. */
export function loadSteps<State>(db: Database.Database, path: string, round: number, phase: string): StoredStep<State>[] {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'steps'").get()) {
    const key = `${phase}/${round}`;
    const value = (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
    return value === undefined ? [] : (stepsOfMeta(path, key, value) as StoredStep<State>[]);
  }
  const rows = db.prepare('SELECT step, state, finished_at FROM steps WHERE round = ? AND phase = ? ORDER BY step').all(round, phase) as { step: number; state: string | null; finished_at: string | null }[];
  const metrics = db.prepare('SELECT step, key, value FROM step_metrics WHERE round = ? AND phase = ? ORDER BY step, key').all(round, phase) as { step: number; key: string; value: number }[];
  const byStep = new Map<number, Record<string, number>>();
  for (const m of metrics) (byStep.get(m.step) ?? byStep.set(m.step, {}).get(m.step)!)[m.key] = m.value;
  return rows.map((row) => ({ step: row.step, state: row.state === null ? null : (JSON.parse(row.state) as State), metrics: byStep.get(row.step) ?? {}, finishedAt: row.finished_at }));
}

/** What a round's phase resumes from; a last step without a state (a damaged store) is an error saying what to do. */
export function finishedSteps<State>(db: Database.Database, path: string, round: number, phase: string): FinishedSteps<State> {
  const steps = loadSteps<State>(db, path, round, phase);
  const last = steps.at(-1);
  if (last && last.state === null) throw new RunStoreError(path, `round ${round}'s ${phase} phase has no state stored for its last finished step (${last.step}), so it cannot resume; rerun with --fresh to start the run over`);
  return { steps: steps.length, state: last?.state ?? undefined, metrics: steps.map((s) => s.metrics) };
}

/**
 * A version-2 round state (`{ steps, metrics, ...state }`: policy gradient's
 * `cursor` and `absAdvantages`, self-play's `buffers`) as step rows: one per
 * finished step with its metrics (a `null`, which JSON made of NaN, left out),
 * the state on the last one only (the only one version 2 kept).
 */
export function stepsOfMeta(path: string, key: string, value: string): StoredStep[] {
  let parsed: { steps?: unknown; metrics?: (Record<string, number | null> | undefined)[] } & Record<string, unknown>;
  try {
    parsed = JSON.parse(value) as typeof parsed;
  } catch (error) {
    throw new RunStoreError(path, `meta ${key} (a round's state, as stores of version 2 kept it) is not valid JSON (${error instanceof Error ? error.message : String(error)}): the store is damaged; rerun with --fresh to start the run over`);
  }
  const { steps, metrics, ...state } = parsed;
  if (!Number.isInteger(steps) || (steps as number) < 0) throw new RunStoreError(path, `meta ${key} (a round's state, as stores of version 2 kept it) has no whole number of steps (${JSON.stringify(steps)}): the store is damaged; rerun with --fresh to start the run over`);
  const count = steps as number;
  return Array.from({ length: count }, (_, step) => ({
    step,
    state: step === count - 1 ? state : null,
    metrics: Object.fromEntries(Object.entries(metrics?.[step] ?? {}).filter((entry): entry is [string, number] => Number.isFinite(entry[1]))),
    finishedAt: null,
  }));
}

/** Moves every version-2 round state in meta into step rows and deletes its meta key (inside the caller's migration transaction). */
export function migrateStepMeta(db: Database.Database, path: string): void {
  const insertStep = db.prepare('INSERT OR REPLACE INTO steps (round, phase, step, state, finished_at) VALUES (?, ?, ?, ?, NULL)');
  const insertMetric = db.prepare('INSERT OR REPLACE INTO step_metrics (round, phase, step, key, value) VALUES (?, ?, ?, ?, ?)');
  for (const { key, value } of db.prepare("SELECT key, value FROM meta WHERE key LIKE 'rl/%' OR key LIKE 'selfplay/%'").all() as { key: string; value: string }[]) {
    const match = VERSION_2_STEP_KEY.exec(key);
    if (!match) continue;
    const [, phase, round] = match;
    for (const step of stepsOfMeta(path, key, value)) {
      insertStep.run(Number(round), phase, step.step, step.state === null ? null : JSON.stringify(step.state));
      for (const [name, metric] of Object.entries(step.metrics)) insertMetric.run(Number(round), phase, step.step, name, metric);
    }
    db.prepare('DELETE FROM meta WHERE key = ?').run(key);
  }
}
