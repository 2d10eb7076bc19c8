/** The run store: what goes in comes back out exactly, a reopened file still holds all of it, its checkpoint paths follow the run directory, and it opens only files of ours. */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { RunStoreError } from '../../src/errors.js';
import { RunStore, type SampleRow } from '../../src/store/run-store.js';
import type { Task } from '../../src/spec/task.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `run-${files++}.sqlite`);

const tasks: Task[] = [
  { id: 't-2', family: 'addition-plain', prompt: '3+4=', answer: '7', solution: '7;', difficulty: 1, meta: { a: 3, b: 4 } },
  { id: 't-0', family: 'addition-plain', prompt: '12+30=', answer: '42', difficulty: 2 },
  { id: 't-1', family: 'unlabeled', prompt: 'say hi' },
];

const row = (overrides: Partial<SampleRow> = {}): SampleRow => ({
  round: 1,
  kind: 'sample',
  taskId: 't-2',
  sampleIndex: 0,
  prompt: '3+4=',
  completion: '7',
  tokens: [55, 257],
  logprobs: [-0.1, -1e-3],
  finishReason: 'stop',
  policyVersion: 'sft',
  sampler: { n: 2, temperature: 0.7, stop: [';'], seed: 123 },
  ...overrides,
});

describe('run store', () => {
  test('tasks come back in the order they were saved, per round and split; resaving replaces them', () => {
    const store = new RunStore(freshPath());
    try {
      assert.equal(store.loadTasks(1, 'train'), null, 'nothing saved yet');
      store.saveTasks(1, 'train', tasks);
      store.saveTasks(2, 'train', tasks.slice(0, 1));
      assert.deepEqual(store.loadTasks(1, 'train'), tasks);
      assert.deepEqual(store.loadTasks(2, 'train'), tasks.slice(0, 1));
      assert.equal(store.loadTasks(1, 'heldout'), null);
      store.saveTasks(1, 'train', [tasks[2], tasks[0]]);
      assert.deepEqual(store.loadTasks(1, 'train'), [tasks[2], tasks[0]]);
    } finally {
      store.close();
    }
  });

  test('samples keep token ids exactly and logprobs at Float32 precision, with their provenance', () => {
    const store = new RunStore(freshPath());
    try {
      const logprobs = [-0.1, -2.718281828, -1e-7, -30.5, 0];
      const tokens = [256, 0, 255, 257, 2 ** 31 - 1];
      const [first, second] = store.saveSamples([
        row({ tokens, logprobs, completion: 'x', finishReason: 'length' }),
        row({ sampleIndex: 1, tokens: [], logprobs: [], completion: '', sampler: { nested: { k: [1, 2] } } }),
      ]);
      const [reflection] = store.saveSamples([row({ kind: 'reflection', parentId: first, prompt: '3+4=8|digit 1 is wrong|3+4=', policyVersion: 'round-1' })]);
      const samples = store.loadSamples(1);
      assert.deepEqual(samples.map((s) => s.id), [first, second, reflection]);
      const [a, b, c] = samples;
      assert.deepEqual(a.tokens, tokens);
      assert.deepEqual(a.logprobs, logprobs.map(Math.fround));
      assert.notEqual(a.logprobs[1], -2.718281828, 'stored as Float32, not Float64');
      assert.deepEqual(
        { round: a.round, kind: a.kind, taskId: a.taskId, sampleIndex: a.sampleIndex, parentId: a.parentId, prompt: a.prompt, completion: a.completion, finishReason: a.finishReason, policyVersion: a.policyVersion, sampler: a.sampler, verification: a.verification, verifier: a.verifier },
        { round: 1, kind: 'sample', taskId: 't-2', sampleIndex: 0, parentId: null, prompt: '3+4=', completion: 'x', finishReason: 'length', policyVersion: 'sft', sampler: { n: 2, temperature: 0.7, stop: [';'], seed: 123 }, verification: null, verifier: null },
      );
      assert.deepEqual([b.tokens, b.logprobs, b.completion, b.sampler], [[], [], '', { nested: { k: [1, 2] } }]);
      assert.deepEqual([c.kind, c.parentId, c.policyVersion], ['reflection', first, 'round-1']);
      assert.deepEqual(store.loadSamples(1, 'reflection').map((s) => s.id), [reflection]);
      assert.deepEqual(store.loadSamples(1, 'sample').map((s) => s.id), [first, second]);
      assert.deepEqual(store.loadSamples(2), []);
      assert.deepEqual(store.samplesById([reflection, first]).map((s) => s.id), [reflection, first]);
      assert.throws(() => store.samplesById([9999]), /no sample 9999/);
    } finally {
      store.close();
    }
  });

  test('behaviour logprobs (Float32), the turn and the observation tokens come back when given, and are absent (turn 0) when not', () => {
    const store = new RunStore(freshPath());
    try {
      const [given, plain] = store.saveSamples([
        row({ behaviourLogprobs: [-0.25, -1.1], observationTokens: [256, 51, 43, 52, 61], turn: 0 }),
        row({ sampleIndex: 1 }),
      ]);
      const [correction] = store.saveSamples([row({ kind: 'correction', parentId: given, turn: 1, behaviourLogprobs: [-0.5], observationTokens: [33], tokens: [55], logprobs: [-0.75] })]);
      const [a, b, c] = store.samplesById([given, plain, correction]);
      assert.deepEqual([a.behaviourLogprobs, a.observationTokens, a.turn], [[-0.25, Math.fround(-1.1)], [256, 51, 43, 52, 61], 0]);
      assert.notEqual(a.behaviourLogprobs![1], -1.1, 'stored as Float32, like logprobs');
      assert.ok(!('behaviourLogprobs' in b) && !('observationTokens' in b) && b.turn === 0, JSON.stringify(b));
      assert.deepEqual([c.turn, c.parentId, c.behaviourLogprobs, c.observationTokens], [1, given, [-0.5], [33]]);
      assert.deepEqual(store.trajectoryRows(correction).map((s) => s.id), [given, correction]);
      assert.deepEqual(store.trajectoryRows(plain).map((s) => s.id), [plain], 'a single-turn sample is its own trajectory');
    } finally {
      store.close();
    }
  });

  test('a (round, kind, task, index) is stored once: a duplicate fails and rolls back its whole batch', () => {
    const store = new RunStore(freshPath());
    try {
      store.saveSamples([row()]);
      assert.throws(() => store.saveSamples([row({ sampleIndex: 5 }), row()]), /UNIQUE constraint failed/);
      assert.deepEqual(store.loadSamples(1).map((s) => s.sampleIndex), [0], 'the batch is one transaction');
      store.saveSamples([row({ kind: 'rationalization' }), row({ round: 2 }), row({ taskId: 't-0' })]);
      assert.equal(store.loadSamples(1).length, 3);
    } finally {
      store.close();
    }
  });

  test('scores of all three statuses round-trip with verifier name and version; rescoring replaces', () => {
    const store = new RunStore(freshPath());
    try {
      const ids = store.saveSamples([0, 1, 2, 3].map((i) => row({ sampleIndex: i })));
      const verifier = { name: 'numeric', version: '1' };
      store.saveScores([
        { sampleId: ids[0], verifier, verification: { status: 'scored', reward: 1, pass: true, feedback: 'correct', extracted: '7' } },
        { sampleId: ids[1], verifier, verification: { status: 'scored', reward: 0.25, pass: false, feedback: 'digit 1 is wrong' } },
        { sampleId: ids[2], verifier: { name: 'judge', version: '2b' }, verification: { status: 'error', error: 'timeout' } },
        { sampleId: ids[3], verifier, verification: { status: 'not-applicable', reason: 'task t-2 has no answer' } },
      ]);
      const scored = store.loadSamples(1);
      assert.deepEqual(scored.map((s) => s.verification), [
        { status: 'scored', reward: 1, pass: true, feedback: 'correct', extracted: '7' },
        { status: 'scored', reward: 0.25, pass: false, feedback: 'digit 1 is wrong' },
        { status: 'error', error: 'timeout' },
        { status: 'not-applicable', reason: 'task t-2 has no answer' },
      ]);
      assert.deepEqual(scored.map((s) => s.verifier), [verifier, verifier, { name: 'judge', version: '2b' }, verifier]);
      store.saveScores([{ sampleId: ids[2], verifier, verification: { status: 'scored', reward: 0, pass: false, feedback: 'empty' } }]);
      assert.deepEqual(store.samplesById([ids[2]])[0].verification, { status: 'scored', reward: 0, pass: false, feedback: 'empty' });
    } finally {
      store.close();
    }
  });

  test('accepted ids by round range; resaving a round replaces only that round', () => {
    const store = new RunStore(freshPath());
    try {
      const ids = store.saveSamples([1, 2, 3].flatMap((round) => [0, 1].map((i) => row({ round, sampleIndex: i }))));
      store.saveAccepted(1, [{ sampleId: ids[1], reason: 'verified' }, { sampleId: ids[0], reason: 'verified' }]);
      store.saveAccepted(2, [{ sampleId: ids[2], reason: 'verified reflection' }]);
      store.saveAccepted(3, [{ sampleId: ids[5], reason: 'majority 75%' }]);
      assert.deepEqual(store.acceptedIds(1, 1), [ids[0], ids[1]]);
      assert.deepEqual(store.acceptedIds(1, 3), [ids[0], ids[1], ids[2], ids[5]]);
      assert.deepEqual(store.acceptedIds(2, 3), [ids[2], ids[5]]);
      assert.deepEqual(store.acceptedIds(4, 9), []);
      store.saveAccepted(1, [{ sampleId: ids[1], reason: 'verified' }]);
      assert.deepEqual(store.acceptedIds(1, 3), [ids[1], ids[2], ids[5]]);
    } finally {
      store.close();
    }
  });

  test('everything written is there after closing and reopening the file', () => {
    const path = freshPath();
    const first = new RunStore(path);
    const ids = first.saveSamples([row(), row({ sampleIndex: 1, completion: '8', tokens: [56], logprobs: [-0.5] })]);
    first.saveTasks(1, 'train', tasks);
    first.saveScores([{ sampleId: ids[1], verifier: { name: 'numeric', version: '1' }, verification: { status: 'scored', reward: 0, pass: false, feedback: 'digit 1 is wrong', extracted: '8' } }]);
    first.saveAccepted(1, [{ sampleId: ids[0], reason: 'verified' }]);
    first.saveMetrics(1, { 'reward/mean': 0.5, 'eval/accuracy': 0.25, 'bad/nan': Number.NaN, 'bad/inf': Infinity });
    first.saveMetrics(1, { 'reward/mean': 0.75 });
    first.saveCheckpoint(0, join(dir, 'checkpoints', 'round-0'), 'sft');
    first.saveCheckpoint(1, join(dir, 'checkpoints', 'round-1'), 'round-1');
    first.setMeta('recipe', '{"name":"x"}');
    first.setMeta('recipe', '{"name":"y"}');
    first.markPhase(1, 'tasks', 1.5);
    first.markPhase(1, 'sample', 20);
    const before = { samples: first.loadSamples(1), tasks: first.loadTasks(1, 'train') };
    first.close();

    const store = new RunStore(path);
    try {
      assert.deepEqual(store.loadSamples(1), before.samples);
      assert.deepEqual(store.loadTasks(1, 'train'), before.tasks);
      assert.deepEqual(store.samplesById([ids[1]])[0].verification, { status: 'scored', reward: 0, pass: false, feedback: 'digit 1 is wrong', extracted: '8' });
      assert.deepEqual(store.acceptedIds(1, 1), [ids[0]]);
      assert.deepEqual(store.metrics(1), { 'eval/accuracy': 0.25, 'reward/mean': 0.75 }, 'non-finite values are not stored; a rewrite replaces');
      assert.deepEqual(store.metrics(2), {});
      assert.deepEqual(store.checkpoint(0), { path: join(dir, 'checkpoints', 'round-0'), policyVersion: 'sft' });
      assert.deepEqual(store.checkpoint(1), { path: join(dir, 'checkpoints', 'round-1'), policyVersion: 'round-1' });
      assert.equal(store.checkpoint(2), undefined);
      assert.equal(store.getMeta('recipe'), '{"name":"y"}');
      assert.equal(store.getMeta('missing'), undefined);
      assert.equal(store.phaseDone(1, 'sample'), true);
      assert.equal(store.phaseDone(1, 'score'), false);
      assert.equal(store.phaseDone(2, 'tasks'), false);
      assert.deepEqual(store.phaseTimings(1), { tasks: 1.5, sample: 20 });
      store.markPhase(1, 'sample', 30);
      assert.deepEqual(store.phaseTimings(1), { tasks: 1.5, sample: 30 }, 'marking again replaces the time');
    } finally {
      store.close();
    }
  });
});

