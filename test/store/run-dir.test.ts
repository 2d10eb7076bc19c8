/** Run directories: a run is made only in a new or empty directory, --fresh deletes only what autodidact wrote, and a directory's identity file and store must name the same run. */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { RunDirectoryError, RunStoreError } from '../../src/errors.js';
import { IDENTITY_FILE, openRunDirectory, openRunStoreReadOnly } from '../../src/store/run-dir.js';
import { RunStore } from '../../src/store/run-store.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-run-dir-'));
after(() => rmSync(root, { recursive: true, force: true }));
let made = 0;
/** A new directory holding `files` (path → content; a path ending in / is a folder). */
const directory = (files: Record<string, string> = {}) => {
  const dir = join(root, `d${made++}`);
  mkdirSync(dir);
  for (const [path, text] of Object.entries(files)) {
    if (path.endsWith('/')) mkdirSync(join(dir, path), { recursive: true });
    else {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  }
  return dir;
};
/** A run as `autodidact run` leaves it: store, identity, a checkpoint, a default export. */
const madeRun = () => {
  const dir = join(root, `run${made++}`);
  openRunDirectory(dir).close();
  mkdirSync(join(dir, 'checkpoints', 'round-0'));
  writeFileSync(join(dir, 'checkpoints', 'round-0', 'model.safetensors'), 'weights');
  mkdirSync(join(dir, 'exports'));
  writeFileSync(join(dir, 'exports', 'round-1.trl-sft.jsonl'), '{}\n');
  return dir;
};
const identity = (dir: string) => JSON.parse(readFileSync(join(dir, IDENTITY_FILE), 'utf8')) as { format: string; version: number; runId: string };
const refused = (pattern: RegExp | string) => (error: Error) => error instanceof RunDirectoryError && (typeof pattern === 'string' ? error.message === pattern : pattern.test(error.message));

describe('run directory', () => {
  test('a new or empty directory becomes a run: store, identity file and checkpoints/, the identity and the store naming one run id', () => {
    for (const dir of [join(root, 'new', 'nested'), directory()]) {
      const store = openRunDirectory(dir);
      try {
        assert.deepEqual(readdirSync(dir).sort(), [IDENTITY_FILE, 'checkpoints', 'run.sqlite', 'run.sqlite-shm', 'run.sqlite-wal']);
        const id = identity(dir);
        assert.deepEqual([id.format, id.version], ['autodidact-run', 1]);
        assert.equal(id.runId, store.runId);
        assert.equal(store.getMeta('run_id'), id.runId);
      } finally {
        store.close();
      }
    }
  });

  test('--fresh on a directory that is not a run deletes nothing and names what it holds (the issue: `--fresh --out p` deleted p/thesis.txt)', () => {
    const dir = directory({ 'thesis.txt': 'x' });
    for (const fresh of [true, false]) {
      assert.throws(() => openRunDirectory(dir, { fresh }), refused(`${dir}: is not empty and not a run directory (it holds thesis.txt); autodidact starts a run only in a new or empty directory: pass another --out`));
    }
    assert.equal(readFileSync(join(dir, 'thesis.txt'), 'utf8'), 'x');
    assert.deepEqual(readdirSync(dir), ['thesis.txt'], 'nothing was added either');
    // A working directory with a checkpoints/ folder of its own is not a run either.
    const project = directory({ 'src/main.ts': '', 'checkpoints/': '', 'README.md': '', 'package.json': '' });
    assert.throws(() => openRunDirectory(project, { fresh: true }), refused(/it holds README\.md, checkpoints, package\.json and 1 more\)/));
    assert.ok(existsSync(join(project, 'src', 'main.ts')));
  });

  test('--fresh on a run deletes only what autodidact wrote there, and starts a new run (a new id) in the same directory', () => {
    const dir = madeRun();
    const before = identity(dir).runId;
    const store = openRunDirectory(dir, { fresh: true });
    try {
      assert.notEqual(store.runId, before);
      assert.equal(identity(dir).runId, store.runId);
      assert.deepEqual(readdirSync(join(dir, 'checkpoints')), [], 'the old checkpoints are gone');
      assert.ok(!existsSync(join(dir, 'exports')), 'and the old exports');
      assert.equal(store.getMeta('recipe'), undefined, 'the store is new');
    } finally {
      store.close();
    }
  });

  test('--fresh on a run that also holds anything else deletes nothing and names the first foreign entries', () => {
    const dir = madeRun();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    writeFileSync(join(dir, 'checkpoints', 'best.bin'), 'mine');
    writeFileSync(join(dir, 'exports', 'model.gguf'), 'mine');
    mkdirSync(join(dir, 'plots'));
    assert.throws(
      () => openRunDirectory(dir, { fresh: true }),
      refused(`${dir}: --fresh deletes only what autodidact wrote, and this run directory also holds checkpoints/best.bin, exports/model.gguf, notes.txt and 1 more: move that away first, or pass another --out`),
    );
    for (const path of ['notes.txt', 'checkpoints/best.bin', 'exports/model.gguf', 'run.sqlite', IDENTITY_FILE, 'checkpoints/round-0/model.safetensors', 'exports/round-1.trl-sft.jsonl']) assert.ok(existsSync(join(dir, path)), `${path} is still there`);
    // Without --fresh the run resumes: nothing is deleted then.
    openRunDirectory(dir).close();
  });

  test('a store of another program named run.sqlite is never deleted or written, with or without --fresh', () => {
    const dir = directory();
    const path = join(dir, 'run.sqlite');
    const db = new Database(path);
    db.exec('CREATE TABLE accounts (id INTEGER)');
    db.close();
    const bytes = readFileSync(path);
    for (const fresh of [true, false]) assert.throws(() => openRunDirectory(dir, { fresh }), (error: Error) => error instanceof RunStoreError && /is a SQLite database of another program \(tables: accounts\)/.test(error.message));
    assert.deepEqual(readFileSync(path), bytes);
    assert.deepEqual(readdirSync(dir), ['run.sqlite']);
  });

  test('a regular file, or a path under one, is not a run directory', () => {
    const dir = directory({ 'a-file': 'x' });
    const file = join(dir, 'a-file');
    assert.throws(() => openRunDirectory(file), refused(`${file}: is a file, not a directory: --out names a run directory (a new or empty one, or an existing run)`));
    assert.throws(() => openRunDirectory(join(file, 'run')), refused(new RegExp(`^${join(file, 'run')}: cannot be created \\(.*\\); --out names a run directory$`)));
    assert.equal(readFileSync(file, 'utf8'), 'x');
  });

  test('the identity file and the store must name the same run: a store copied over from another run is refused', () => {
    const first = madeRun();
    const second = madeRun();
    rmSync(join(second, 'run.sqlite-wal'), { force: true });
    rmSync(join(second, 'run.sqlite-shm'), { force: true });
    copyFileSync(join(first, 'run.sqlite'), join(second, 'run.sqlite'));
    const expected = refused(new RegExp(`^${second}: ${IDENTITY_FILE} names run ${identity(second).runId} but run\\.sqlite belongs to run ${identity(first).runId}: the store comes from another run`));
    assert.throws(() => openRunDirectory(second), expected);
    assert.throws(() => openRunStoreReadOnly(second), expected);
  });

  test('a run made before identity files (a store alone) resumes and gets one; an identity file without a store is refused until --fresh', () => {
    const legacy = directory();
    new RunStore(join(legacy, 'run.sqlite')).close();
    const store = openRunDirectory(legacy);
    assert.equal(identity(legacy).runId, store.runId);
    store.close();

    const orphan = madeRun();
    for (const name of ['run.sqlite', 'run.sqlite-wal', 'run.sqlite-shm']) rmSync(join(orphan, name), { force: true });
    assert.throws(() => openRunDirectory(orphan), refused(/holds autodidact-run\.json but no run store \(run\.sqlite is missing or empty\): an interrupted --fresh, or the store was deleted; rerun with --fresh/));
    openRunDirectory(orphan, { fresh: true }).close();

    const garbled = madeRun();
    writeFileSync(join(garbled, IDENTITY_FILE), '{"format": "something-else"}');
    assert.throws(() => openRunDirectory(garbled, { fresh: true }), refused(/autodidact-run\.json is not an autodidact run identity/));
    assert.ok(existsSync(join(garbled, 'run.sqlite')));
  });
});
