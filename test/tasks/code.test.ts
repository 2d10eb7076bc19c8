/** Code tasks: the JSONL layout, the sandboxed unit-test verifier and its per-test feedback, and the built-in set. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import type { Sandbox } from '../../src/sandbox/run-types.js';
import { builtinCodeTasks, codeVerifier, loadCodeTasks } from '../../src/tasks/code.js';
import { canonical } from '../../src/sandbox/canonical.js';
import { TaskFileError } from '../../src/errors.js';
import type { Task } from '../../src/spec/task.js';
import { resolveTasks } from '../../src/tasks/sources.js';
import { validateRecipe } from '../../src/recipe/load.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-code-'));
let sandbox: Sandbox;
before(async () => {
  sandbox = await createSandbox({ timeoutMs: 300, memoryMb: 32, concurrency: 2 });
});
after(async () => {
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
});

const reverse: Task = {
  id: 'js/rev',
  family: 'code',
  prompt: '/** Reverses the elements of `list`. */\nfunction rev(list) {\n',
  solution: '  return [...list].reverse();\n}\n',
  meta: { entryPoint: 'rev', tests: [{ args: [[1, 2]], expected: [2, 1] }, { args: [[]], expected: [] }, { args: [['a', 'b', 'c']], expected: ['c', 'b', 'a'] }] },
};

