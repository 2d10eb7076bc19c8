/** runLoop on a recording mock backend: phases, the store's contents, acceptance, refinement, updates, curricula, resuming. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { recipeControllers } from '../../src/run/plan.js';
import { defaultMonitors } from '../../src/monitors/monitors.js';
import { policyReflector } from '../../src/rollout/reflect.js';
import { PHASES, runLoop, type LoopEvents, type LoopParts } from '../../src/run/loop.js';
import { seedFor } from '../../src/run/seeds.js';
import { familySource } from '../../src/tasks/sources.js';
import { validateRecipe } from '../../src/recipe/load.js';
import type { TaskSource } from '../../src/spec/task-source.js';
import type { Task } from '../../src/spec/task.js';
import type { Policy } from '../../src/spec/policy.js';
import type { Verifier } from '../../src/spec/verifier.js';
import { RunStore, type StoredSample } from '../../src/store/run-store.js';
import { additionFamily } from '../../src/tasks/addition.js';
import { decodeDatum, defaultAnswer, MockBackend, mockLogprobs, tokenizer, type Answerer, type Call } from './mock-backend.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-loop-'));
const stores: RunStore[] = [];
after(() => {
  for (const store of stores) store.close();
  rmSync(root, { recursive: true, force: true });
});

const family = additionFamily({ format: 'plain' });
const defaults: Record<string, unknown> = {
  name: 'mock',
  seed: 3,
  rounds: 2,
  tasks: { family: 'addition', perRound: 8 },
  warmup: { count: 6, difficulties: [1], steps: 2, batchSize: 4 },
  curriculum: { kind: 'fixed', difficulty: 2 },
  sample: { n: 4, temperature: 0.7, maxTokens: 8, stop: [';'], chunk: 3 },
  accept: { capPerTask: 2 },
  train: { steps: 2, batchSize: 64, includeLabeled: false },
  eval: { count: 4, n: 2, k: [1, 2] },
};

/** The defaults with sections of `over` merged in (the curriculum is replaced whole). */
function recipeOf(over: Record<string, unknown>) {
  const merged = { ...defaults };
  for (const [key, value] of Object.entries(over)) {
    const plain = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    merged[key] = key !== 'curriculum' && plain(value) && plain(merged[key]) ? { ...(merged[key] as object), ...(value as object) } : value;
  }
  return validateRecipe(merged);
}

function makeRun(over: Record<string, unknown> = {}, options: { answer?: Answerer; backend?: MockBackend; dir?: string; source?: TaskSource; verifier?: Verifier } = {}) {
  const recipe = recipeOf(over);
  const dir = options.dir ?? mkdtempSync(join(root, 'run-'));
  const store = new RunStore(join(dir, 'run.sqlite'));
  stores.push(store);
  const backend = options.backend ?? new MockBackend(options.answer);
  const parts: LoopParts = {
    recipe,
    backend,
    tokenizer,
    source: options.source ?? familySource(family),
    verifier: options.verifier ?? family.verifier,
    controllers: recipeControllers(recipe),
    reflector: policyReflector({ name: 'mock', sample: (prompts, o) => backend.sample(prompts, o) }, { template: recipe.reflect.template, sampling: { temperature: recipe.reflect.temperature, topP: recipe.sample.topP, maxTokens: recipe.sample.maxTokens, stop: recipe.sample.stop } }),
    monitors: defaultMonitors,
    store,
    runDir: dir,
  };
  const order: string[] = [];
  const run = (events: LoopEvents = {}) =>
    runLoop(parts, {
      ...events,
      phaseStart: (round, phase, total) => {
        order.push(`${round}:${phase}`);
        backend.calls.push({ op: 'phase', round, phase });
        events.phaseStart?.(round, phase, total);
      },
    });
  return { recipe, dir, store, backend, order, run, parts };
}

/** The backend calls made during one phase of a round. */
function callsIn(backend: MockBackend, round: number, phase: string): Call[] {
  const start = backend.calls.findIndex((c) => c.op === 'phase' && c.round === round && c.phase === phase);
  assert.ok(start >= 0, `phase ${round}:${phase} did not run`);
  const end = backend.calls.findIndex((c, i) => i > start && c.op === 'phase');
  return backend.calls.slice(start + 1, end < 0 ? undefined : end);
}

