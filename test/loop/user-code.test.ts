/**
 * User task families and task files that misbehave: a factory, `generate` or
 * `verify` that throws or returns the wrong shape, duplicate ids, and sources
 * that would leave a run with nothing to do. Each is refused with an
 * AutodidactError naming the module, function and task (or the field), at
 * resolveTasks or at the start of runLoop, before any training.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AutodidactError, InvalidConfigError, TaskFileError, UserCodeError } from '../../src/errors.js';
import { recipeControllers } from '../../src/run/plan.js';
import { defaultMonitors } from '../../src/monitors/monitors.js';
import { runLoop, type LoopParts } from '../../src/run/loop.js';
import { resolveTasks } from '../../src/tasks/sources.js';
import { validateRecipe } from '../../src/recipe/load.js';
import { RunStore } from '../../src/store/run-store.js';
import { MockBackend, tokenizer } from './mock-backend.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-user-code-'));
const stores: RunStore[] = [];
after(() => {
  for (const store of stores) store.close();
  rmSync(dir, { recursive: true, force: true });
});
let files = 0;
const file = (name: string, text: string) => {
  const path = join(dir, `${files++}-${name}`);
  writeFileSync(path, text);
  return path;
};

/**
 * A family module: additions `a+b=` (which the mock backend answers), with
 * parts replaced by the given JavaScript source (`generate`, `verify`, the
 * export).
 */
function familyModule(over: { generate?: string; verify?: string; exported?: string } = {}): string {
  const generate =
    over.generate ??
    `({ count, difficulty, seed, split }) => Array.from({ length: count }, (_, i) => {
      const a = (seed * 7 + i * 13) % 90 + 10 ** (difficulty - 1), b = (seed + i * 31) % 9;
      return { id: \`\${split}-\${difficulty}-\${seed}-\${i}\`, family: 'sums', prompt: \`\${a}+\${b}=\`, answer: String(a + b), difficulty };
    })`;
  const verify = over.verify ?? `(task, completion) => ({ status: 'scored', reward: completion.startsWith(task.answer) ? 1 : 0, pass: completion.startsWith(task.answer), feedback: '' })`;
  const exported = over.exported ?? 'export default () => family;';
  return file('family.mjs', `const family = { name: 'sums', difficulty: { min: 1, max: 3 }, generate: ${generate}, verifier: { name: 'sums', version: '1', verify: ${verify} } };\n${exported}\n`);
}

const base = {
  name: 'user-code',
  seed: 1,
  rounds: 1,
  curriculum: { kind: 'fixed', difficulty: 2 },
  sample: { n: 2, maxTokens: 6, stop: [';'], chunk: 4 },
  train: { steps: 1, batchSize: 4, includeLabeled: false },
  eval: { count: 3 },
};

/** Resolves the recipe's tasks and runs its loop on the mock backend; returns the backend to inspect. */
async function runWith(tasks: Record<string, unknown>, over: Record<string, unknown> = {}): Promise<MockBackend> {
  const recipe = validateRecipe({ ...base, ...over, tasks: { perRound: 6, ...tasks } });
  const { source, verifier } = await resolveTasks(recipe.tasks, dir);
  const runDir = mkdtempSync(join(dir, 'run-'));
  const store = new RunStore(join(runDir, 'run.sqlite'));
  stores.push(store);
  const backend = new MockBackend();
  const parts: LoopParts = { recipe, backend, tokenizer, source, verifier, controllers: recipeControllers(recipe), monitors: defaultMonitors, store, runDir };
  await runLoop(parts);
  return backend;
}

