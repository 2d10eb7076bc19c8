/**
 * The crash test: `autodidact run` is killed with SIGKILL while it samples,
 * then rerun to the end. Nothing saved is lost or changed, nothing is drawn
 * twice, every phase finishes, and the run ends where an uninterrupted one does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runToEnd as runCli } from './cli-process.js';
import { PHASES } from '../../src/run/loop.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'autodidact-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ROUNDS = 3;
const N = 8;
const recipe = join(dir, 'crash.yaml');
writeFileSync(
  recipe,
  `name: crash
seed: 0
rounds: ${ROUNDS}
model:
  config: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 32 }
tasks: { family: addition, options: { format: plain }, perRound: 64 }
warmup: { count: 64, difficulties: [1, 2], steps: 20, batchSize: 16 }
curriculum: { kind: fixed, difficulty: 2 }
sample: { n: ${N}, temperature: 1, maxTokens: 12, stop: [";"], chunk: 8 }
accept: { capPerTask: 2 }
train: { steps: 5, batchSize: 16 }
eval: { count: 16 }
`,
);

const env = { ...process.env, AUTODIDACT_THREADS: '1' };
const args = (out: string) => [cli, 'run', recipe, '--out', out, '--json'];

/** Runs the CLI to its end; rejects with its output when it fails or takes over 120 s. */
const runToEnd = (out: string) => runCli(args(out), env, out, 120_000);

type SampleRecord = { id: number; round: number; kind: string; task_id: string; sample_index: number; completion: string; tokens: Buffer };
type State = { samples: Map<number, number>; done: Set<string> };

/** What the store holds so far (and, on request, its samples); null while it cannot be read yet (no file, no tables, busy). */
function readState(file: string, withSamples = false): (State & { rows: SampleRecord[] }) | null {
  if (!existsSync(file)) return null;
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const counts = db.prepare('SELECT round, COUNT(*) AS n FROM samples GROUP BY round').all() as { round: number; n: number }[];
    const phases = db.prepare('SELECT round, phase FROM phases').all() as { round: number; phase: string }[];
    const rows = withSamples ? (db.prepare('SELECT id, round, kind, task_id, sample_index, completion, tokens FROM samples ORDER BY id').all() as SampleRecord[]) : [];
    return { samples: new Map(counts.map((c) => [c.round, c.n])), done: new Set(phases.map((p) => `${p.round}:${p.phase}`)), rows };
  } catch (error) {
    // The child may be creating the file or its tables, or hold a lock for a moment.
    if (/^SQLITE_/.test((error as { code?: string }).code ?? '')) return null;
    throw error;
  } finally {
    db?.close();
  }
}

/** Where to kill: a round with samples whose sampling is unfinished (best), else one with samples and later phases pending. */
function killPoint(state: State | null): string | null {
  if (!state) return null;
  const rounds = [...state.samples.keys()].sort((a, b) => a - b);
  const sampling = rounds.find((r) => !state.done.has(`${r}:sample`));
  if (sampling !== undefined) return `round ${sampling} mid-sampling (${state.samples.get(sampling)} samples saved)`;
  const pending = rounds.find((r) => !state.done.has(`${r}:monitor`));
  return pending !== undefined ? `round ${pending} sampled, later phases pending` : null;
}

/** Starts a run, kills it with SIGKILL at a kill point, returns what was saved then (null: the run ended before one was seen). */
async function killMidRun(out: string): Promise<{ point: string; samples: SampleRecord[] } | null> {
  const child = spawn(process.execPath, args(out), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let finished = false;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', () => {
      finished = true;
      resolve();
    }),
  );
  const file = join(out, 'run.sqlite');
  const deadline = Date.now() + 120_000;
  try {
    while (!finished) {
      assert.ok(Date.now() < deadline, `no kill point within 120 s; stderr:\n${stderr}`);
      if (killPoint(readState(file))) {
        child.kill('SIGSTOP'); // freeze it, so what is read next is what it holds when killed
        let state = readState(file, true);
        for (let tries = 0; !state && tries < 200; tries++) state = (await sleep(5), readState(file, true));
        const point = killPoint(state);
        child.kill('SIGKILL');
        await exited;
        return point && state ? { point, samples: state.rows } : null;
      }
      await sleep(2);
    }
    return null;
  } finally {
    if (!finished) child.kill('SIGKILL');
  }
}

