/**
 * Store version 3: the finished steps of step-wise rounds as rows (a step's
 * row and its metrics in one transaction, the last step's state kept), and
 * the migration of a version-2 store, whose `rl/N` / `selfplay/N` meta JSON
 * becomes step rows so a round killed under version 2 resumes mid-round; a
 * version-2 store opened read-only is read as it is, and not changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { RunStoreError } from '../../src/errors.js';
import { RunStore } from '../../src/store/run-store.js';
import { STORE_VERSION } from '../../src/store/store-file.js';
import { savedRoundState } from '../../src/run/policy-gradient-steps.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-steps-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `run-${files++}.sqlite`);

/** The tables as autodidact wrote them at store version 2 (verbatim). */
const VERSION_2_SCHEMA = `
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
  UNIQUE (round, kind, task_id, step, sample_index));
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
`;

/** A version-2 round state: what the policy-gradient method kept in meta `rl/N` after each finished step. */
const halfRound = {
  steps: 2,
  cursor: 32,
  metrics: [
    { 'reward/batch_mean': 0.25, 'sampling/completions': 128, 'advantage/std': null, 'timing_ms/sample': 12.5 },
    { 'reward/batch_mean': 0.5, 'sampling/completions': 128, 'advantage/std': 0.75, 'timing_ms/sample': 10 },
  ],
  absAdvantages: { 't-1': { sum: 1.5, count: 3 }, 't-2': { sum: 0.1 + 0.2, count: 2 } },
};
const buffers = { deduction: [{ program: 'x+1', input: '2', output: '3' }], abduction: [], induction: [] };

/** Writes a version-2 store: an `rl/1` round killed after 2 of its steps, a finished self-play state, and a SCoRe episode (sample + correction). */
function version2Store(path: string, overrides: Record<string, string> = {}): void {
  const db = new Database(path);
  try {
    db.exec(VERSION_2_SCHEMA);
    const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    const values: Record<string, string> = { store_format: 'autodidact-run-store', store_version: '2', run_id: 'run-v2', 'rl/1': JSON.stringify(halfRound), 'selfplay/2': JSON.stringify({ steps: 1, buffers, metrics: [{ 'buffer/added': 4 }] }), ...overrides };
    for (const [key, value] of Object.entries(values)) meta.run(key, value);
    const sample = db.prepare(`INSERT INTO samples (round, kind, task_id, sample_index, parent_id, prompt, completion, tokens, logprobs, finish_reason, policy_version, sampler, step)
      VALUES (?, ?, 't-1', 0, ?, ?, ?, ?, ?, 'stop', 'sft', '{}', 1)`);
    const blob = (values: number[], Type: Int32ArrayConstructor | Float32ArrayConstructor) => Buffer.from(Type.from(values).buffer);
    const first = Number(sample.run(1, 'sample', null, '1+1=', '3', blob([51], Int32Array), blob([-1], Float32Array)).lastInsertRowid);
    sample.run(1, 'correction', first, '1+1=3!', '2', blob([50], Int32Array), blob([-0.5], Float32Array));
  } finally {
    db.close();
  }
}

const tables = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return {
      version: (db.prepare("SELECT value FROM meta WHERE key = 'store_version'").get() as { value: string }).value,
      stepKeys: (db.prepare("SELECT key FROM meta WHERE key LIKE 'rl/%' OR key LIKE 'selfplay/%' ORDER BY key").all() as { key: string }[]).map((r) => r.key),
      names: (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name),
    };
  } finally {
    db.close();
  }
};

