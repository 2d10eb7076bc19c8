// A run store's file: the format and version it declares, checked read-only before anything is written, and opened with errors that name it.
import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { RunStoreError } from '../errors.js';

export const STORE_FORMAT = 'autodidact-run-store';
/**
 * The store's schema version (src/store/schema.ts):
 * - 2: round plans and controller states (the plans table) and preference pairs (the pairs table);
 * - 3: finished steps of step-wise rounds as rows (the steps and step_metrics tables, where version 2
 *   kept each round's state as one JSON value in meta under `rl/N` / `selfplay/N`), and on samples
 *   the behaviour logprobs, the turn and the turn's own observation tokens.
 * An older store opened for writing is migrated in one transaction (a killed run of version 2
 * resumes mid-round); opened read-only (export) it is read as it is. A newer one is refused.
 */
export const STORE_VERSION = 3;

/** What a store file says about itself, once checked to be a store of ours. */
export interface StoreIdentity {
  /** meta `store_format`; undefined for a store written before that key existed. */
  format: string | undefined;
  runId: string | undefined;
  /** meta `store_version` (1 for a store written before that key existed). */
  version: number;
}

/**
 * Checks, read-only, that the file at `path` is a run store of ours: a readable
 * SQLite database holding our meta key `store_format` (or, for older stores, our
 * tables). Returns undefined when there is no file yet (or an empty one, which
 * SQLite reads as an empty database); throws RunStoreError naming the file otherwise.
 */
export function probeRunStore(path: string): StoreIdentity | undefined {
  if (!existsSync(path)) return undefined;
  const stat = statSync(path);
  if (!stat.isFile()) throw new RunStoreError(path, 'is not a file; a run store is the run directory\'s run.sqlite file: move this away');
  if (stat.size === 0) return undefined;
  const db = openDatabase(path, { readonly: true });
  try {
    let tables: string[];
    try {
      tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((row) => row.name);
    } catch (error) {
      throw unreadable(path, error);
    }
    if (tables.length === 0) return undefined;
    const meta = (key: string) => (tables.includes('meta') ? (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: unknown } | undefined)?.value : undefined);
    const format = meta('store_format');
    const ours = format === STORE_FORMAT || (format === undefined && ['meta', 'samples', 'checkpoints'].every((name) => tables.includes(name)));
    if (!ours) {
      const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
      throw new RunStoreError(path, `is a SQLite database of another program (${format !== undefined ? `store_format ${JSON.stringify(format)}` : `tables: ${shown}`}), not an autodidact run store; it was left untouched: move it away, or pass a run directory that \`autodidact run --out\` wrote`);
    }
    const version = Number(meta('store_version') ?? 1);
    if (version > STORE_VERSION) throw new RunStoreError(path, `is a run store of version ${version}, newer than this autodidact reads (${STORE_VERSION}); upgrade autodidact`);
    const runId = meta('run_id');
    return { format: format as string | undefined, runId: typeof runId === 'string' ? runId : undefined, version };
  } catch (error) {
    if (error instanceof RunStoreError) throw error;
    throw unreadable(path, error);
  } finally {
    db.close();
  }
}

export function openDatabase(path: string, options: { readonly?: boolean }): Database.Database {
  try {
    return new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (error) {
    if (options.readonly) throw unreadable(path, error);
    throw new RunStoreError(path, `cannot be opened (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** SQLite's own words for a file it cannot read (`file is not a database`, `database disk image is malformed`), with what to do. */
export function unreadable(path: string, error: unknown): RunStoreError {
  const reason = error instanceof Error ? error.message : String(error);
  return new RunStoreError(path, `cannot be read as a run store (${reason}): it is damaged or not a run store. Restore it from a copy, or move it away to start a new run there`);
}