/** Asserts that `promise` rejects with a `type` whose message matches `message` exactly (a string) or the pattern. */
async function rejectsWith(promise: Promise<unknown>, type: new (...args: never[]) => AutodidactError, message: string | RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${error instanceof Error ? error.stack : String(error)}`);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

describe('a user task family is checked at its boundary', () => {
  test('a well-behaved family runs through the checks unchanged, with a synchronous verifier', async () => {
    const path = familyModule();
    const { source, verifier } = await resolveTasks(validateRecipe({ ...base, tasks: { family: path } }).tasks, dir);
    const [task] = source.tasks({ count: 1, difficulty: 2, seed: 5, split: 's' });
    assert.deepEqual(verifier.verify(task, `${task.answer};`), { status: 'scored', reward: 1, pass: true, feedback: '' });
    const backend = await runWith({ family: path });
    assert.ok(backend.calls.some((c) => c.op === 'sample'));
  });

  test('a factory that throws, or rejects, names the module and the factory', async () => {
    for (const exported of ["export default () => { throw new Error('no options'); };", "export default async () => { throw new Error('no options'); };"]) {
      const path = familyModule({ exported });
      await rejectsWith(resolveTasks(validateRecipe({ ...base, tasks: { family: path } }).tasks, dir), UserCodeError, `${path}: the default export (the family factory) threw: no options`);
    }
  });

  test('a factory that returns no family says which field is wrong', async () => {
    const path = familyModule({ exported: "export default () => ({ ...family, verifier: { name: 'v', version: '1' } });" });
    await rejectsWith(
      resolveTasks(validateRecipe({ ...base, tasks: { family: path } }).tasks, dir),
      UserCodeError,
      /: the default export \(the family factory\) returned .*, not a TaskFamily .* \(`family\.verifier\.verify` expected a function\)$/,
    );
  });

  test('generate that throws names the module, generate and the request', async () => {
    const path = familyModule({ generate: "() => { throw new RangeError('difficulty too high'); }" });
    await rejectsWith(runWith({ family: path }), UserCodeError, new RegExp(`^${path}: generate threw for \\{"count":3,"difficulty":2,.*"split":"heldout"\\}: difficulty too high$`));
  });

  test('generate that returns a string, or tasks without a prompt, names the field', async () => {
    await rejectsWith(runWith({ family: familyModule({ generate: "() => 'nope'" }) }), UserCodeError, /: generate returned "nope", not an array of tasks .* \(`tasks` expected array, got string "nope"\)$/);
    await rejectsWith(runWith({ family: familyModule({ generate: "({ count }) => Array.from({ length: count }, (_, i) => ({ id: 't' + i, family: 'f' }))" }) }), UserCodeError, /: generate returned .*\(`tasks\.0\.prompt` is required \(expected string\)\)$/);
    await rejectsWith(runWith({ family: familyModule({ generate: 'async () => []' }) }), UserCodeError, /: generate returned a Promise; generate is synchronous/);
  });

  test('duplicate task ids are refused before they reach the run store', async () => {
    // The same id twice in one call…
    const twice = familyModule({ generate: "({ count, difficulty }) => Array.from({ length: count }, (_, i) => ({ id: 'same', family: 'f', prompt: `${i}+1=`, answer: String(i + 1), difficulty }))" });
    await rejectsWith(runWith({ family: twice }), UserCodeError, /: generate returned two tasks with id "same" for .*; ids must be unique/);
    // …or one id for different tasks in two calls (ids that ignore the split and the seed).
    const reused = familyModule({ generate: "({ count, difficulty, seed }) => Array.from({ length: count }, (_, i) => ({ id: `t${i}`, family: 'f', prompt: `${seed % 97}+${i}=`, answer: String((seed % 97) + i), difficulty }))" });
    await rejectsWith(runWith({ family: reused }), UserCodeError, /: generate returned id "t0" for two different tasks \(prompt .* now, .* before\); ids must be unique within the family/);
  });

  test('verify that throws, rejects or returns 42 names the module, verify and the task', async () => {
    for (const verify of ["() => { throw new TypeError('x is undefined'); }", "async () => { throw new TypeError('x is undefined'); }"]) {
      await rejectsWith(runWith({ family: familyModule({ verify }) }), UserCodeError, /: verifier\.verify on task "[^"]+" threw: x is undefined; a verifier that cannot score a completion returns \{ status: 'error', error \} instead$/);
    }
    await rejectsWith(runWith({ family: familyModule({ verify: '() => 42' }) }), UserCodeError, /: verifier\.verify on task "[^"]+" returned 42, not a Verification \(.*\) \(`verification` expected object, got number 42\)$/);
    await rejectsWith(runWith({ family: familyModule({ verify: "() => ({ status: 'scored', reward: 2, pass: true, feedback: '' })" }) }), UserCodeError, /\(`verification\.reward` must be ≤ 1, got number 2\)$/);
  });

  test('at the CLI, a verifier returning 42 exits 2 with one line, not a SqliteError', () => {
    const family = familyModule({ verify: '() => 42' });
    const recipe = file(
      'verify-42.yaml',
      `name: verify-42\nrounds: 1\nmodel: { config: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 32 } }\ntasks: { family: ${JSON.stringify(family)}, perRound: 4 }\nsample: { n: 1, maxTokens: 4 }\ntrain: { steps: 1, batchSize: 4 }\neval: { count: 2 }\n`,
    );
    const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const out = spawnSync(process.execPath, [cli, 'run', recipe, '--out', join(dir, 'cli-run')], { cwd: dir, encoding: 'utf8', env: { ...process.env, AUTODIDACT_THREADS: '1' }, timeout: 120_000 });
    assert.equal(out.status, 2, out.stderr);
    assert.doesNotMatch(out.stderr, /\n\s+at |SqliteError/);
    assert.match(out.stderr, new RegExp(`^autodidact: ${family}: verifier\\.verify on task "[^"]+" returned 42, not a Verification`, 'm'));
  });
});