/** The (prompt → completion) pairs a round's update trained on, decoded from the datums the backend received. */
function trained(backend: MockBackend, round: number): Set<string> {
  const pairs = new Set<string>();
  for (const call of callsIn(backend, round, 'update')) {
    if (call.op === 'forwardBackward') for (const datum of call.batch) pairs.add(Object.values(decodeDatum(datum)).join(' → '));
  }
  return pairs;
}

/** Accepted samples of a round with the reason each was accepted (read from the file). */
function acceptedWithReasons(store: RunStore, round: number): { sample: StoredSample; reason: string }[] {
  const db = new Database(store.path, { readonly: true });
  try {
    const rows = db.prepare('SELECT sample_id, reason FROM accepted WHERE round = ? ORDER BY sample_id').all(round) as { sample_id: number; reason: string }[];
    return rows.map((row) => ({ sample: store.samplesById([row.sample_id])[0], reason: row.reason }));
  } finally {
    db.close();
  }
}

const sumOf = (task: Task) => (task.meta as { sum: number }).sum;
const aOf = (task: Task) => (task.meta as { a: number }).a;
const bOf = (task: Task) => (task.meta as { b: number }).b;
const passes = (s: StoredSample) => s.verification?.status === 'scored' && s.verification.pass;
const count = <T>(items: readonly T[], pick: (item: T) => boolean) => items.filter(pick).length;

