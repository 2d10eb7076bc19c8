/**
 * Dataset exports of a real (mock-backend) run: every format's rows and
 * provenance, the DPO pairing rule, the verl Parquet read back with hyparquet,
 * majority-vote rounds, each error, the CLI; and the real consumers (datasets,
 * pyarrow, TRL SFT and DPO steps on a transformers-opened checkpoint) when
 * AUTODIDACT_PYTHON names a Python that has them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { EngineCore } from '../../src/engine/engine.js';
import Database from 'better-sqlite3';
import { InvalidArgumentError, RunStoreError } from '../../src/errors.js';
import { exportDataset, sidecarPath, type DpoRow, type Provenance, type SftRow } from '../../src/export/datasets.js';
import { recipeControllers } from '../../src/run/plan.js';
import { sftDatum } from '../../src/learn/steps.js';
import { defaultMonitors } from '../../src/monitors/monitors.js';
import { policyReflector } from '../../src/rollout/reflect.js';
import { runLoop } from '../../src/run/loop.js';
import { seedFor } from '../../src/run/seeds.js';
import { familySource } from '../../src/tasks/sources.js';
import { validateRecipe } from '../../src/recipe/load.js';
import type { Task } from '../../src/spec/task.js';
import { RunStore, type StoredSample } from '../../src/store/run-store.js';
import { additionFamily } from '../../src/tasks/addition.js';
import { MockBackend, tokenizer, type Answerer } from '../loop/mock-backend.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-export-'));
after(() => rmSync(root, { recursive: true, force: true }));

const recipeFields = {
  name: 'export-mock',
  seed: 3,
  rounds: 2,
  tasks: { family: 'addition', perRound: 8 },
  warmup: { count: 6, difficulties: [1], steps: 2, batchSize: 4 },
  curriculum: { kind: 'fixed', difficulty: 2 },
  sample: { n: 4, temperature: 0.7, maxTokens: 8, stop: [';'], chunk: 3 },
  accept: { capPerTask: 2 },
  reflect: { enabled: true },
  train: { steps: 2, batchSize: 64, includeLabeled: false },
  eval: { count: 4, n: 2, k: [1, 2] },
};

/**
 * Own samples by a % 3: 0 → all right (no failing peer: unpaired); 1 → all
 * wrong when b is odd (a reflection fixes them), else right at index 0 and
 * wrong otherwise; 2 → right, right with a leading zero, then two wrong
 * answers: the same one twice when b is even (two accepted, one distinct
 * failure: the pairing cycles), two different ones when b is odd.
 */
const answer: Answerer = ({ kind, a, b, sum, index }) => {
  if (kind !== 'sample') return String(sum);
  if (a % 3 === 0) return String(sum);
  if (a % 3 === 1) return b % 2 ? String(sum + 1) : String(index === 0 ? sum : sum + index);
  return [String(sum), `0${sum}`, String(sum + 1), String(b % 2 ? sum + 2 : sum + 1)][index];
};

/** Runs the recipe on the mock backend into `dir` (the store records the recipe, as openRun does). */
async function mockRun(dir: string): Promise<void> {
  const recipe = validateRecipe(recipeFields);
  const family = additionFamily({ format: 'plain' });
  mkdirSync(dir, { recursive: true });
  const store = new RunStore(join(dir, 'run.sqlite'));
  store.setMeta('recipe', JSON.stringify(recipe));
  const backend = new MockBackend(answer);
  const policy = { name: 'mock', sample: backend.sample.bind(backend) };
  try {
    await runLoop({
      recipe,
      backend,
      tokenizer,
      source: familySource(family),
      verifier: family.verifier,
      controllers: recipeControllers(recipe),
      reflector: policyReflector(policy, { template: recipe.reflect.template, sampling: { temperature: recipe.reflect.temperature, topP: 1, maxTokens: 8, stop: [';'] } }),
      monitors: defaultMonitors,
      store,
      runDir: dir,
    });
  } finally {
    store.close();
  }
}