describe('a run that would do nothing is refused before training', () => {
  test('an empty task file is refused naming the file', async () => {
    const empty = file('empty.jsonl', '\n// nothing yet\n\n');
    await rejectsWith(resolveTasks(validateRecipe({ ...base, tasks: { file: empty } }).tasks, dir), TaskFileError, `${empty}:0: the task file holds no entries (every line is blank or a // comment); write one JSON object per line`);
  });

  test('a task file with no task at the curriculum difficulty names the field and the difficulties it has', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: `t${i}`, prompt: `${i}+1=`, answer: String(i + 1), difficulty: 1 }));
    const path = file('d1.jsonl', lines.join('\n'));
    await rejectsWith(
      runWith({ file: path }, { eval: { count: 3, difficulties: [1] } }),
      InvalidConfigError,
      `Invalid config field \`curriculum.difficulty\`: asks for difficulty 2, but the task file ${path} has no task of it (its difficulties run 1–1); ask for difficulties it has, or add tasks`,
    );
    // Evaluating at a difficulty it lacks is refused too, naming eval.difficulties.
    await rejectsWith(runWith({ file: path }, { eval: { count: 3, difficulties: [3] } }), InvalidConfigError, /^Invalid config field `eval\.difficulties`: asks for difficulty 3/);
  });

  test('a file whose tasks are all held out, or a family that repeats its held-out prompts, is refused before the warm-up', async () => {
    const lines = Array.from({ length: 3 }, (_, i) => JSON.stringify({ id: `t${i}`, prompt: `${i}+1=`, answer: String(i + 1), difficulty: 2 }));
    const small = file('small.jsonl', lines.join('\n'));
    await rejectsWith(
      runWith({ file: small }),
      InvalidConfigError,
      `Invalid config field \`tasks.file\`: the task file ${small} gave 3 tasks of difficulty 2 for training, and every one has a prompt of the held-out set, which no round trains on: give the file more tasks of difficulty 2 than eval.count = 3, or lower eval.count`,
    );
    const constant = familyModule({ generate: "({ count, difficulty, split, seed }) => Array.from({ length: count }, (_, i) => ({ id: `${split}-${seed}-${i}`, family: 'f', prompt: '1+1=', answer: '2', difficulty }))" });
    let backend: MockBackend | undefined;
    await rejectsWith(
      runWith({ family: constant }, { warmup: { count: 2, difficulties: [2], steps: 1, batchSize: 2 } }).then((b) => (backend = b)),
      InvalidConfigError,
      /^Invalid config field `tasks\.family`: the task family .* gave 16 tasks of difficulty 2 for the warm-up, and every one has a prompt of the held-out set, which no round trains on: make its prompts vary with the seed, or lower eval\.count$/,
    );
    assert.equal(backend, undefined);
  });
});