describe('code tasks', () => {
  test('the canonical solution passes; feedback names each failing test with its call, expected and actual values', async () => {
    const verifier = codeVerifier(sandbox);
    assert.deepEqual(await verifier.verify(reverse, reverse.solution!), { status: 'scored', reward: 1, pass: true, feedback: 'all 3 tests passed' });
    const identity = await verifier.verify(reverse, '  return list;\n}\n');
    assert.deepEqual(identity, { status: 'scored', reward: 0, pass: false, feedback: '1/3 tests passed; test 1 failed: rev([1,2]) expected [2,1], got [1,2]; test 3 failed: rev(["a","b","c"]) expected ["c","b","a"], got ["a","b","c"]' });
    const partial = await codeVerifier(sandbox, { partialCredit: true }).verify(reverse, '  return list;\n}\n');
    assert.ok(partial.status === 'scored' && Math.abs(partial.reward - 1 / 3) < 1e-12);
    const thrower = await verifier.verify(reverse, '  return list.reverse().x.y;\n}\n');
    assert.ok(thrower.status === 'scored' && /test 1 failed: rev\(\[1,2\]\) threw TypeError: Cannot read properties of undefined/.test(thrower.feedback), JSON.stringify(thrower));
  });

  test('timeouts, syntax errors and missing functions are failed verdicts with a reason', async () => {
    const verifier = codeVerifier(sandbox, { timeoutMs: 100 });
    const cases: [string, RegExp][] = [
      ['  while (true) {}\n}\n', /^timed out after 100 ms$/],
      ['  return [;\n}\n', /^does not parse: SyntaxError/],
      ['}\nrev = 5;\n', /threw TypeError: fn is not a function|failed/],
    ];
    for (const [completion, feedback] of cases) {
      const v = await verifier.verify(reverse, completion);
      assert.ok(v.status === 'scored' && !v.pass && v.reward === 0 && feedback.test(v.feedback), `${JSON.stringify(completion)} → ${JSON.stringify(v)}`);
    }
    // The memory case gets a time limit it cannot reach first: at 100 ms a loaded CI machine timed out before filling 32 MB.
    const hog = await codeVerifier(sandbox, { timeoutMs: 10_000 }).verify(reverse, '  const a = []; while (true) a.push(new Array(1e6).fill(0));\n}\n');
    assert.ok(hog.status === 'scored' && !hog.pass && /out of memory/.test(hog.feedback), JSON.stringify(hog));
  });

  test('code in the sandbox cannot fake a pass: it never sees the expected values and cannot reach the comparison', async () => {
    const verifier = codeVerifier(sandbox);
    const hacks = [
      '  return list;\n}\nJSON.stringify = () => "same"; Array.prototype.map = function () { return []; };\n',
      '  return list;\n}\nfunction __autodidactTests() { return [{ value: [2, 1] }, { value: [] }, { value: ["c", "b", "a"] }]; }\n',
      '  return list;\n}\nObject.defineProperty(globalThis, "__autodidactTests", { value: () => [] });\n',
    ];
    for (const hack of hacks) {
      const v = await verifier.verify(reverse, hack);
      assert.ok(v.status === 'scored' && !v.pass, `${JSON.stringify(hack)} → ${JSON.stringify(v)}`);
    }
  });

  test('results the host cannot serialize, or that would take it long to, fail in the sandbox, not on the host (red-team findings)', async () => {
    const verifier = codeVerifier(sandbox, { timeoutMs: 300 });
    const cases: [string, RegExp][] = [
      ['  return 1n;\n}\n', /expected \[2,1\], got 1n/],
      ['  const a = []; a.push(a); return a;\n}\n', /returned what cannot be compared \(a cyclic structure cannot be compared\)/],
      // 2^26 paths through shared references: the encoder inside the sandbox runs out of time or memory, the host stays responsive.
      ['  let a = {}; for (let i = 0; i < 26; i++) a = { l: a, r: a }; return a;\n}\n', /timed out|out of memory|too large|Invalid string length/],
      // toJSON is not called (the canonical encoding compares data, not what an object says of itself): a function property cannot be compared.
      ['  return { toJSON() { return [2, 1]; } };\n}\n', /test 1 failed: rev\(\[1,2\]\) returned what cannot be compared \(a function cannot be compared/],
    ];
    for (const [completion, feedback] of cases) {
      const started = performance.now();
      const v = await verifier.verify(reverse, completion);
      assert.ok(v.status === 'scored' && !v.pass && feedback.test(v.feedback), `${JSON.stringify(completion)} → ${JSON.stringify(v)}`);
      assert.ok(performance.now() - started < 3000, 'the host answered quickly');
    }
  });

  test('results compare in the canonical encoding: object keys in any order, NaN, −0 and undefined told apart', () => {
    assert.equal(canonical({ b: [1, { d: 2, c: 3 }], a: null }), canonical({ a: null, b: [1, { c: 3, d: 2 }] }));
    assert.notEqual(canonical([1, 2]), canonical([2, 1]));
    assert.notEqual(canonical(undefined), canonical(null));
    assert.notEqual(canonical(-0), canonical(0));
    assert.notEqual(canonical(NaN), canonical(null));
  });

  test('task files: fields validated with the line named', () => {
    const file = join(dir, 'tasks.jsonl');
    writeFileSync(file, `${JSON.stringify({ task_id: 'a', prompt: 'function f() {\n', entry_point: 'f', tests: [{ args: [], expected: 1 }] })}\n\n${JSON.stringify({ task_id: 'b', prompt: 'x', entry_point: 'not ok', tests: [] })}\n`);
    assert.throws(() => loadCodeTasks(file), (e: Error) => e instanceof TaskFileError && /tasks\.jsonl:3: field `entry_point`: must be a function name/.test(e.message));
    writeFileSync(file, `${JSON.stringify({ task_id: 'a', prompt: 'p', entry_point: 'f', tests: [{ args: [1], expected: 2 }], difficulty: 1 })}\n`);
    const [task] = loadCodeTasks(file);
    assert.deepEqual(task, { id: 'a', family: 'code', prompt: 'p', solution: undefined, difficulty: 1, meta: { entryPoint: 'f', tests: [{ args: [1], expected: 2 }] } });
  });

  test('recipes name the code tasks as `tasks.family: code`; the sandbox starts on first use and closes with the run', async () => {
    const recipe = (options: Record<string, unknown>) => validateRecipe({ name: 'code', rounds: 1, tasks: { family: 'code', options } }).tasks;
    const { source, verifier, close } = await resolveTasks(recipe({ timeoutMs: 500 }), dir);
    const easy = source.tasks({ count: 5, difficulty: 1, seed: 1, split: 'train' });
    assert.equal(easy.length, 5);
    assert.ok(easy.every((t) => t.difficulty === 1 && t.family === 'code'));
    const verdict = await verifier.verify(easy[0], easy[0].solution!);
    assert.ok(verdict.status === 'scored' && verdict.pass, JSON.stringify(verdict));
    await close!();
    await assert.rejects(resolveTasks(recipe({ timeout: 5 }), dir), /`tasks\.options\.timeout`: unknown key — did you mean `timeoutMs`\?/);
  });

  test('the built-in set: at least 50 tasks, every canonical solution passes its tests in the sandbox', async () => {
    const tasks = builtinCodeTasks();
    assert.ok(tasks.length >= 50, `${tasks.length} tasks`);
    assert.equal(new Set(tasks.map((t) => t.id)).size, tasks.length);
    const verifier = codeVerifier(sandbox);
    const failing: string[] = [];
    await Promise.all(
      tasks.map(async (task) => {
        assert.ok(task.solution, `${task.id} has a canonical solution`);
        const v = await verifier.verify(task, task.solution!);
        if (v.status !== 'scored' || !v.pass) failing.push(`${task.id}: ${JSON.stringify(v)}`);
        // And an empty body fails (the tests are not trivially satisfied).
        const empty = await verifier.verify(task, '}\n');
        if (empty.status === 'scored' && empty.pass) failing.push(`${task.id}: an empty function passes its tests`);
      }),
    );
    assert.deepEqual(failing, []);
  });
});
