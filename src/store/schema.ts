/**
 * The run store's tables (version 3) and the migration of an older store
 * opened for writing. Version 1 gains the plans and pairs tables (version 2);
 * version 2 gains the steps and step_metrics tables (its `rl/N` / `selfplay/N`
 * meta values become step rows, src/store/steps.ts) and, on samples, the
 * behaviour logprobs, the turn and the turn's observation tokens (version 3).
 * The caller runs it in one transaction with the version bump, so a kill
 * mid-migration leaves the store as it was.
 */
import type Database from 'better-sqlite3';
import { migrateStepMeta, STEP_TABLES } from './steps.js';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS phases (
  round INTEGER NOT NULL, phase TEXT NOT NULL, ms REAL NOT NULL, finished_at TEXT NOT NULL,
  PRIMARY KEY (round, phase));
CREATE TABLE IF NOT EXISTS tasks (
  round INTEGER NOT NULL, split TEXT NOT NULL, position INTEGER NOT NULL,
  id TEXT NOT NULL, difficulty REAL, json TEXT NOT NULL,
  PRIMARY KEY (round, split, position));
CREATE TABLE IF NOT EXISTS samples (
  id INTEGER PRIMARY KEY,
  round INTEGER NOT NULL, kind TEXT NOT NULL, task_id TEXT NOT NULL, sample_index INTEGER NOT NULL,
  parent_id INTEGER REFERENCES samples(id),
  prompt TEXT NOT NULL, completion TEXT NOT NULL, tokens BLOB NOT NULL, logprobs BLOB NOT NULL,
  finish_reason TEXT NOT NULL, policy_version TEXT NOT NULL, sampler TEXT NOT NULL,
  step INTEGER NOT NULL DEFAULT 0,
  behaviour_logprobs BLOB,
  turn INTEGER NOT NULL DEFAULT 0,
  observation_tokens BLOB,
  UNIQUE (round, kind, task_id, step, sample_index));
CREATE INDEX IF NOT EXISTS samples_parent ON samples (parent_id);
CREATE TABLE IF NOT EXISTS scores (
  sample_id INTEGER PRIMARY KEY REFERENCES samples(id),
  verifier TEXT NOT NULL, verifier_version TEXT NOT NULL, status TEXT NOT NULL,
  reward REAL, pass INTEGER, feedback TEXT, extracted TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS accepted (
  round INTEGER NOT NULL, sample_id INTEGER NOT NULL REFERENCES samples(id), reason TEXT NOT NULL,
  PRIMARY KEY (round, sample_id));
CREATE TABLE IF NOT EXISTS metrics (round INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (round, key));
CREATE TABLE IF NOT EXISTS checkpoints (round INTEGER PRIMARY KEY, path TEXT NOT NULL, policy_version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans (round INTEGER PRIMARY KEY, plan TEXT NOT NULL, states TEXT NOT NULL, probes TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (
  round INTEGER NOT NULL, position INTEGER NOT NULL, task_id TEXT NOT NULL,
  chosen_id INTEGER NOT NULL REFERENCES samples(id), rejected_id INTEGER NOT NULL REFERENCES samples(id),
  PRIMARY KEY (round, position));
${STEP_TABLES}`;

/** Columns added to samples since version 1, with their definitions. */
const ADDED_SAMPLE_COLUMNS: [string, string][] = [
  ['step', 'INTEGER NOT NULL DEFAULT 0'], // policy-gradient rounds
  ['behaviour_logprobs', 'BLOB'], // version 3
  ['turn', 'INTEGER NOT NULL DEFAULT 0'], // version 3
  ['observation_tokens', 'BLOB'], // version 3
];

/** Creates the tables a store lacks and migrates one of version `from` (inside the caller's transaction). */
export function createOrMigrate(db: Database.Database, path: string, from: number | undefined): void {
  const columns = new Set((db.prepare("SELECT name FROM pragma_table_info('samples')").all() as { name: string }[]).map((c) => c.name));
  // An old samples table gets its new columns before the schema (its index) reads them.
  if (columns.size > 0) for (const [name, definition] of ADDED_SAMPLE_COLUMNS) if (!columns.has(name)) db.exec(`ALTER TABLE samples ADD COLUMN ${name} ${definition}`);
  db.exec(SCHEMA);
  if (from !== undefined && from < 3) {
    numberTurns(db);
    migrateStepMeta(db, path);
  }
}

/**
 * Gives the rows of multi-turn trajectories written before version 3 their
 * turn: a `correction` is the turn after its parent (parents are written
 * first, so their ids are smaller). Their observation tokens were never
 * stored and stay null.
 */
function numberTurns(db: Database.Database): void {
  const turnOf = new Map<number, number>();
  const update = db.prepare('UPDATE samples SET turn = ? WHERE id = ?');
  for (const row of db.prepare("SELECT id, parent_id FROM samples WHERE kind = 'correction' ORDER BY id").all() as { id: number; parent_id: number | null }[]) {
    const turn = row.parent_id === null ? 0 : (turnOf.get(row.parent_id) ?? 0) + 1;
    turnOf.set(row.id, turn);
    update.run(turn, row.id);
  }
}