function openStore(out: string) {
  return new Database(join(out, 'run.sqlite'), { readonly: true, fileMustExist: true });
}

describe('crash and resume', () => {
  test('a run killed with SIGKILL while sampling resumes without losing, changing or redrawing a sample', { timeout: 400_000 }, async () => {
    let out = '';
    let killed: { point: string; samples: SampleRecord[] } | null = null;
    for (let attempt = 1; attempt <= 3 && !killed; attempt++) {
      out = join(dir, `run-${attempt}`);
      killed = await killMidRun(out);
      if (!killed) console.log(`  attempt ${attempt}: the run ended before a kill point was seen; retrying in a fresh directory`);
    }
    assert.ok(killed, 'three runs ended before any kill point');
    console.log(`  killed at ${killed.point} with ${killed.samples.length} samples saved`);
    assert.ok(killed.samples.length > 0);
    // Mark the saved samples where the loop never looks (their sampler settings): a redrawn sample would lose the mark.
    const marker = new Database(join(out, 'run.sqlite'));
    marker.prepare("UPDATE samples SET sampler = json_set(sampler, '$.mark', 'saved before the kill')").run();
    marker.close();

    const output = await runToEnd(out);
    const summary = JSON.parse(output.trim().split('\n').at(-1)!) as { stopped: boolean; rounds: unknown[] };
    assert.deepEqual([summary.stopped, summary.rounds.length], [false, ROUNDS + 1]);

    const db = openStore(out);
    try {
      const byId = db.prepare('SELECT id, round, kind, task_id, sample_index, completion, tokens FROM samples WHERE id = ?');
      for (const before of killed.samples) assert.deepEqual(byId.get(before.id), before, `sample ${before.id} is kept unchanged`);
      const marked = db.prepare("SELECT COUNT(*) AS n FROM samples WHERE json_extract(sampler, '$.mark') = 'saved before the kill'").get() as { n: number };
      assert.equal(marked.n, killed.samples.length, 'no saved sample was drawn again');
      const duplicates = db.prepare('SELECT round, kind, task_id, sample_index, COUNT(*) AS n FROM samples GROUP BY round, kind, task_id, sample_index HAVING n > 1').all();
      assert.deepEqual(duplicates, [], 'every (round, kind, task_id, sample_index) once');
      const done = new Set((db.prepare('SELECT round, phase FROM phases').all() as { round: number; phase: string }[]).map((p) => `${p.round}:${p.phase}`));
      for (const phase of ['warmup', 'evaluate', 'monitor']) assert.ok(done.has(`0:${phase}`), `round 0 ${phase} done`);
      for (let round = 1; round <= ROUNDS; round++) {
        for (const phase of PHASES) assert.ok(done.has(`${round}:${phase}`), `round ${round} ${phase} done`);
        const tasks = (db.prepare("SELECT id FROM tasks WHERE round = ? AND split = 'train' ORDER BY position").all(round) as { id: string }[]).map((t) => t.id);
        assert.equal(tasks.length, 64);
        const perTask = db.prepare("SELECT task_id, COUNT(*) AS n FROM samples WHERE round = ? AND kind = 'sample' GROUP BY task_id").all(round) as { task_id: string; n: number }[];
        assert.deepEqual(perTask.map((t) => t.task_id).sort(), [...tasks].sort(), `round ${round}: samples of exactly its tasks`);
        assert.ok(perTask.every((t) => t.n === N), `round ${round}: ${N} samples for every task`);
      }
    } finally {
      db.close();
    }

    // The same samples as a run that was never killed (every draw is seeded; weights come back from checkpoints exactly).
    const reference = join(dir, 'reference');
    await runToEnd(reference);
    const all = 'SELECT id, round, kind, task_id, sample_index, completion, tokens, policy_version FROM samples ORDER BY id';
    const [resumed, uninterrupted] = [out, reference].map((path) => {
      const store = openStore(path);
      try {
        return store.prepare(all).all();
      } finally {
        store.close();
      }
    });
    assert.deepEqual(resumed, uninterrupted);
  });
});