const readJsonLines = <T>(path: string): T[] => readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as T);

/** What the store says about a round: tasks, samples, accepted set. */
function roundFacts(dir: string, round: number) {
  const store = new RunStore(join(dir, 'run.sqlite'));
  try {
    const tasks = new Map((store.loadTasks(round, 'train') ?? []).map((t) => [t.id, t]));
    const samples = store.loadSamples(round);
    const accepted = store.acceptedSet(round);
    return { tasks, samples, accepted, byId: new Map(samples.map((s) => [s.id, s])) };
  } finally {
    store.close();
  }
}

const passes = (s: StoredSample) => s.verification?.status === 'scored' && s.verification.pass;
const fails = (s: StoredSample) => s.verification?.status === 'scored' && !s.verification.pass;

/** The provenance of a sample as the export should write it, from the store's own records. */
function expectedProvenance(dir: string, round: number, task: Task, sample: StoredSample, reason: string): Provenance {
  const { n, temperature, topP, maxTokens, seed, stop, ...rest } = sample.sampler as Record<string, unknown>;
  const extraKeys = Object.keys(rest).sort();
  return {
    run: 'export-mock',
    run_dir: dir,
    round,
    task_id: task.id,
    family: task.family,
    difficulty: task.difficulty ?? null,
    sample_id: sample.id,
    sample_kind: sample.kind,
    policy_version: sample.policyVersion,
    sampler: { n: n as number, temperature: temperature as number, top_p: topP as number, max_tokens: maxTokens as number, seed: seed as number, stop: stop as string[], extra: extraKeys.length ? JSON.stringify(Object.fromEntries(extraKeys.map((k) => [k, rest[k]]))) : null },
    verifier: 'numeric',
    verifier_version: '1',
    reward: 1,
    pass: true,
    accept_reason: reason,
  };
}