describe('run store: tied to its directory, and only ever ours', () => {
  const raw = (path: string) => new Database(path);
  const folder = (name: string) => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    return path;
  };

  test('checkpoint paths are kept relative to the run directory: a moved or copied store reads the checkpoints next to it', () => {
    const original = folder('relative-original');
    const store = new RunStore(join(original, 'run.sqlite'));
    store.saveCheckpoint(0, join(original, 'checkpoints', 'round-0'), 'sft');
    store.saveCheckpoint(1, join(original, 'checkpoints', 'round-1'), 'round-1');
    store.close();
    const db = raw(join(original, 'run.sqlite'));
    assert.deepEqual(db.prepare('SELECT round, path FROM checkpoints ORDER BY round').all(), [{ round: 0, path: 'checkpoints/round-0' }, { round: 1, path: 'checkpoints/round-1' }]);
    db.close();
    const copy = folder('relative-copy');
    copyFileSync(join(original, 'run.sqlite'), join(copy, 'run.sqlite'));
    for (const options of [{}, { readonly: true }]) {
      const copied = new RunStore(join(copy, 'run.sqlite'), options);
      try {
        assert.deepEqual(copied.checkpoint(1), { path: join(copy, 'checkpoints', 'round-1'), policyVersion: 'round-1' });
        assert.equal(copied.checkpoint(0)!.path, join(copy, 'checkpoints', 'round-0'));
      } finally {
        copied.close();
      }
    }
  });

  test('an old store with absolute paths is migrated on open: its own checkpoints/round-N wherever the run is now; a recipe\'s starting checkpoint keeps its path', () => {
    const legacy = (name: string, recipe: object) => {
      const path = join(folder(name), 'run.sqlite');
      new RunStore(path).close();
      const db = raw(path);
      db.exec("DELETE FROM meta WHERE key IN ('store_format', 'store_version', 'run_id')"); // as a store written before identities
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('recipe', JSON.stringify(recipe));
      const insert = db.prepare('INSERT INTO checkpoints (round, path, policy_version) VALUES (?, ?, ?)');
      insert.run(0, '/data/start/checkpoints/round-0', 'base');
      insert.run(1, '/home/someone/runs/orig/checkpoints/round-1', 'round-1');
      db.close();
      return path;
    };
    const fromScratch = legacy('legacy-scratch', { name: 'x', model: {} });
    const readonly = new RunStore(fromScratch, { readonly: true });
    assert.equal(readonly.checkpoint(1)!.path, join(dir, 'legacy-scratch', 'checkpoints', 'round-1'), 'read-only: mapped, not written');
    assert.equal(readonly.runId, undefined);
    readonly.close();
    const store = new RunStore(fromScratch);
    assert.equal(store.checkpoint(0)!.path, join(dir, 'legacy-scratch', 'checkpoints', 'round-0'));
    assert.equal(store.checkpoint(1)!.path, join(dir, 'legacy-scratch', 'checkpoints', 'round-1'));
    assert.match(store.runId ?? '', /^[0-9a-f-]{36}$/, 'an old store gets a run id');
    store.close();
    const db = raw(fromScratch);
    assert.deepEqual((db.prepare('SELECT path FROM checkpoints ORDER BY round').all() as { path: string }[]).map((r) => r.path), ['checkpoints/round-0', 'checkpoints/round-1']);
    db.close();

    const fromCheckpoint = new RunStore(legacy('legacy-start', { name: 'x', model: { checkpoint: '../start/checkpoints/round-0' } }));
    try {
      assert.equal(fromCheckpoint.checkpoint(0)!.path, '/data/start/checkpoints/round-0', 'the recipe\'s starting checkpoint is not this run\'s');
      assert.equal(fromCheckpoint.checkpoint(1)!.path, join(dir, 'legacy-start', 'checkpoints', 'round-1'));
    } finally {
      fromCheckpoint.close();
    }
  });

  test('a checkpoint outside the run directory belongs to another run: refused when saved and when read (round 0, the starting checkpoint, excepted)', () => {
    const runDir = folder('outside');
    const store = new RunStore(join(runDir, 'run.sqlite'));
    try {
      store.saveCheckpoint(0, '/models/base', 'base');
      assert.equal(store.checkpoint(0)!.path, '/models/base');
      assert.throws(() => store.saveCheckpoint(1, join(dir, 'elsewhere', 'checkpoints', 'round-1'), 'round-1'), (error: Error) => error instanceof RunStoreError && /round 1's checkpoint .* is outside the run directory/.test(error.message));
    } finally {
      store.close();
    }
    const db = raw(join(runDir, 'run.sqlite'));
    db.prepare('INSERT INTO checkpoints (round, path, policy_version) VALUES (?, ?, ?)').run(2, '/other/run/weights', 'round-2');
    db.prepare('INSERT INTO checkpoints (round, path, policy_version) VALUES (?, ?, ?)').run(3, '../other/checkpoints/round-3', 'round-3');
    db.close();
    const reopened = new RunStore(join(runDir, 'run.sqlite'));
    try {
      assert.throws(() => reopened.checkpoint(2), (error: Error) => error instanceof RunStoreError && error.message.includes('/other/run/weights, outside this run directory'));
      assert.throws(() => reopened.checkpoint(3), /outside this run directory/);
    } finally {
      reopened.close();
    }
  });

  test('another program\'s SQLite file is refused before anything is written to it', () => {
    const path = join(folder('foreign'), 'run.sqlite');
    const db = raw(path);
    db.exec("CREATE TABLE thesis (chapter INTEGER, text TEXT); INSERT INTO thesis VALUES (1, 'intro')");
    db.close();
    const before = readFileSync(path);
    for (const options of [{}, { readonly: true }]) {
      assert.throws(
        () => new RunStore(path, options),
        (error: Error) => error instanceof RunStoreError && error.message === `${path}: is a SQLite database of another program (tables: thesis), not an autodidact run store; it was left untouched: move it away, or pass a run directory that \`autodidact run --out\` wrote`,
      );
    }
    assert.deepEqual(readFileSync(path), before, 'the file is byte for byte what it was');
    assert.ok(!existsSync(`${path}-wal`), 'not even switched to WAL');
  });

  test('a garbage or truncated file is an error naming it and what SQLite found, not a stack trace', () => {
    const garbage = join(folder('garbage'), 'run.sqlite');
    writeFileSync(garbage, 'this is not a database\n'.repeat(200));
    assert.throws(() => new RunStore(garbage), (error: Error) => error instanceof RunStoreError && error.message.startsWith(`${garbage}: cannot be read as a run store (file is not a database)`));
    const truncated = join(folder('truncated'), 'run.sqlite');
    const store = new RunStore(truncated);
    store.saveSamples(Array.from({ length: 300 }, (_, i) => row({ sampleIndex: i, completion: 'x'.repeat(200) })));
    store.close();
    truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
    assert.throws(() => new RunStore(truncated, { readonly: true }), (error: Error) => error instanceof RunStoreError && error.message.startsWith(`${truncated}: cannot be read as a run store (database disk image is malformed)`));
  });

  test('read-only: a missing store is refused and nothing is created', () => {
    const path = join(folder('readonly-missing'), 'run.sqlite');
    assert.throws(() => new RunStore(path, { readonly: true }), RunStoreError);
    assert.ok(!existsSync(path));
  });
});