describe('finished steps', () => {
  test('a step\'s state and metrics come back in step order; only the last step keeps its state; non-finite metrics are left out', () => {
    const path = freshPath();
    const store = new RunStore(path);
    try {
      assert.deepEqual(store.finishedSteps(1, 'rl'), { steps: 0, state: undefined, metrics: [] });
      store.saveStep(1, 'rl', 0, { state: { cursor: 16 }, metrics: { 'reward/batch_mean': 0.5, 'advantage/std': Number.NaN, 'timing_ms/sample': 3 } });
      store.saveStep(1, 'rl', 1, { state: { cursor: 32 }, metrics: { 'reward/batch_mean': 0.75 } });
      store.saveStep(1, 'selfplay', 0, { state: { buffers: [1] }, metrics: { 'buffer/added': 2 } });
      store.saveStep(2, 'rl', 0, { state: { cursor: 8 }, metrics: {} });
      const steps = store.loadSteps<{ cursor: number }>(1, 'rl');
      assert.deepEqual(steps.map((s) => [s.step, s.state, s.metrics]), [
        [0, null, { 'reward/batch_mean': 0.5, 'timing_ms/sample': 3 }],
        [1, { cursor: 32 }, { 'reward/batch_mean': 0.75 }],
      ]);
      assert.ok(steps.every((s) => typeof s.finishedAt === 'string' && !Number.isNaN(Date.parse(s.finishedAt))));
      assert.deepEqual(store.finishedSteps(1, 'rl'), { steps: 2, state: { cursor: 32 }, metrics: [{ 'reward/batch_mean': 0.5, 'timing_ms/sample': 3 }, { 'reward/batch_mean': 0.75 }] });
      assert.deepEqual(store.stepMetrics(1, 'selfplay'), [{ 'buffer/added': 2 }]);
      assert.deepEqual(store.finishedSteps(2, 'rl').state, { cursor: 8 });
    } finally {
      store.close();
    }
    const reopened = new RunStore(path, { readonly: true });
    try {
      assert.equal(reopened.finishedSteps(1, 'rl').steps, 2, 'there after reopening');
    } finally {
      reopened.close();
    }
  });

  test('a step is saved whole or not at all, and in order', () => {
    const store = new RunStore(freshPath());
    try {
      store.saveStep(1, 'rl', 0, { state: { cursor: 4 }, metrics: { a: 1 } });
      // A failure while its metrics are written (here a metric that throws when read) leaves neither its row nor the previous step's state cleared.
      const failing = Object.defineProperty({ b: 2 }, 'c', { enumerable: true, get: () => { throw new Error('metric unreadable'); } }) as Record<string, number>;
      assert.throws(() => store.saveStep(1, 'rl', 1, { state: { cursor: 8 }, metrics: failing }), /metric unreadable/);
      assert.deepEqual(store.finishedSteps(1, 'rl'), { steps: 1, state: { cursor: 4 }, metrics: [{ a: 1 }] });
      assert.throws(() => store.saveStep(1, 'rl', 2, { state: {}, metrics: {} }), (error: Error) => error instanceof RunStoreError && /step 2 of round 1's rl phase is saved with 1 of the steps before it stored/.test(error.message));
      store.saveStep(1, 'rl', 1, { state: { cursor: 8 }, metrics: { a: 2 } });
      assert.equal(store.finishedSteps(1, 'rl').steps, 2);
    } finally {
      store.close();
    }
  });
});

describe('a version-2 store', () => {
  test('opened read-only (export), it reads as it is: samples without the new columns, steps from its meta JSON; the file is not changed', () => {
    const path = freshPath();
    version2Store(path);
    const before = readFileSync(path);
    const store = new RunStore(path, { readonly: true });
    try {
      const samples = store.loadSamples(1);
      assert.deepEqual(samples.map((s) => [s.kind, s.turn, s.behaviourLogprobs, s.observationTokens, s.tokens, s.logprobs]), [['sample', 0, undefined, undefined, [51], [-1]], ['correction', 0, undefined, undefined, [50], [-0.5]]]);
      const steps = store.finishedSteps(1, 'rl');
      assert.equal(steps.steps, 2);
      assert.deepEqual(steps.metrics[0], { 'reward/batch_mean': 0.25, 'sampling/completions': 128, 'timing_ms/sample': 12.5 }, 'the NaN that JSON made null is left out');
      assert.deepEqual(steps.state, { cursor: 32, absAdvantages: halfRound.absAdvantages });
      assert.deepEqual(store.finishedSteps(2, 'selfplay').state, { buffers });
      assert.deepEqual(store.finishedSteps(3, 'rl'), { steps: 0, state: undefined, metrics: [] });
    } finally {
      store.close();
    }
    assert.ok(readFileSync(path).equals(before), 'a read-only open writes nothing');
    assert.equal(tables(path).version, '2');
  });

  test('opened for writing, it is migrated to version 3: its rl/N and selfplay/N meta become step rows (the meta keys go), and a half-finished round resumes where it stopped', () => {
    const path = freshPath();
    version2Store(path);
    const readOnly = new RunStore(path, { readonly: true });
    const seenBefore = { rl: readOnly.loadSteps(1, 'rl'), selfplay: readOnly.loadSteps(2, 'selfplay') };
    readOnly.close();
    const store = new RunStore(path);
    try {
      assert.equal(store.runId, 'run-v2');
      const migrated = tables(path);
      assert.equal(migrated.version, String(STORE_VERSION));
      assert.equal(STORE_VERSION, 3);
      assert.deepEqual(migrated.stepKeys, [], 'the meta JSON is gone');
      assert.ok(migrated.names.includes('steps') && migrated.names.includes('step_metrics'));
      assert.deepEqual(store.loadSteps(1, 'rl'), seenBefore.rl, 'the same steps as read from the version-2 meta');
      assert.deepEqual(store.loadSteps(2, 'selfplay'), seenBefore.selfplay);
      // What the policy-gradient method resumes from: step 2 of round 1, at cursor 32, with the two steps' metrics and the |advantage| sums.
      const state = savedRoundState(store, 1);
      assert.deepEqual(state, {
        steps: 2,
        cursor: 32,
        metrics: [
          { 'reward/batch_mean': 0.25, 'sampling/completions': 128, 'timing_ms/sample': 12.5 },
          { 'reward/batch_mean': 0.5, 'sampling/completions': 128, 'advantage/std': 0.75, 'timing_ms/sample': 10 },
        ],
        absAdvantages: halfRound.absAdvantages,
      });
      assert.equal(state.absAdvantages!['t-2'].sum, 0.1 + 0.2, 'bit for bit');
      // The correction row of the version-2 SCoRe episode gets its turn; its observation tokens were never stored.
      assert.deepEqual(store.loadSamples(1).map((s) => [s.kind, s.turn, s.observationTokens]), [['sample', 0, undefined], ['correction', 1, undefined]]);
      // The round goes on from there.
      store.saveStep(1, 'rl', 2, { state: { cursor: 48, absAdvantages: {} }, metrics: { 'reward/batch_mean': 0.75 } });
      assert.equal(store.finishedSteps(1, 'rl').steps, 3);
      assert.deepEqual(store.loadSteps(1, 'rl').map((s) => s.state === null), [true, true, false]);
    } finally {
      store.close();
    }
    const again = new RunStore(path);
    try {
      assert.equal(again.finishedSteps(1, 'rl').steps, 3, 'reopening a version-3 store migrates nothing again');
    } finally {
      again.close();
    }
  });

  test('a damaged round state is refused with the key and what to do, and the store is left at version 2 as it was', () => {
    const path = freshPath();
    version2Store(path, { 'rl/3': '{"steps": 2, "cursor": ' });
    assert.throws(() => new RunStore(path), (error: Error) => error instanceof RunStoreError && error.message.startsWith(`${path}: meta rl/3 (a round's state, as stores of version 2 kept it) is not valid JSON`) && /rerun with --fresh/.test(error.message));
    const after = tables(path);
    assert.equal(after.version, '2');
    assert.deepEqual(after.stepKeys, ['rl/1', 'rl/3', 'selfplay/2']);
    assert.ok(!after.names.includes('steps'), 'the migration was rolled back whole');
  });
});