describe('dataset exports', () => {
  const dir = join(root, 'run');
  before(() => mockRun(dir));

  test('trl-sft: one row per accepted sample (default: the last round), the trained prompt and completion, full provenance', () => {
    const summary = exportDataset(dir, { format: 'trl-sft' });
    assert.equal(summary.round, 2);
    assert.equal(summary.path, join(dir, 'exports', 'round-2.trl-sft.jsonl'));
    const { tasks, accepted, byId } = roundFacts(dir, 2);
    const rows = readJsonLines<SftRow>(summary.path);
    assert.equal(rows.length, accepted.length);
    assert.equal(summary.rows, rows.length);
    rows.forEach((row, i) => {
      const sample = byId.get(accepted[i].sampleId)!;
      const task = tasks.get(sample.taskId)!;
      assert.equal(row.prompt, task.prompt, 'the task prompt, not a reflection prompt');
      assert.equal(row.completion, `${sample.completion};`, 'the stop string the sampler cut is put back');
      assert.deepEqual(row.provenance, expectedProvenance(dir, 2, task, sample, accepted[i].reason));
      assert.equal(row.provenance.policy_version, 'round-1');
    });
    const own = rows.find((r) => r.provenance.sample_kind === 'sample')!;
    const chunk = Math.floor([...tasks.keys()].indexOf(own.provenance.task_id) / 3);
    assert.deepEqual(own.provenance.sampler, { n: 4, temperature: 0.7, top_p: 1, max_tokens: 8, seed: seedFor(3, 'sample', 2, chunk), stop: [';'], extra: null });
    const revised = rows.filter((r) => r.provenance.sample_kind === 'reflection');
    assert.ok(revised.length > 0, 'the run has accepted reflections');
    for (const r of revised) {
      assert.equal(r.provenance.accept_reason, 'verified reflection');
      assert.match(r.provenance.sampler.extra ?? '', /"reflector"/);
    }
    // Round 1 on request.
    const first = exportDataset(dir, { format: 'trl-sft', round: 1, out: join(root, 'r1.jsonl') });
    assert.equal(first.round, 1);
    assert.ok(readJsonLines<SftRow>(join(root, 'r1.jsonl')).every((r) => r.provenance.round === 1 && r.provenance.policy_version === 'sft'));
  });

  test('trl-dpo: each accepted sample against a failing sample of its task, handed out in turn; tasks without one are counted, not paired', () => {
    for (const round of [1, 2]) {
      const out = join(root, `dpo-${round}.jsonl`);
      const summary = exportDataset(dir, { format: 'trl-dpo', round, out });
      const { tasks, samples, accepted, byId } = roundFacts(dir, round);
      const rows = readJsonLines<DpoRow>(out);
      // The documented rule, derived independently from the store.
      const expected: { chosen: number; rejected: number }[] = [];
      let unpaired = 0;
      const taskOrder = [...new Set(accepted.map((a) => byId.get(a.sampleId)!.taskId))];
      for (const taskId of taskOrder) {
        const chosen = accepted.filter((a) => byId.get(a.sampleId)!.taskId === taskId).map((a) => a.sampleId);
        const seen = new Set<string>();
        const failing = samples.filter((s) => s.taskId === taskId && fails(s) && !seen.has(s.completion) && seen.add(s.completion));
        if (failing.length === 0) unpaired += chosen.length;
        else chosen.forEach((id, i) => expected.push({ chosen: id, rejected: failing[i % failing.length].id }));
      }
      assert.deepEqual(rows.map((r) => ({ chosen: r.provenance.sample_id, rejected: r.provenance.rejected.sample_id })), expected);
      assert.equal(summary.unpaired, unpaired);
      assert.ok(unpaired > 0, 'some task had no failing sample');
      for (const row of rows) {
        const chosen = byId.get(row.provenance.sample_id)!;
        const rejected = byId.get(row.provenance.rejected.sample_id)!;
        assert.equal(chosen.taskId, rejected.taskId);
        assert.ok(passes(chosen) && fails(rejected));
        assert.equal(row.prompt, tasks.get(chosen.taskId)!.prompt);
        assert.deepEqual([row.chosen, row.rejected], [`${chosen.completion};`, `${rejected.completion};`], 'both sides formatted alike');
        assert.deepEqual([row.provenance.rejected.reward, row.provenance.rejected.pass, row.provenance.rejected.verifier], [0, false, 'numeric']);
      }
      // Both shapes occur: a task whose two accepted samples meet its one distinct failure (the pairing cycles), and one whose two meet two.
      const rejectedOf = new Map<string, number[]>();
      for (const row of rows) rejectedOf.set(row.provenance.task_id, [...(rejectedOf.get(row.provenance.task_id) ?? []), row.provenance.rejected.sample_id]);
      const shapes = [...rejectedOf.values()].filter((ids) => ids.length === 2).map((ids) => new Set(ids).size);
      assert.ok(shapes.includes(1) && shapes.includes(2), `round ${round}: pair shapes ${JSON.stringify(shapes)}`);
      // Deterministic: the same bytes again.
      const before = readFileSync(out);
      exportDataset(dir, { format: 'trl-dpo', round, out });
      assert.deepEqual(readFileSync(out), before);
    }
  });

  test('openai-chat: lines hold only messages (user, assistant); provenance goes to the sidecar, line for line', () => {
    const out = join(root, 'chat.jsonl');
    const summary = exportDataset(dir, { format: 'openai-chat', out });
    assert.equal(summary.provenancePath, join(root, 'chat.provenance.jsonl'));
    assert.equal(sidecarPath(out), summary.provenancePath);
    const sft = readJsonLines<SftRow>(exportDataset(dir, { format: 'trl-sft' }).path);
    const lines = readJsonLines<Record<string, unknown>>(out);
    const provenance = readJsonLines<Provenance & { line: number }>(summary.provenancePath!);
    assert.equal(lines.length, sft.length);
    assert.equal(provenance.length, sft.length);
    lines.forEach((line, i) => {
      assert.deepEqual(line, { messages: [{ role: 'user', content: sft[i].prompt }, { role: 'assistant', content: sft[i].completion }] });
      assert.deepEqual(provenance[i], { line: i, ...sft[i].provenance });
    });
  });

  test('verl-parquet: one row per task, chat-message prompt, ground truth, provenance in extra_info; hyparquet reads the nested columns back', async () => {
    const summary = exportDataset(dir, { format: 'verl-parquet' });
    assert.equal(summary.path, join(dir, 'exports', 'round-2.verl-parquet.parquet'));
    const file = await asyncBufferFromFile(summary.path);
    const metadata = await parquetMetadataAsync(file);
    assert.deepEqual(metadata.key_value_metadata, [{ key: 'autodidact.format', value: 'verl-parquet' }]);
    const rows = (await parquetReadObjects({ file })) as Record<string, any>[];
    assert.deepEqual(Object.keys(rows[0]), ['data_source', 'prompt', 'ability', 'reward_model', 'extra_info']);
    const { tasks, accepted, byId } = roundFacts(dir, 2);
    const acceptedTasks = [...new Set(accepted.map((a) => byId.get(a.sampleId)!.taskId))];
    assert.equal(rows.length, acceptedTasks.length);
    assert.equal(summary.rows, rows.length);
    rows.forEach((row, i) => {
      const task = tasks.get(acceptedTasks[i])!;
      const ids = accepted.filter((a) => byId.get(a.sampleId)!.taskId === task.id).map((a) => a.sampleId);
      assert.equal(row.data_source, 'autodidact/addition-plain');
      assert.deepEqual(row.prompt, [{ role: 'user', content: task.prompt }]);
      assert.equal(row.ability, 'addition-plain');
      assert.deepEqual(row.reward_model, { style: 'rule', ground_truth: task.answer });
      const info = row.extra_info;
      assert.deepEqual([info.split, info.index, info.question, info.ground_truth_source], ['train', BigInt(i), task.prompt, 'task-answer']);
      assert.deepEqual(info.accepted_sample_ids, ids.map(BigInt));
      assert.equal(info.sample_id, BigInt(ids[0]));
      assert.equal(info.answer, `${byId.get(ids[0])!.completion};`);
      const expected = expectedProvenance(dir, 2, task, byId.get(ids[0])!, accepted.find((a) => a.sampleId === ids[0])!.reason);
      assert.deepEqual({ ...info.sampler, seed: Number(info.sampler.seed) }, expected.sampler);
      for (const key of ['run', 'run_dir', 'round', 'task_id', 'family', 'difficulty', 'sample_kind', 'policy_version', 'verifier', 'verifier_version', 'reward', 'pass', 'accept_reason'] as const) assert.deepEqual(info[key], expected[key], key);
    });
  });

  test('majority-vote rounds: the rejected side is an answer the vote lost; verl ground truth is the majority answer', async () => {
    const runDir = join(root, 'majority');
    const recipe = validateRecipe({ ...recipeFields, rounds: 1, accept: { by: 'majority', capPerTask: 1 }, reflect: { enabled: false } });
    const tasks: Task[] = [
      { id: 'u1', family: 'unlabeled', prompt: '3+4=' },
      { id: 'u2', family: 'unlabeled', prompt: '1+2=' },
    ];
    fillStore(runDir, recipe, tasks, [['7', '7', '8', 'x', '8'], ['3', '3', '3']], [{ task: 0, index: 0 }, { task: 1, index: 0 }], 'majority 67%');
    const dpo = exportDataset(runDir, { format: 'trl-dpo', out: join(runDir, 'dpo.jsonl') });
    const rows = readJsonLines<DpoRow>(dpo.path);
    assert.deepEqual(rows.map((r) => [r.prompt, r.chosen, r.rejected]), [['3+4=', '7;', '8;']]);
    assert.deepEqual([rows[0].provenance.reward, rows[0].provenance.pass, rows[0].provenance.accept_reason], [null, null, 'majority 67%']);
    assert.equal(dpo.unpaired, 1, 'u2: every sample agreed, nothing to reject');
    const verl = exportDataset(runDir, { format: 'verl-parquet' });
    const read = (await parquetReadObjects({ file: await asyncBufferFromFile(verl.path) })) as Record<string, any>[];
    assert.deepEqual(read.map((r) => [r.reward_model.ground_truth, r.extra_info.ground_truth_source, r.extra_info.reward, r.extra_info.pass]), [['7', 'majority-vote', null, null], ['3', 'majority-vote', null, null]]);
  });

  test('errors name the field and the fix', () => {
    const expectError = (run: () => unknown, argument: string, pattern: RegExp) =>
      assert.throws(run, (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError, String(error));
        assert.equal(error.argument, argument);
        assert.match(error.message, pattern);
        return true;
      });
    expectError(() => exportDataset(join(root, 'nowhere'), { format: 'trl-sft' }), 'run', /does not exist; pass the run directory/);
    writeFileSync(join(root, 'a-file'), '');
    expectError(() => exportDataset(join(root, 'a-file'), { format: 'trl-sft' }), 'run', /is a file/);
    const checkpoint = join(root, 'checkpoint');
    new EngineCore({ kernels: 'ts', model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 16, seed: 1 } }).save(checkpoint);
    expectError(() => exportDataset(checkpoint, { format: 'trl-sft' }), 'run', /not a run directory: it has no run\.sqlite \(it looks like a checkpoint: only --format gguf reads checkpoints\)/);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    new RunStore(join(empty, 'run.sqlite')).close();
    expectError(() => exportDataset(empty, { format: 'trl-sft' }), 'run', /records no recipe.*run it with `autodidact run/);
    expectError(() => exportDataset(dir, { format: 'trl-sfft' as 'trl-sft' }), '--format', /unknown format "trl-sfft": use one of trl-sft, trl-dpo, openai-chat, verl-parquet/);
    expectError(() => exportDataset(dir, { format: 'trl-sft', round: 0 }), '--round', /round 0 is the warm-up.*rounds with an accepted set: 1, 2/);
    expectError(() => exportDataset(dir, { format: 'trl-sft', round: 9 }), '--round', /round 9 is out of range: the recipe has rounds 1–2; rounds with an accepted set: 1, 2/);

    // A round that stopped before curating, and one whose accepted set is empty.
    const partial = join(root, 'partial');
    const recipe = validateRecipe({ ...recipeFields, rounds: 3 });
    const store = fillStore(partial, recipe, [{ id: 't', family: 'addition-plain', prompt: '1+1=', answer: '2' }], [['3', '2']], [{ task: 0, index: 1 }], 'verified', { keepOpen: true });
    store.saveTasks(2, 'train', [{ id: 't', family: 'addition-plain', prompt: '1+1=', answer: '2' }]);
    store.markPhase(2, 'curate', 1);
    store.saveTasks(3, 'train', [{ id: 't', family: 'addition-plain', prompt: '1+1=', answer: '2' }]);
    store.close();
    expectError(() => exportDataset(partial, { format: 'trl-sft', round: 2 }), '--round', /round 2 accepted no samples \(none passed the verifier\); rounds with an accepted set: 1/);
    expectError(() => exportDataset(partial, { format: 'trl-sft', round: 3 }), '--round', /round 3 has not finished its curate phase.*resume it with `autodidact run`/);
    assert.equal(exportDataset(partial, { format: 'trl-sft' }).round, 1, 'the default skips rounds without an accepted set');

    // RL runs keep no accepted set.
    const rl = join(root, 'rl');
    fillStore(rl, validateRecipe({ ...recipeFields, reflect: { enabled: false }, rl: {}, accept: undefined, train: undefined }), [{ id: 't', family: 'addition-plain', prompt: '1+1=', answer: '2' }], [['2']], [], '');
    expectError(() => exportDataset(rl, { format: 'trl-sft' }), '--round', /no round with an accepted set: its rounds are policy-gradient \(rl\) rounds/);
    expectError(() => exportDataset(rl, { format: 'trl-sft', round: 1 }), '--round', /round 1 has no accepted set: its rounds are policy-gradient/);
  });

  test('--out: an existing directory is refused by name and nothing is left in it; missing directories are created; every format alike', () => {
    const target = join(root, 'out-dir');
    mkdirSync(target);
    for (const format of ['trl-sft', 'trl-dpo', 'openai-chat', 'verl-parquet'] as const) {
      assert.throws(() => exportDataset(dir, { format, out: target }), (error: Error) => error instanceof InvalidArgumentError && error.message === `Invalid argument \`--out\`: ${target} is a directory; --out names the file to write (inside it, say), not the folder`);
      assert.deepEqual(readdirSync(target), [], `${format} left nothing behind`);
      assert.deepEqual(readdirSync(root).filter((name) => name.includes('.tmp-')), [], `${format} left no temporary next to it`);
      const nested = join(root, 'missing', format, 'deeper', 'data.out');
      exportDataset(dir, { format, out: nested });
      assert.ok(existsSync(nested));
    }
  });

  test('another program\'s SQLite file named run.sqlite: refused, read-only, before any table is created in it', () => {
    const foreign = join(root, 'foreign');
    mkdirSync(foreign);
    const path = join(foreign, 'run.sqlite');
    const db = new Database(path);
    db.exec("CREATE TABLE photos (id INTEGER, name TEXT); INSERT INTO photos VALUES (1, 'a')");
    db.close();
    const bytes = readFileSync(path);
    assert.throws(() => exportDataset(foreign, { format: 'trl-sft' }), (error: Error) => error instanceof RunStoreError && error.message.startsWith(`${path}: is a SQLite database of another program (tables: photos)`));
    const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const gguf = spawnSync(process.execPath, [cli, 'export', foreign, '--format', 'gguf', '--out', join(root, 'foreign.gguf')], { encoding: 'utf8' });
    assert.equal(gguf.status, 2);
    assert.match(gguf.stderr, /^autodidact: .*run\.sqlite: is a SQLite database of another program \(tables: photos\)/);
    assert.deepEqual(readFileSync(path), bytes, 'the file is unchanged');
    const check = new Database(path, { readonly: true });
    assert.deepEqual((check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name), ['photos']);
    check.close();
  });

  test('CLI: export --json prints the summary last; --help describes every format; errors exit 2 naming the field', () => {
    const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const run = (args: string[]) => spawnSync(process.execPath, [cli, 'export', ...args], { encoding: 'utf8' });
    const out = join(root, 'cli.jsonl');
    const ok = run([dir, '--format', 'trl-dpo', '--round', '1', '--out', out, '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const summary = JSON.parse(ok.stdout.trim().split('\n').at(-1)!);
    assert.deepEqual([summary.format, summary.round, summary.path, summary.rows], ['trl-dpo', 1, out, readJsonLines(out).length]);
    assert.match(ok.stderr, /wrote \d+ preference pairs of round 1/);
    const help = run(['--help']);
    for (const format of ['trl-sft', 'trl-dpo', 'openai-chat', 'verl-parquet', 'gguf']) assert.match(help.stdout, new RegExp(`^  ${format} +\\S`, 'm'));
    const bad = run([dir, '--format', 'trl-sft', '--round', '7']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /Invalid argument `--round`: round 7 is out of range/);
  });

  test('the real consumers: datasets and pyarrow load every export; one TRL SFT step (text and chat) and one DPO step on the checkpoint opened by transformers', (t) => {
    const python = process.env.AUTODIDACT_PYTHON;
    if (!python) {
      t.skip('AUTODIDACT_PYTHON is not set: point it at a Python with torch, transformers, trl, datasets and pyarrow to run scripts/check_exports.py');
      return;
    }
    const checkpoint = join(root, 'hf-checkpoint');
    new EngineCore({ kernels: 'ts', model: { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 64, seed: 5 } }).save(checkpoint);
    const files = Object.fromEntries((['trl-sft', 'trl-dpo', 'openai-chat', 'verl-parquet'] as const).map((format) => [format, exportDataset(dir, { format }).path]));
    const script = fileURLToPath(new URL('../../../scripts/check_exports.py', import.meta.url));
    const args = [script, '--checkpoint', checkpoint, ...Object.entries(files).flatMap(([format, path]) => [`--${format}`, path])];
    const result = spawnSync(python, args, { encoding: 'utf8', timeout: 600_000, env: { ...process.env, HF_HUB_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' } });
    assert.equal(result.status, 0, `check_exports.py failed:\n${result.stderr.slice(-4000)}`);
    const losses = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    console.log(`  TRL: ${JSON.stringify(losses)}`);
    for (const key of ['sft_loss', 'openai_chat_sft_loss', 'dpo_loss']) assert.ok(Number.isFinite(losses[key]), key);
    // TRL's first-step loss (one batch of every row, completion tokens and EOS) is the engine's own mean NLL on those rows.
    const engine = new EngineCore({ kernels: 'ts', checkpoint });
    const rows = readJsonLines<SftRow>(files['trl-sft']);
    const { logprobs } = engine.forward(rows.map((row) => sftDatum(engine.tokenizer, row.prompt, row.completion)));
    const weighted = rows.flatMap((row, i) => Array.from(logprobs[i]).filter((_, t) => sftDatum(engine.tokenizer, row.prompt, row.completion).weights![t] > 0));
    const ours = -weighted.reduce((a, b) => a + b, 0) / weighted.length;
    console.log(`  engine mean NLL on the trl-sft rows: ${ours}; TRL SFT loss: ${losses.sft_loss}; |diff| ${Math.abs(ours - losses.sft_loss).toExponential(2)}`);
    assert.ok(Math.abs(ours - losses.sft_loss) < 1e-5 * Math.max(1, ours), 'TRL (fp32) and the engine score the same tokens the same');
    assert.ok(Math.abs(losses.dpo_loss - Math.log(2)) < 1e-3, 'first DPO step: policy = reference, loss log 2');
  });
});

/**
 * A run store filled directly with round 1 (tasks, samples, not-applicable or
 * verifier scores, accepted set, curate phase): for majority-vote rounds and
 * error cases the mock loop does not reach.
 */
function fillStore(dir: string, recipe: ReturnType<typeof validateRecipe>, tasks: Task[], completions: string[][], accepted: { task: number; index: number }[], reason: string, options: { keepOpen?: boolean } = {}): RunStore {
  mkdirSync(dir, { recursive: true });
  const store = new RunStore(join(dir, 'run.sqlite'));
  store.setMeta('recipe', JSON.stringify(recipe));
  store.saveTasks(1, 'train', tasks);
  const sampler = { n: 5, temperature: 1, topP: 1, maxTokens: 8, stop: [';'], seed: 11 };
  const ids = store.saveSamples(
    tasks.flatMap((task, t) => completions[t].map((completion, index) => ({ round: 1, kind: 'sample' as const, taskId: task.id, sampleIndex: index, prompt: task.prompt, completion, tokens: tokenizer.encode(completion), logprobs: tokenizer.encode(completion).map(() => -1), finishReason: 'stop' as const, policyVersion: 'sft', sampler }))),
  );
  let k = 0;
  const idOf: number[][] = completions.map((list) => list.map(() => ids[k++]));
  store.saveScores(
    tasks.flatMap((task, t) =>
      completions[t].map((completion, index) => ({
        sampleId: idOf[t][index],
        verifier: { name: 'numeric', version: '1' },
        verification: task.answer === undefined ? { status: 'not-applicable' as const, reason: 'no answer' } : { status: 'scored' as const, reward: completion === task.answer ? 1 : 0, pass: completion === task.answer, feedback: '' },
      })),
    ),
  );
  store.saveAccepted(1, accepted.map((a) => ({ sampleId: idOf[a.task][a.index], reason })));
  if (!recipe.rl) store.markPhase(1, 'curate', 1);
  if (!options.keepOpen) store.close();
  return store;
}