describe('runLoop', () => {
  test('runs the phases in order and stores tasks, samples with provenance, scores, accepted sets, metrics and checkpoints', async () => {
    const t = makeRun();
    const result = await t.run();
    assert.deepEqual(t.order, ['0:warmup', '0:evaluate', '0:monitor', ...[1, 2].flatMap((r) => PHASES.map((p) => `${r}:${p}`))]);
    assert.deepEqual([result.stopped, result.rounds.map((r) => r.round), result.checkpoint], [false, [0, 1, 2], join(t.dir, 'checkpoints', 'round-2')]);
    assert.deepEqual(t.store.checkpoint(0), { path: join(t.dir, 'checkpoints', 'round-0'), policyVersion: 'sft' });
    for (const r of [1, 2]) {
      assert.ok(PHASES.every((p) => t.store.phaseDone(r, p)));
      const tasks = t.store.loadTasks(r, 'train')!;
      assert.equal(new Set(tasks.map((task) => task.id)).size, 8);
      assert.ok(tasks.every((task) => task.difficulty === 2));
      const samples = t.store.loadSamples(r, 'sample');
      assert.equal(samples.length, 8 * 4);
      tasks.forEach((task, position) => {
        const own = samples.filter((s) => s.taskId === task.id);
        assert.deepEqual(own.map((s) => s.sampleIndex), [0, 1, 2, 3]);
        for (const s of own) {
          assert.equal(s.prompt, task.prompt);
          assert.equal(s.policyVersion, r === 1 ? 'sft' : 'round-1');
          assert.deepEqual(s.sampler, { n: 4, temperature: 0.7, topP: 1, maxTokens: 8, stop: [';'], seed: seedFor(3, 'sample', r, Math.floor(position / 3)) });
          assert.deepEqual(s.tokens, tokenizer.encode(s.completion));
          assert.deepEqual(s.logprobs, mockLogprobs(s.tokens, s.sampleIndex).map(Math.fround));
          assert.deepEqual(s.verifier, { name: 'numeric', version: '1' });
          const right = Number(s.completion) === sumOf(task);
          assert.equal(passes(s), right, `${task.prompt}${s.completion}`);
          assert.match(s.verification?.status === 'scored' ? s.verification.feedback : '', right ? /^correct$/ : /digit/);
        }
      });
      const accepted = t.store.samplesById(t.store.acceptedIds(r, r));
      assert.ok(accepted.length > 0 && accepted.every((s) => passes(s) && s.round === r));
      assert.equal(result.rounds[r].accepted, accepted.length);
      const metrics = t.store.metrics(r);
      assert.equal(metrics['reward/mean'], count(samples, passes) / samples.length);
      assert.equal(metrics['accept/count'], accepted.length);
      assert.deepEqual(t.store.checkpoint(r), { path: join(t.dir, 'checkpoints', `round-${r}`), policyVersion: `round-${r}` });
      assert.ok(existsSync(join(t.store.checkpoint(r)!.path, 'weights.json')));
    }
  });

  test('reports reward, acceptance, exploration, exploitation, evaluation and timing metrics', async () => {
    const t = makeRun({ rounds: 1 });
    await t.run();
    const keys = ['reward/mean', 'accept/count', 'explore/pass@1', 'explore/distinct_correct_per_task', 'exploit/precision', 'exploit/recall', 'eval/accuracy', 'timing_ms/sample'];
    const metrics = t.store.metrics(1);
    for (const key of keys) assert.ok(Number.isFinite(metrics[key]), `round 1 lacks ${key}: ${JSON.stringify(metrics)}`);
    const baseline = t.store.metrics(0);
    for (const key of ['eval/accuracy', 'eval/accuracy/d1', 'eval/accuracy/d2', 'eval/pass@1', 'eval/pass@2', 'timing_ms/warmup']) assert.ok(key in baseline, `round 0 lacks ${key}`);
    assert.equal(baseline['reward/mean'], undefined, 'the warm-up samples nothing');
  });

  test('accepts at most capPerTask passing samples per task, distinct completions first', async () => {
    const answer: Answerer = ({ a, sum, index }) => (a % 2 ? String(sum + 1) : [`${sum}`, `${sum}`, `0${sum}`, `00${sum}`][index]);
    for (const [cap, expected] of [[1, [0]], [2, [0, 2]], [3, [0, 2, 3]]] as const) {
      const t = makeRun({ rounds: 1, accept: { capPerTask: cap } }, { answer });
      await t.run();
      const tasks = t.store.loadTasks(1, 'train')!;
      const even = count(tasks, (task) => aOf(task) % 2 === 0);
      assert.ok(even > 0 && even < tasks.length, 'the tasks need both parities of a');
      const accepted = acceptedWithReasons(t.store, 1);
      for (const task of tasks) {
        const mine = accepted.filter(({ sample }) => sample.taskId === task.id);
        assert.deepEqual(mine.map(({ sample }) => sample.sampleIndex), aOf(task) % 2 ? [] : expected, `cap ${cap}, ${task.prompt}`);
        assert.ok(mine.every(({ reason }) => reason === 'verified'));
      }
      const metrics = t.store.metrics(1);
      assert.deepEqual(
        [metrics['accept/count'], metrics['exploit/precision'], metrics['exploit/recall'], metrics['explore/distinct_correct_per_task'], metrics['explore/pass@1']],
        [expected.length * even, 1, expected.length / 4, (3 * even) / 8, even / 8],
      );
    }
  });

  test('an accepted sample cut at a stop string trains with it put back; one ended by EOS trains as it is', async () => {
    const answer: Answerer = ({ sum, index }) => (index === 0 ? { text: String(sum), eos: true } : index === 1 ? `0${sum}` : String(sum + 1));
    const t = makeRun({ rounds: 1, accept: { capPerTask: 2 } }, { answer });
    await t.run();
    const tasks = t.store.loadTasks(1, 'train')!;
    assert.deepEqual([...trained(t.backend, 1)].sort(), tasks.flatMap((task) => [`${task.prompt} → ${sumOf(task)}`, `${task.prompt} → 0${sumOf(task)};`]).sort());
  });

  // Majority answers: class 0 tasks vote right 3 to 1, class 1 vote wrong 3 to 1, class 2 give four different answers.
  const voting: Answerer = ({ a, sum, index }) => {
    const value = a % 3 === 0 ? (index < 3 ? sum : sum + 1) : a % 3 === 1 ? (index < 3 ? sum + 1 : sum) : sum + index;
    return `${value}${index ? `\n#${index}` : ''}`;
  };
  const votingClasses = (tasks: Task[]) => {
    const classes = [0, 1, 2].map((k) => count(tasks, (task) => aOf(task) % 3 === k));
    assert.ok(classes.every((n) => n > 0), `the tasks need every class of a % 3: ${classes}`);
    return classes;
  };

  test('a remote sampler that returns text alone (no token ids, no logprobs) runs self-training: the same samples, verdicts, training text and metrics as sampling in process', async () => {
    const over = { rounds: 1, rationalize: { enabled: true } };
    const embedded = makeRun(over);
    await embedded.run();
    const remote = makeRun(over);
    const textOnly: Policy = {
      name: 'text-only',
      version: 'server',
      sample: async (prompts, options) => (await remote.backend.sample(prompts, options)).map((group) => group.map(({ text, finishReason }) => ({ text, tokens: [], logprobs: [], finishReason }))),
    };
    remote.parts.sampler = { policy: textOnly };
    const result = await remote.run();
    assert.equal(result.stopped, false);
    const view = (store: RunStore) => [0, 1].flatMap((r) => store.loadSamples(r)).map((s) => [s.round, s.kind, s.taskId, s.sampleIndex, s.prompt, s.completion, s.policyVersion, s.sampler, s.verifier, s.verification]);
    const samples = [0, 1].flatMap((r) => remote.store.loadSamples(r));
    assert.ok(samples.length > 0 && samples.every((s) => s.tokens.length === 0 && s.logprobs.length === 0), 'the server gave text only');
    assert.ok(samples.every((s) => s.verification !== null), 'every sample scored');
    assert.deepEqual(view(remote.store), view(embedded.store));
    assert.ok(remote.store.acceptedIds(1, 1).length > 0);
    assert.ok(trained(remote.backend, 1).size > 0);
    assert.deepEqual([...trained(remote.backend, 1)], [...trained(embedded.backend, 1)], 'SFT re-encodes the accepted text');
    const withoutTimings = (metrics: Record<string, number>) => Object.fromEntries(Object.entries(metrics).filter(([key]) => !key.startsWith('timing_ms/')));
    for (const round of [0, 1]) assert.deepEqual(withoutTimings(remote.store.metrics(round)), withoutTimings(embedded.store.metrics(round)));
    assert.ok('eval/pass@2' in remote.store.metrics(1), 'held-out pass@k from text-only samples');
  });

  test('accept.by majority accepts the majority answer\'s samples without labels or the verifier', async () => {
    const unlabeled: TaskSource = { ...familySource(family), tasks: (request) => family.generate(request).map(({ answer: _a, solution: _s, ...task }) => task) };
    let phase = '';
    const verifierPhases = new Set<string>();
    const spy: Verifier = { name: 'numeric', version: '1', verify: (task, completion) => (verifierPhases.add(phase), family.verifier.verify(task, completion)) };
    const t = makeRun({ rounds: 1, warmup: undefined, tasks: { perRound: 12 }, accept: { by: 'majority', capPerTask: 4 } }, { answer: voting, source: unlabeled, verifier: spy });
    await t.run({ phaseStart: (round, name) => (phase = `${round}:${name}`) });
    const tasks = t.store.loadTasks(1, 'train')!;
    assert.ok(tasks.every((task) => task.answer === undefined));
    const [right, wrong] = votingClasses(tasks);
    assert.ok(t.store.loadSamples(1).every((s) => s.verification?.status === 'not-applicable'), 'without labels the verifier passes nothing');
    // The tasks' verifier scores each chunk in the rollout that samples it (the score phase finds nothing left).
    assert.deepEqual([...verifierPhases].sort(), ['0:evaluate', '1:evaluate', '1:sample']);
    const accepted = acceptedWithReasons(t.store, 1);
    for (const task of tasks) {
      const mine = accepted.filter(({ sample }) => sample.taskId === task.id);
      assert.deepEqual(mine.map(({ sample }) => sample.sampleIndex), aOf(task) % 3 === 2 ? [] : [0, 1, 2], task.prompt);
      assert.ok(mine.every(({ reason }) => reason === 'majority 75%'));
    }
    const metrics = t.store.metrics(1);
    assert.equal(metrics['accept/count'], 3 * (right + wrong));
    assert.equal(metrics['verify/not_applicable_rate'], 1);
    assert.ok(!('exploit/precision' in metrics) && !('exploit/recall' in metrics), 'no ground truth, no precision or recall');
  });

  test('accept.by majority with labels reports its precision and recall against them', async () => {
    const t = makeRun({ rounds: 1, warmup: undefined, tasks: { perRound: 12 }, accept: { by: 'majority', capPerTask: 4 } }, { answer: voting });
    await t.run();
    const [right, wrong, split] = votingClasses(t.store.loadTasks(1, 'train')!);
    const metrics = t.store.metrics(1);
    assert.equal(metrics['exploit/precision'], (3 * right) / (3 * right + 3 * wrong));
    assert.equal(metrics['exploit/recall'], (3 * right) / (3 * right + wrong + split));
  });

  test('reflect: failed attempts are revised and re-verified; passing revisions train on the original prompt', async () => {
    // Own samples: right only at index 0 of tasks with even b. Revisions: right for even a.
    const answer: Answerer = ({ kind, a, b, sum, index }) => (kind === 'reflection' ? String(a % 2 ? sum + 2 : sum) : String(b % 2 === 0 && index === 0 ? sum : sum + 1));
    const t = makeRun({ rounds: 1, tasks: { perRound: 12 }, reflect: { enabled: true }, accept: { capPerTask: 1 } }, { answer });
    await t.run();
    const tasks = t.store.loadTasks(1, 'train')!;
    const samples = t.store.loadSamples(1, 'sample');
    const reflections = t.store.loadSamples(1, 'reflection');
    assert.equal(reflections.length, tasks.length, 'one reflection per task (perTask 1, n 1)');
    for (const task of tasks) {
      const parent = samples.find((s) => s.taskId === task.id && !passes(s))!;
      const [revision] = reflections.filter((s) => s.taskId === task.id);
      const feedback = parent.verification?.status === 'scored' ? parent.verification.feedback : '';
      assert.deepEqual([revision.parentId, revision.sampleIndex, revision.prompt], [parent.id, parent.sampleIndex, `${task.prompt}${parent.completion}|${feedback}|${task.prompt}`]);
      assert.equal(revision.sampler.reflector, 'self-reflection(mock)');
      assert.deepEqual(revision.verifier, { name: 'numeric', version: '1' });
      assert.equal(passes(revision), aOf(task) % 2 === 0, `revision of ${task.prompt} re-verified`);
    }
    const accepted = acceptedWithReasons(t.store, 1);
    const expected = tasks.flatMap((task) =>
      bOf(task) % 2 === 0 ? [`${task.id} sample verified`] : aOf(task) % 2 === 0 ? [`${task.id} reflection verified reflection`] : [],
    );
    assert.ok(expected.some((e) => e.includes('reflection')) && expected.length < tasks.length, 'the tasks need every case');
    assert.deepEqual(accepted.map(({ sample, reason }) => `${sample.taskId} ${sample.kind} ${reason}`).sort(), expected.sort());
    const pairs = [...trained(t.backend, 1)];
    assert.deepEqual(pairs.sort(), accepted.map(({ sample }) => `${tasks.find((task) => task.id === sample.taskId)!.prompt} → ${sample.completion};`).sort());
    assert.ok(pairs.every((pair) => !pair.includes('|')), 'no reflection prompt is trained on');
    const metrics = t.store.metrics(1);
    assert.deepEqual([metrics['refine/reflection_count'], metrics['accept/from_refinement']], [tasks.length, count(expected, (e) => e.includes('reflection'))]);
  });

  test('rationalize: unsolved tasks get a hint with the answer; the accepted rationale trains without the hint', async () => {
    const answer: Answerer = ({ kind, hint, b, sum, index }) => (kind === 'hint' ? hint! : String(b % 2 === 0 && index === 0 ? sum : sum + 1));
    const t = makeRun({ rounds: 1, rationalize: { enabled: true }, accept: { capPerTask: 1 } }, { answer });
    await t.run();
    const tasks = t.store.loadTasks(1, 'train')!;
    const unsolved = tasks.filter((task) => bOf(task) % 2 === 1);
    assert.ok(unsolved.length > 0 && unsolved.length < tasks.length, 'the tasks need both parities of b');
    const rationales = t.store.loadSamples(1, 'rationalization');
    assert.deepEqual(rationales.map((s) => [s.taskId, s.prompt, s.parentId]), unsolved.map((task) => [task.id, `${task.answer}|${task.prompt}`, null]));
    assert.ok(rationales.every(passes));
    const accepted = acceptedWithReasons(t.store, 1);
    assert.deepEqual(accepted.filter(({ reason }) => reason === 'verified rationalization').map(({ sample }) => sample.taskId).sort(), unsolved.map((task) => task.id).sort());
    const pairs = trained(t.backend, 1);
    for (const task of unsolved) assert.ok(pairs.has(`${task.prompt} → ${task.answer};`), `${task.prompt} trains on its own prompt`);
    assert.equal(pairs.size, tasks.length);
    assert.ok([...pairs].every((pair) => !pair.includes('|')), 'no hint prompt is trained on');
  });

  for (const from of ['base', 'previous'] as const) {
    test(`train.from ${from}: each update starts from the ${from === 'base' ? 'round-0' : 'previous round\'s'} weights`, async () => {
      const t = makeRun({ rounds: 3, train: { from } });
      await t.run();
      const saved = new Map(t.backend.calls.flatMap((c) => (c.op === 'save' ? [[c.dir, c.weights] as const] : [])));
      const weightsOf = (round: number) => saved.get(join(t.dir, 'checkpoints', `round-${round}`))!;
      assert.equal(new Set([0, 1, 2, 3].map(weightsOf)).size, 4, 'every round trained to new weights');
      for (const round of [1, 2, 3]) {
        const first = callsIn(t.backend, round, 'update').find((c) => c.op === 'forwardBackward');
        assert.equal(first?.op === 'forwardBackward' && first.weights, weightsOf(from === 'base' ? 0 : round - 1), `round ${round}`);
      }
      const loads = [1, 2, 3].flatMap((round) => PHASES.flatMap((phase) => callsIn(t.backend, round, phase).flatMap((c) => (c.op === 'load' ? [`${round}:${phase} ${c.dir}`] : []))));
      const base = join(t.dir, 'checkpoints', 'round-0');
      assert.deepEqual(loads, from === 'base' ? [`2:update ${base}`, `3:update ${base}`] : []);
    });
  }

  test('easy-to-hard promotes the frontier after a mastered round and not otherwise', async () => {
    // One-digit sums are right, longer ones wrong: round 1 masters d1, round 2 fails d2, round 3 stays at d2.
    const answer: Answerer = ({ a, b, sum }) => String(a < 10 && b < 10 ? sum : sum + 1);
    const t = makeRun({ rounds: 3, curriculum: { kind: 'easy-to-hard', start: 1, max: 3, promoteAt: 0.5, review: 0.25 }, eval: { count: 2 } }, { answer });
    const result = await t.run();
    assert.deepEqual(result.rounds.map((r) => r.frontier), [undefined, 1, 2, 2]);
    const byDifficulty = (round: number) => t.store.loadTasks(round, 'train')!.reduce<Record<number, number>>((acc, task) => ({ ...acc, [task.difficulty!]: (acc[task.difficulty!] ?? 0) + 1 }), {});
    assert.deepEqual([1, 2, 3].map(byDifficulty), [{ 1: 8 }, { 1: 2, 2: 6 }, { 1: 2, 2: 6 }]);
    // The stored plans: round 2 promoted after 8 of 8 d1 tasks were solved, round 3 stayed after 0 of 6 at d2.
    assert.deepEqual([1, 2, 3].map((r) => t.store.loadPlan(r)!.states['easy-to-hard']), [{ frontier: 1 }, { frontier: 2 }, { frontier: 2 }]);
    assert.deepEqual([2, 3].map((r) => t.store.metrics(r)['curriculum/frontier_solved']), [1, 0]);
    assert.equal(t.store.loadPlan(3)!.plan.setBy.draws, 'easy-to-hard');
    assert.deepEqual(result.rounds.map((r) => r.acceptedAtFrontier), [0, 8, 0, 0]);
  });
});

