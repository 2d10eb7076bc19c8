/**
 * Run directories hold what `autodidact run` wrote there, and it deletes
 * nothing else. A run directory holds its store (run.sqlite, with its -wal and
 * -shm), an identity file (autodidact-run.json: format, version and the run id
 * the store records too), checkpoints/ and exports/ (export's default outputs).
 * A run is only created in a new or empty directory; `--fresh` deletes only
 * those entries, and refuses a directory holding anything else, naming it.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RunDirectoryError } from '../errors.js';
import { RunStore } from './run-store.js';
import { probeRunStore } from './store-file.js';

export const STORE_FILE = 'run.sqlite';
export const IDENTITY_FILE = 'autodidact-run.json';
const FORMAT = 'autodidact-run';
const VERSION = 1;

/** The top-level files the project writes in a run directory (the store, its WAL files, the identity file and its temporary). */
const OWN_FILES = /^(run\.sqlite(-wal|-shm|-journal)?|autodidact-run\.json|\.autodidact-run\.json\.tmp-[\w-]+)$/;
/** The folders it writes, each with the names of what it writes inside. */
const OWN_FOLDERS: Record<string, RegExp> = {
  // round-N, the RL and self-play step slots round-N-slot-K, and saveCheckpoint's temporaries (.round-N.tmp-…, .old).
  checkpoints: /^\.?round-\d+(-slot-\d+)?(\.tmp-[\w-]+(\.old)?)?$/,
  // export's default outputs, round-N.<format>.jsonl|parquet, openai-chat's provenance sidecar, and their temporaries.
  exports: /^\.?round-\d+\.[a-z-]+(\.provenance)?\.(jsonl|parquet)(\.tmp-[\w-]+)?$/,
};

/** The identity file's content. */
interface RunIdentity {
  format: typeof FORMAT;
  version: number;
  runId: string;
  createdAt: string;
}

/**
 * Opens the run directory `out` for `autodidact run`: creates a run there when
 * it is new or empty, resumes the run it holds otherwise, and with `fresh`
 * first deletes what the run wrote (only that: a run directory holding
 * anything else is refused). A directory that is neither empty nor a run is
 * refused either way. Returns the run's store; checkpoints/ exists.
 */
export function openRunDirectory(out: string, options: { fresh?: boolean } = {}): RunStore {
  const dir = resolve(out);
  if (existsSync(dir)) {
    if (!lstatSync(dir).isDirectory()) throw new RunDirectoryError(dir, 'is a file, not a directory: --out names a run directory (a new or empty one, or an existing run)');
    const entries = readdirSync(dir);
    if (entries.length > 0) {
      const identity = readIdentity(dir);
      const store = probeRunStore(join(dir, STORE_FILE));
      if (!identity && !store) throw new RunDirectoryError(dir, `is not empty and not a run directory (it holds ${listed(entries.sort())}); autodidact starts a run only in a new or empty directory: pass another --out`);
      if (options.fresh) {
        const foreign = foreignEntries(dir);
        if (foreign.length) throw new RunDirectoryError(dir, `--fresh deletes only what autodidact wrote, and this run directory also holds ${listed(foreign)}: move that away first, or pass another --out`);
        // The identity file goes last: a --fresh killed midway leaves a directory the next --fresh still recognizes.
        for (const name of entries) if (name !== IDENTITY_FILE) rmSync(join(dir, name), { recursive: true, force: true });
        rmSync(join(dir, IDENTITY_FILE), { force: true });
      } else {
        if (!store) throw new RunDirectoryError(dir, `holds ${IDENTITY_FILE} but no run store (${STORE_FILE} is missing or empty): an interrupted --fresh, or the store was deleted; rerun with --fresh to start over`);
        return openStore(dir, identity);
      }
    }
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new RunDirectoryError(dir, `cannot be created (${(error as Error).message}); --out names a run directory`);
  }
  return openStore(dir, undefined);
}

/**
 * Opens a run directory's store read-only (export): the store must be ours,
 * and the identity file, where the run has one, must name the same run.
 */
export function openRunStoreReadOnly(dir: string): RunStore {
  const identity = readIdentity(dir);
  const store = new RunStore(join(dir, STORE_FILE), { readonly: true });
  if (identity && store.runId !== undefined && identity.runId !== store.runId) {
    store.close();
    throw mismatch(dir, identity.runId, store.runId);
  }
  return store;
}

/** Opens (creating) the store of `dir`, checks it against the identity file, and writes that file when the run has none yet (a new run, or one made before identity files). */
function openStore(dir: string, identity: RunIdentity | undefined): RunStore {
  const store = new RunStore(join(dir, STORE_FILE));
  try {
    const runId = store.runId!;
    if (identity && identity.runId !== runId) throw mismatch(dir, identity.runId, runId);
    if (!identity) {
      const temporary = join(dir, `.${IDENTITY_FILE}.tmp-${process.pid}`);
      writeFileSync(temporary, `${JSON.stringify({ format: FORMAT, version: VERSION, runId, createdAt: new Date().toISOString() } satisfies RunIdentity, null, 2)}\n`);
      renameSync(temporary, join(dir, IDENTITY_FILE));
    }
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    return store;
  } catch (error) {
    store.close();
    throw error;
  }
}

/** The identity file of `dir`, undefined when there is none; refuses one that is not ours. */
function readIdentity(dir: string): RunIdentity | undefined {
  const path = join(dir, IDENTITY_FILE);
  if (!existsSync(path)) return undefined;
  let value: Partial<RunIdentity> | null;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunIdentity> | null;
  } catch (error) {
    throw new RunDirectoryError(dir, `${IDENTITY_FILE} cannot be read (${(error as Error).message}); it names the run this directory holds: restore it, or delete the directory yourself to start over`);
  }
  if (value?.format !== FORMAT || typeof value.runId !== 'string' || typeof value.version !== 'number') {
    throw new RunDirectoryError(dir, `${IDENTITY_FILE} is not an autodidact run identity (format "${FORMAT}" with a runId); restore it, or delete the directory yourself to start over`);
  }
  if (value.version > VERSION) throw new RunDirectoryError(dir, `${IDENTITY_FILE} is of version ${value.version}, newer than this autodidact reads (${VERSION}); upgrade autodidact`);
  return value as RunIdentity;
}

function mismatch(dir: string, identityRun: string, storeRun: string | undefined): RunDirectoryError {
  return new RunDirectoryError(dir, `${IDENTITY_FILE} names run ${identityRun} but ${STORE_FILE} belongs to run ${storeRun}: the store comes from another run; put it back in its own directory, or rerun with --fresh to start over`);
}

/** What `dir` holds that autodidact did not write (paths relative to it, sorted). */
function foreignEntries(dir: string): string[] {
  const foreign: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const stat = lstatSync(join(dir, name));
    if (stat.isFile() && OWN_FILES.test(name)) continue;
    if (stat.isDirectory() && Object.hasOwn(OWN_FOLDERS, name)) {
      for (const inner of readdirSync(join(dir, name)).sort()) if (!OWN_FOLDERS[name].test(inner)) foreign.push(`${name}/${inner}`);
      continue;
    }
    foreign.push(stat.isDirectory() ? `${name}/` : name);
  }
  return foreign;
}

/** The first few names of a list, for a message. */
function listed(names: readonly string[]): string {
  const shown = names.slice(0, 3).join(', ');
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown;
}
