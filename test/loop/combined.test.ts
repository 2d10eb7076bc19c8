/**
 * recipes/combined.yaml — a policy-gradient update, Reinforce-Ada sampling, the
 * SEC curriculum, the B-STaR controller and Re-ReST reflection in one run — on
 * the embedded model at a tiny scale: every part acts (its metrics), the plans
 * are stored, and a run killed with SIGKILL at a random moment resumes with no
 * finished sample lost, changed or duplicated, ending as an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runToEnd as runCli } from './cli-process.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const recipe = fileURLToPath(new URL('../../../recipes/combined.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'autodidact-combined-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ROUNDS = 2;
const overrides = [
  `rounds=${ROUNDS}`,
  'model.config={dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 160}',
  'tasks.perRound=16',
  'warmup.count=32',
  'warmup.steps=30',
  'warmup.batchSize=16',
  'rl.steps=3',
  'rl.promptsPerStep=4',
  'controllers=[{ kind: b-star, temperatures: [0.7, 1.0, 1.3], thresholds: [1], nStar: 2, probeTasks: 2, probeSamples: 4 }]',
  'eval.count=8',
  'eval.n=2',
  'eval.k=[1, 2]',
];
const env = { ...process.env, AUTODIDACT_THREADS: '1' };
const args = (out: string) => [cli, 'run', recipe, '--out', out, '--json', ...overrides.flatMap((o) => ['--set', o])];

const runToEnd = (out: string) => runCli(args(out), env, out, 300_000);

type Row = { id: number; round: number; step: number; kind: string; task_id: string; sample_index: number; completion: string; tokens: Buffer; policy_version: string };
const ROWS = 'SELECT id, round, step, kind, task_id, sample_index, completion, tokens, policy_version FROM samples ORDER BY round, step, kind, task_id, sample_index';

function read<T>(file: string, query: (db: Database.Database) => T): T | null {
  if (!existsSync(file)) return null;
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    return query(db);
  } catch (error) {
    if (/^SQLITE_/.test((error as { code?: string }).code ?? '')) return null;
    throw error;
  } finally {
    db?.close();
  }
}

/** The samples of finished policy-gradient steps (the round's rl phase done, or the step stored as finished): a resumed run keeps them as they are. */
function finishedSamples(db: Database.Database): Row[] {
  const rows = db.prepare(ROWS).all() as Row[];
  const done = new Set((db.prepare("SELECT round FROM phases WHERE phase = 'rl'").all() as { round: number }[]).map((r) => r.round));
  const steps = new Map((db.prepare("SELECT round, COUNT(*) AS steps FROM steps WHERE phase = 'rl' GROUP BY round").all() as { round: number; steps: number }[]).map((m) => [m.round, m.steps]));
  return rows.filter((r) => r.round === 0 || done.has(r.round) || r.step < (steps.get(r.round) ?? 0));
}