describe('runLoop resumes', () => {
  const over = { reflect: { enabled: true } };
  const everything = (store: RunStore) => [1, 2].flatMap((round) => store.loadSamples(round));
  const withoutTimings = (metrics: Record<string, number>) => Object.fromEntries(Object.entries(metrics).filter(([key]) => !key.startsWith('timing_ms/')));

  /** Asserts that a resumed store holds what an uninterrupted run's holds, each sample key once. */
  async function assertSameAsUninterrupted(store: RunStore, backend: MockBackend) {
    const reference = makeRun(over);
    await reference.run();
    const samples = everything(store);
    const keys = samples.map((s) => `${s.round}/${s.kind}/${s.taskId}/${s.sampleIndex}`);
    assert.equal(new Set(keys).size, keys.length, 'every (round, kind, task, index) once');
    assert.deepEqual(samples, everything(reference.store));
    const view = (s: RunStore) => s.samplesById(s.acceptedIds(1, 2)).map((a) => [a.round, a.kind, a.taskId, a.sampleIndex, a.completion, a.policyVersion]);
    assert.ok(view(reference.store).length > 0);
    assert.deepEqual(view(store), view(reference.store));
    for (const round of [0, 1, 2]) assert.deepEqual(withoutTimings(store.metrics(round)), withoutTimings(reference.store.metrics(round)));
    assert.equal(backend.weights, reference.backend.weights, 'the same final weights');
  }

  test('a clean stop after round 1, then a second run on the same store: nothing redrawn, the same results', async () => {
    const first = makeRun(over);
    const stopped = await first.run({ shouldStop: () => first.store.phaseDone(1, 'monitor') });
    assert.deepEqual([stopped.stopped, stopped.rounds.map((r) => r.round), stopped.checkpoint], [true, [0, 1], join(first.dir, 'checkpoints', 'round-1')]);
    assert.equal(first.store.loadTasks(2, 'train'), null);
    assert.ok(PHASES.every((p) => !first.store.phaseDone(2, p)));
    const before = first.store.loadSamples(1);
    first.store.close();

    const second = makeRun(over, { dir: first.dir });
    const result = await second.run();
    assert.deepEqual([result.stopped, result.rounds.map((r) => r.round)], [false, [0, 1, 2]]);
    assert.ok(second.order.every((p) => p.startsWith('2:')), `only round 2 runs: ${second.order}`);
    const [firstCall] = second.backend.calls.filter((c) => c.op !== 'phase');
    assert.deepEqual(firstCall, { op: 'load', dir: join(first.dir, 'checkpoints', 'round-1'), weights: first.backend.weights });
    const round1Seeds = new Set([0, 1, 2].flatMap((c) => [seedFor(3, 'sample', 1, c), seedFor(3, 'reflect', 1, c)]));
    assert.ok(second.backend.samples().every((c) => !round1Seeds.has(c.options.seed!)), 'no round-1 sample is redrawn');
    assert.equal(count(second.backend.samples(), (c) => c.options.temperature === 0), 1, 'only round 2 is evaluated');
    assert.deepEqual(second.store.loadSamples(1), before);
    await assertSameAsUninterrupted(second.store, second.backend);
  });

  test('a crash in the middle of sampling loses only the unfinished chunk', async () => {
    const crashAt = seedFor(3, 'sample', 1, 1);
    const crashing = new MockBackend(defaultAnswer, (options) => {
      if (options.seed === crashAt) throw new Error('killed mid-sampling');
    });
    const first = makeRun(over, { backend: crashing });
    await assert.rejects(first.run(), /killed mid-sampling/);
    const saved = first.store.loadSamples(1);
    assert.deepEqual(saved.map((s) => s.sampleIndex), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'the first chunk (3 tasks) was saved');
    assert.equal(first.store.phaseDone(1, 'sample'), false);
    assert.ok(saved.every((s) => s.verification !== null), 'the saved chunk was scored in its rollout');
    first.store.close();

    const second = makeRun(over, { dir: first.dir });
    await second.run();
    assert.ok(second.backend.samples().every((c) => c.options.seed !== seedFor(3, 'sample', 1, 0)), 'the saved chunk is not redrawn');
    assert.deepEqual(second.store.loadSamples(1, 'sample').slice(0, saved.length), saved, 'the saved samples are kept as they were');
    await assertSameAsUninterrupted(second.store, second.backend);
  });

  test('samples left unscored (killed between a chunk and its scores, or an older version\'s store) are scored by the score phase', async () => {
    const first = makeRun(over);
    await first.run({ shouldStop: () => first.store.phaseDone(1, 'sample') });
    assert.equal(first.store.phaseDone(1, 'score'), false);
    const db = new Database(first.store.path);
    try {
      db.prepare('DELETE FROM scores WHERE sample_id IN (SELECT id FROM samples WHERE round = 1)').run();
    } finally {
      db.close();
    }
    assert.ok(first.store.loadSamples(1).every((s) => s.verification === null));
    first.store.close();

    const second = makeRun(over, { dir: first.dir });
    await second.run();
    assert.ok(second.backend.samples().every((c) => c.options.seed !== seedFor(3, 'sample', 1, 0)), 'nothing is resampled');
    await assertSameAsUninterrupted(second.store, second.backend);
  });
});
