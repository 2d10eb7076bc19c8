/** The sandbox against hostile code: every case gets a status, and the host is unaffected. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import type { Sandbox } from '../../src/sandbox/run-types.js';
import { InvalidArgumentError } from '../../src/errors.js';

let sandbox: Sandbox;
before(async () => {
  sandbox = await createSandbox({ timeoutMs: 200, memoryMb: 32, concurrency: 2, maxStdout: 1000 });
});
after(() => sandbox.close());

/** After each hostile run: the pool still answers, and the host process is intact. */
async function assertHealthy(): Promise<void> {
  const probe = await sandbox.run({ code: 'function twice(x) { return 2 * x }', entry: 'twice', args: [21] });
  assert.deepEqual([probe.status, probe.value], ['ok', 42]);
  assert.equal(typeof process.pid, 'number');
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype of the host is untouched');
}

describe('sandbox', () => {
  test('a script’s completion value, or an entry function called with copied arguments', async () => {
    assert.deepEqual(await sandbox.run({ code: '[1, 2].map((x) => x * 10)' }).then((r) => [r.status, r.value]), ['ok', [10, 20]]);
    assert.deepEqual(await sandbox.run({ code: 'function add(a, b) { return a + b }', entry: 'add', args: [2, 3] }).then((r) => r.value), 5);
    assert.deepEqual(await sandbox.run({ code: 'const sq = (x) => x * x;', entry: 'sq', args: [7] }).then((r) => r.value), 49);
    assert.deepEqual(await sandbox.run({ code: 'async function f(o) { return { ...o, n: o.n + 1 } }', entry: 'f', args: [{ n: 1, s: 'x' }] }).then((r) => r.value), { n: 2, s: 'x' });
    const printed = await sandbox.run({ code: 'console.log("a", 1, { b: 2 }); console.error("oops"); 0' });
    assert.equal(printed.stdout, 'a 1 {"b":2}\noops\n');
    assert.ok(printed.durationMs >= 0);
  });

  test('errors are results: a throw, a syntax error, a missing or non-function entry', async () => {
    const cases: [Parameters<Sandbox['run']>[0], RegExp][] = [
      [{ code: 'throw new TypeError("bad input")' }, /^TypeError: bad input/],
      [{ code: 'function (' }, /^SyntaxError/],
      [{ code: '1', entry: 'solve' }, /^ReferenceError: solve is not defined/],
      [{ code: 'var solve = 3', entry: 'solve' }, /^TypeError: solve is not a function/],
      [{ code: 'async function f() { throw new RangeError("late") }', entry: 'f' }, /^RangeError: late/],
    ];
    for (const [request, error] of cases) {
      const result = await sandbox.run(request);
      assert.equal(result.status, 'error', request.code);
      assert.match(result.error!, error);
    }
    await assertHealthy();
  });

  test('an infinite loop times out, and its isolate is replaced', async () => {
    const result = await sandbox.run({ code: 'console.log("before"); while (true) {}' });
    assert.deepEqual([result.status, result.error], ['timeout', 'timed out after 200 ms']);
    assert.ok(result.durationMs >= 190 && result.durationMs < 2000, `${result.durationMs} ms`);
    await assertHealthy();
  });

  test('deep recursion is a RangeError, not a crash', async () => {
    const result = await sandbox.run({ code: 'function down(n) { return down(n + 1) + 1 } down(0)' });
    assert.equal(result.status, 'error');
    assert.match(result.error!, /Maximum call stack size exceeded/);
    await assertHealthy();
  });

  test('a memory bomb hits the memory limit; the host heap is untouched', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    // Its own time limit, out of reach: on a loaded machine 200 ms can pass before 32 MB fill.
    const result = await sandbox.run({ code: 'const hoard = []; while (true) hoard.push(new Array(1e6).fill(7))', timeoutMs: 10_000 });
    assert.equal(result.status, 'memory');
    assert.match(result.error!, /out of memory \(limit 32 MB\)/);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 16e6, 'the host heap did not take the allocation');
    await assertHealthy();
  });

  test('huge output is capped and marked', async () => {
    const result = await sandbox.run({ code: 'for (let i = 0; i < 1e6; i++) console.log("spam spam spam", i); "done"' });
    assert.equal(result.status, 'ok');
    assert.equal(result.value, 'done');
    assert.ok(result.stdout.length < 1100, `${result.stdout.length} characters kept`);
    assert.match(result.stdout, /stdout truncated at 1000 characters/);
  });

  test('a promise that never settles, or settles too late, times out', async () => {
    for (const code of ['new Promise(() => {})', 'async function f() { await new Promise(() => {}) }']) {
      const result = await sandbox.run({ code, entry: code.startsWith('async') ? 'f' : undefined });
      assert.equal(result.status, 'timeout', code);
    }
    await assertHealthy();
  });

  test('no way out: process, require, import, timers, network and the host through constructor chains', async () => {
    const probes = [
      'typeof process',
      'typeof require',
      'typeof module',
      'typeof setTimeout',
      'typeof fetch',
      'this.constructor.constructor("return typeof process")()',
      'Function("return typeof process")()',
      '(() => {}).constructor("return typeof require")()',
      'Object.getPrototypeOf(async function () {}).constructor("return typeof process")() && "undefined"',
      '[].constructor.constructor("return this")().process === undefined ? "undefined" : "reached"',
      'console.log.constructor("return typeof process")()',
    ];
    for (const code of probes) {
      const result = await sandbox.run({ code });
      assert.ok(result.status === 'ok' && result.value === 'undefined', `${code} → ${JSON.stringify(result)}`);
    }
    const imported = await sandbox.run({ code: 'import("node:fs")' });
    assert.notEqual(imported.status, 'ok', 'dynamic import has no loader');
    await assertHealthy();
  });

  test('values passed in or out carry no prototype pollution back to the host', async () => {
    const input = { list: [1, 2], nested: { k: 'v' } };
    const result = await sandbox.run({
      // An own __proto__ key (as JSON.parse makes) comes back as an own key, never as a prototype.
      code: 'function f(o) { o.list.push(3); o.nested.k = "changed"; Object.prototype.polluted = true; o.__proto__.polluted = true; return { out: o, proto: JSON.parse(\'{"__proto__": {"polluted": true}}\') } }',
      entry: 'f',
      args: [input],
    });
    assert.equal(result.status, 'ok');
    assert.deepEqual(input, { list: [1, 2], nested: { k: 'v' } }, 'the argument the host passed is unchanged');
    const value = result.value as { out: { list: number[] }; proto: Record<string, unknown> };
    assert.deepEqual(value.out.list, [1, 2, 3]);
    assert.equal(Object.getPrototypeOf(value.proto), Object.prototype, 'results come back as plain host objects');
    assert.equal(value.proto.polluted, undefined);
    assert.deepEqual(Object.keys(value.proto), ['__proto__']);
    // An object with another prototype is not plain data: it cannot be compared, and nothing of it reaches the host.
    const classy = await sandbox.run({ code: '({ __proto__: { polluted: true } })' });
    assert.deepEqual([classy.status, /cannot be compared/.test(classy.error!)], ['error', true]);
    await assertHealthy();
    // And the next run sees a fresh context.
    assert.equal((await sandbox.run({ code: '({}).polluted' })).value, undefined);
  });

  test('no API that runs code after the call returns or shares memory (red-team findings)', async () => {
    for (const name of ['WebAssembly', 'SharedArrayBuffer', 'FinalizationRegistry', 'WeakRef']) {
      assert.equal((await sandbox.run({ code: `typeof ${name}` })).value, 'undefined', name);
    }
    // Atomics.waitAsync with a timeout aborted the host process (SIGABRT) before it was removed.
    const wait = await sandbox.run({ code: 'Atomics.waitAsync(new Int32Array(new ArrayBuffer(4)), 0, 0, 10)' });
    assert.equal(wait.status, 'error');
    await assertHealthy();
  });

  test('the status comes from the host, not from what the code throws', async () => {
    const fakeTimeout = await sandbox.run({ code: 'throw new Error("Script execution timed out.")' });
    assert.deepEqual([fakeTimeout.status, fakeTimeout.error], ['error', 'Error: Script execution timed out.']);
    const fakeMemory = await sandbox.run({ code: 'throw new Error("Isolate was disposed during execution due to memory limit")' });
    assert.equal(fakeMemory.status, 'error');
    const stdout = await sandbox.run({ code: 'Array.prototype.join = () => "FORGED\\n"; String.prototype.concat = () => "X"; console.log("real"); 1' });
    assert.equal(stdout.stdout, 'real\n');
  });

  test('deterministic: seeded Math.random and a fixed clock', async () => {
    const code = '[Math.random(), Math.random(), Date.now(), new Date().toISOString()]';
    const [a, b] = [await sandbox.run({ code }), await sandbox.run({ code })];
    assert.deepEqual(a.value, b.value);
    const [r1, r2, now, iso] = a.value as [number, number, number, string];
    assert.ok(r1 >= 0 && r1 < 1 && r1 !== r2);
    assert.deepEqual([now, iso], [Date.UTC(2024, 0, 1), '2024-01-01T00:00:00.000Z']);
    const other = await createSandbox({ seed: 7, now: 0 });
    try {
      const c = await other.run({ code });
      assert.notEqual((c.value as number[])[0], r1);
      assert.equal((c.value as number[])[2], 0);
    } finally {
      await other.close();
    }
  });

  test('runs in parallel across the pool, results in order of their requests', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sandbox.run({ code: 'function f(x) { return x * x }', entry: 'f', args: [i] })));
    assert.deepEqual(results.map((r) => r.value), Array.from({ length: 50 }, (_, i) => i * i));
    // A hung run holds one isolate; the other keeps serving.
    const hung = sandbox.run({ code: 'while (true) {}' });
    const quick = await sandbox.run({ code: '"quick"' });
    assert.equal(quick.value, 'quick');
    assert.equal((await hung).status, 'timeout');
  });

  test('bad requests and options are refused with the field named', async () => {
    await assert.rejects(sandbox.run({ code: '1', entry: 'a; process' }), (e: Error) => e instanceof InvalidArgumentError && /entry/.test(e.message));
    await assert.rejects(sandbox.run({ code: 42 as unknown as string }), /code/);
    await assert.rejects(sandbox.run({ code: '1', args: 'x' as unknown as unknown[] }), /args/);
    await assert.rejects(createSandbox({ memoryMb: 4 }), /memoryMb/);
    await assert.rejects(createSandbox({ concurrency: 0 }), /concurrency/);
    const closed = await createSandbox();
    await closed.close();
    assert.equal((await closed.run({ code: '1' })).status, 'closed');
  });
});