describe('combined recipe: policy gradient + Reinforce-Ada + SEC + B-STaR + Re-ReST', () => {
  const reference = join(dir, 'reference');

  test('every part acts: curriculum, B-STaR, reflection and adaptive-sampling metrics, stored plans', { timeout: 600_000 }, async () => {
    const output = await runToEnd(reference);
    const summary = JSON.parse(output.trim().split('\n').at(-1)!) as { stopped: boolean };
    assert.equal(summary.stopped, false);
    const rows = read(join(reference, 'run.sqlite'), (db) => db.prepare('SELECT key, value FROM metrics WHERE round = 1').all() as { key: string; value: number }[])!;
    const metrics = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    for (const key of ['curriculum/q/d1', 'curriculum/p/d2', 'bstar/temperature', 'bstar/threshold', 'bstar/balance', 'refine/failed', 'refine/reflected', 'refine/revisions', 'sampling/calls', 'sampling/completions', 'policy/grad_norm', 'eval/accuracy']) {
      assert.ok(Number.isFinite(metrics[key]), `round 1 reports ${key}: ${JSON.stringify(Object.keys(metrics).filter((k) => k.startsWith(key.split('/')[0])))}`);
    }
    assert.ok(metrics['refine/reflected'] > 0, 'failed attempts were reflected on');
    assert.ok([0.7, 1, 1.3].includes(metrics['bstar/temperature']), 'B-STaR chose one of its candidates');
    // The sampler used the temperature B-STaR chose, and the SEC bandit's values moved after round 1.
    const plans = read(join(reference, 'run.sqlite'), (db) => db.prepare('SELECT round, plan, states FROM plans ORDER BY round').all() as { round: number; plan: string; states: string }[])!;
    assert.equal(plans.length, ROUNDS);
    const [first, second] = plans.map((p) => ({ plan: JSON.parse(p.plan), states: JSON.parse(p.states) }));
    assert.equal(first.plan.setBy['sampling.temperature'], 'b-star');
    assert.equal(first.plan.setBy.draws, 'sec');
    const temperatures = read(join(reference, 'run.sqlite'), (db) => (db.prepare("SELECT DISTINCT json_extract(sampler, '$.temperature') AS t FROM samples WHERE round = 1 AND kind = 'sample'").all() as { t: number }[]).map((r) => r.t))!;
    assert.deepEqual(temperatures, [first.plan.sampling.temperature]);
    // SEC folded round 1 into its values: Q(c) ← α·r(c) + (1 − α)·Q(c), r(c) the mean |advantage| of round 1's tasks of difficulty c (α = 0.5, Q₀ = 0).
    assert.equal(second.states.sec.through, 1);
    // The last finished step of round 1 holds the round's |advantage| sums per task.
    const rl = read(join(reference, 'run.sqlite'), (db) => JSON.parse((db.prepare("SELECT state FROM steps WHERE round = 1 AND phase = 'rl' ORDER BY step DESC LIMIT 1").get() as { state: string }).state) as { absAdvantages: Record<string, { sum: number; count: number }> })!;
    const tasks = read(join(reference, 'run.sqlite'), (db) => (db.prepare("SELECT id, difficulty FROM tasks WHERE round = 1 AND split = 'train'").all() as { id: string; difficulty: number }[]))!;
    for (const category of ['d1', 'd2', 'd3']) {
      const gains = tasks.filter((t) => `d${t.difficulty}` === category && rl.absAdvantages[t.id]?.count).map((t) => rl.absAdvantages[t.id].sum / rl.absAdvantages[t.id].count);
      if (gains.length === 0) continue; // an arm not drawn keeps its value
      const expected = 0.5 * (gains.reduce((a, b) => a + b, 0) / gains.length);
      assert.ok(Math.abs(second.states.sec.q[category] - expected) < 1e-9, `Q(${category}) = ${second.states.sec.q[category]}, expected ${expected}`);
    }
  });

  test('killed with SIGKILL at a random moment, it resumes with no finished sample lost, changed or duplicated, and ends as the uninterrupted run', { timeout: 900_000 }, async () => {
    const out = join(dir, 'killed');
    const child = spawn(process.execPath, args(out), { env, stdio: ['ignore', 'ignore', 'ignore'] });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const file = join(out, 'run.sqlite');
    // Wait until round 1 has samples, then a random further moment (seeded by the clock: the point is an arbitrary one).
    const deadline = Date.now() + 300_000;
    while ((read(file, (db) => (db.prepare('SELECT COUNT(*) AS n FROM samples WHERE round >= 1').get() as { n: number }).n) ?? 0) === 0) {
      assert.ok(Date.now() < deadline, 'round 1 never sampled');
      await sleep(20);
    }
    const delay = Math.floor(Math.random() * 4000);
    await sleep(delay);
    child.kill('SIGSTOP');
    let before: Row[] | null = null;
    for (let tries = 0; !before && tries < 200; tries++) before = read(file, finishedSamples) ?? (await sleep(5), null);
    child.kill('SIGKILL');
    await exited;
    assert.ok(before, 'the store could be read at the kill');
    console.log(`  killed ${delay} ms after round 1's first sample, with ${before.length} samples of finished steps saved`);

    await runToEnd(out);
    const [resumed, uninterrupted] = [out, reference].map((path) => read(join(path, 'run.sqlite'), (db) => db.prepare(ROWS).all() as Row[])!);
    const byId = new Map(resumed.map((r) => [r.id, r]));
    for (const row of before) assert.deepEqual(byId.get(row.id), row, `sample ${row.id} (round ${row.round} step ${row.step}) is kept unchanged`);
    const keys = resumed.map((r) => `${r.round}/${r.step}/${r.kind}/${r.task_id}/${r.sample_index}`);
    assert.equal(new Set(keys).size, keys.length, 'every (round, step, kind, task, index) once');
    const strip = (rows: Row[]) => rows.map(({ id: _id, ...rest }) => rest);
    assert.deepEqual(strip(resumed), strip(uninterrupted), 'the resumed run stores what the uninterrupted one does');
  });
});
