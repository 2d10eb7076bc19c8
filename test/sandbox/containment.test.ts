/**
 * Containment (issue: "a sandbox that holds"): each attack that once crashed,
 * hung or bloated the host, or leaked the host's state, now gets a status
 * while the host stays responsive and small, no core stays busy after the
 * run, and the next run is correct and fast.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import { probeIsolation, procUsage } from '../../src/sandbox/isolation.js';
import type { RunRequest, RunResult, Sandbox } from '../../src/sandbox/run-types.js';
import { codeVerifier, loadCodeTasks } from '../../src/tasks/code.js';
import { InvalidArgumentError, TaskFileError } from '../../src/errors.js';
import { Executor } from '../../src/selfplay/executor.js';
import type { Task } from '../../src/spec/task.js';

const LIMIT_MS = 400;
const linux = probeIsolation().monitor === 'proc';
let sandbox: Sandbox;
before(async () => {
  sandbox = await createSandbox({ timeoutMs: LIMIT_MS, memoryMb: 64, concurrency: 2 });
});
after(() => sandbox.close());

/** CPU ticks (10 ms) of a process; 0 once it is gone. */
const cpuTicks = (pid: number) => procUsage(pid)?.cpuTicks ?? 0;

/**
 * Runs one attack and checks the host around it: its event loop kept ticking
 * (no stall over 250 ms), its RSS grew by less than 64 MB, and afterwards no
 * sandbox process keeps a core busy and an innocent run is right within 1 s.
 */
async function contained(request: RunRequest, statuses: RunResult['status'][], options: { maxMs?: number } = {}): Promise<RunResult> {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let last = performance.now();
  let stall = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 10);
  const started = performance.now();
  const result = await sandbox.run(request);
  const elapsed = performance.now() - started;
  clearInterval(ticker);
  const label = `${request.code.slice(0, 80)} → ${JSON.stringify({ ...result, value: undefined, encoded: result.encoded?.slice(0, 80) })}`;
  assert.ok(statuses.includes(result.status), `${label}: status is one of ${statuses.join(', ')}`);
  assert.ok(elapsed < (options.maxMs ?? 4000), `${label}: answered in ${elapsed.toFixed(0)} ms`);
  assert.ok(stall < 250, `${label}: the host's event loop stalled ${stall.toFixed(0)} ms`);
  assert.ok(process.memoryUsage().rss - rssBefore < 64e6, `${label}: host RSS grew ${((process.memoryUsage().rss - rssBefore) / 1e6).toFixed(0)} MB`);
  if (linux) {
    // Nothing keeps working after the result: over 300 ms the pool's processes use (almost) no CPU.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const pids = sandbox.processes!();
    const before = pids.map(cpuTicks);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const burnt = pids.reduce((sum, pid, i) => sum + Math.max(0, cpuTicks(pid) - before[i]), 0);
    // A core left busy burns ≥ 300 ms in this window; 150 ms allows a replacement child's start-up.
    assert.ok(burnt <= 15, `${label}: the sandbox's processes used ${burnt * 10} ms of CPU in the 300 ms after`);
  }
  const t0 = performance.now();
  const probe = await sandbox.run({ code: 'function twice(x) { return 2 * x }', entry: 'twice', args: [21] });
  assert.deepEqual([probe.status, probe.value], ['ok', 42], `${label}: the next run is correct`);
  assert.ok(performance.now() - t0 < 1000, `${label}: the next run took ${(performance.now() - t0).toFixed(0)} ms`);
  return result;
}

describe('sandbox containment: the host survives, stays small and responsive', () => {
  test('a fatal V8 error (an invalid string-to-array size) kills a child, not the host', async () => {
    const result = await contained({ code: "'x'.repeat(2 ** 27 + 16).split('').length" }, ['crash', 'memory']);
    assert.match(result.error!, /sandbox process died|out of memory/);
  });

  test('builtins that never check for interrupts are stopped at the limit, and stay stopped', async () => {
    const attacks = [
      'Array.prototype.reverse.call({ length: 2 ** 27 })',
      'const a = []; a.length = 2 ** 27; a.indexOf(1)',
      'Array.from({ length: 1e6 }, (_, i) => (i * 7919) % 1000003).sort().length',
      'new Float32Array(1.2e7).sort().length',
      "JSON.parse('[' + '1,'.repeat(2e7) + '1]').length",
      '(3n ** 40000000n) > 0n',
      'throw new Proxy({}, { get() { for (;;) {} } })',
      "const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for (;;) {} } }); throw e",
      'Array.prototype.indexOf.call({ length: 2 ** 32 }, 1)',
    ];
    for (const code of attacks) {
      const result = await contained({ code }, ['timeout', 'memory', 'ok', 'error']);
      if (result.status === 'ok' || result.status === 'error') assert.ok(result.durationMs < LIMIT_MS * 3, `${code}: finished inside its limit (${result.durationMs.toFixed(0)} ms)`);
    }
  });

  test('a replaced globalThis reaches neither stdout nor the result: both come from references taken before the code ran', async () => {
    const forged = await contained({ code: 'globalThis = { __autodidactStdout: () => "FORGED".repeat(1e6) }; console.log("real"); 1' }, ['ok']);
    assert.deepEqual([forged.value, forged.stdout], [1, 'real\n']);
    const spin = await contained({ code: 'globalThis = { get __autodidactStdout() { for (;;) {} } }; console.log("real"); 2' }, ['ok'], { maxMs: LIMIT_MS * 2 });
    assert.deepEqual([spin.value, spin.stdout], [2, 'real\n']);
  });

  test('memory outside the V8 heap limit is the child’s to lose: the host pays nothing, the next run is not penalised', async () => {
    const attacks = [
      "'x'.repeat(2 ** 29 - 24).indexOf('y')",
      'const b = new ArrayBuffer(1, { maxByteLength: 2 ** 28 }); b.resize(2 ** 28); new Uint8Array(b).fill(1); b.byteLength',
      "'x'.repeat(2 ** 29 - 24)",
      "Array(300).fill('x'.repeat(1e6))",
      "throw new Error('x'.repeat(2 ** 29 - 100))",
      "Error.prepareStackTrace = () => 'x'.repeat(2 ** 29 - 24); throw new Error('big stack')",
    ];
    for (const code of attacks) {
      const result = await contained({ code }, ['memory', 'error', 'crash', 'timeout']);
      if (result.status === 'error') assert.ok(result.error!.length <= 2100, `${code}: the error is cut to size (${result.error!.length})`);
    }
  });

  test('a result that takes long to copy is inside the timed call', async () => {
    await contained({ code: 'Array.from({ length: 8e5 }, (_, i) => ({ i }))' }, ['timeout', 'error', 'ok'], { maxMs: LIMIT_MS * 6 });
  });

  test('no real clock on any path: prototypes and Intl see the fixed instant', async () => {
    const result = await contained({ code: '[new Date().constructor.now(), Date.prototype.constructor.now(), new Intl.DateTimeFormat("en-US", { timeZone: "UTC" }).format(), Date.now(), new Date().getTime()]' }, ['ok']);
    const fixed = Date.UTC(2024, 0, 1);
    assert.deepEqual(result.value, [fixed, fixed, '1/1/2024', fixed, fixed]);
  });

  test('the host’s time zone and locale do not leak: UTC and en-US inside, whatever the host has', async () => {
    const saved = { TZ: process.env.TZ, LC_ALL: process.env.LC_ALL, LANG: process.env.LANG };
    Object.assign(process.env, { TZ: 'Pacific/Chatham', LC_ALL: 'de_DE.UTF-8', LANG: 'de_DE.UTF-8' });
    const other = await createSandbox({ timeoutMs: LIMIT_MS });
    try {
      const result = await other.run({ code: '[new Date().getTimezoneOffset(), new Date().toString(), (1234.5).toLocaleString(), Intl.DateTimeFormat().resolvedOptions().timeZone, Intl.DateTimeFormat().resolvedOptions().locale]' });
      assert.deepEqual(result.value, [0, 'Mon Jan 01 2024 00:00:00 GMT+0000 (Coordinated Universal Time)', '1,234.5', 'UTC', 'en-US']);
    } finally {
      for (const [key, value] of Object.entries(saved)) if (value === undefined) delete process.env[key];
      else process.env[key] = value;
      await other.close();
    }
  });

  test('registries do not accumulate across runs: Symbol.for keys die with a recycled isolate', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await sandbox.run({ code: `for (let i = 0; i < 2000; i++) Symbol.for('k${i}'.repeat(2500) + i); 1` });
      assert.equal(r.status, 'ok');
    }
    // 32 MB of doubles: fits a fresh 64 MB isolate, not one still holding 30 MB of registered keys.
    assert.equal((await sandbox.run({ code: 'new Array(4e6).fill(1.5).length' })).value, 4e6);
  });

  test('the limit is CPU time: an honest run passes while the pool is crowded with spinning runs', { timeout: 120_000 }, async () => {
    // About 150 ms of work on this machine, measured here the same way.
    const work = (n: number) => `let x = 0; for (let i = 0; i < ${n}; i++) x = (x + i * i) % 1000003; x`;
    const probe = await sandbox.run({ code: work(1e6) });
    const n = Math.round(1e6 * (150 / Math.max(1, probe.durationMs)));
    const crowded = await createSandbox({ timeoutMs: LIMIT_MS, memoryMb: 16, concurrency: 32 });
    try {
      const spinners = Array.from({ length: 31 }, () => crowded.run({ code: 'for (;;) {}' }));
      const honest = await crowded.run({ code: work(n) });
      assert.equal(honest.status, 'ok', `an honest run of ~150 ms CPU among 31 spinners: ${JSON.stringify(honest)}`);
      for (const spinner of await Promise.all(spinners)) assert.equal(spinner.status, 'timeout');
    } finally {
      await crowded.close();
    }
  });
});

describe('sandbox lifecycle', () => {
  test('close() drains runs in flight, answers queued ones `closed`, and resolves after every child has exited', async () => {
    const pool = await createSandbox({ timeoutMs: LIMIT_MS, concurrency: 1 });
    const pids = pool.processes!();
    const first = pool.run({ code: '6 * 7' });
    const queued = [1, 2, 3, 4].map((i) => pool.run({ code: String(i) }));
    await pool.close();
    const results = await Promise.all([first, ...queued]);
    // The first runs; the second already waits in the child's pipe and drains; the rest never started.
    assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'closed', 'closed', 'closed']);
    assert.deepEqual([results[0].value, results[1].value], [42, 1]);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `child ${pid} has exited`);
    assert.equal((await pool.run({ code: '3' })).status, 'closed');
  });

  test('the host process can exit at once after close(), every time', () => {
    const module = fileURLToPath(new URL('../../src/sandbox/sandbox.js', import.meta.url));
    const script = `import { createSandbox } from ${JSON.stringify(module)};
const s = await createSandbox({ timeoutMs: 200 });
const r = s.run({ code: 'while (true) {}' });
await s.run({ code: '6 * 7' });
await s.close();
process.exit((await r).status === 'timeout' ? 0 : 3);`;
    for (let i = 0; i < 4; i++) {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
      assert.deepEqual([child.status, child.signal], [0, null], child.stderr);
    }
  });
});

describe('sandbox OS limits', { skip: linux ? false : 'needs /proc (Linux)' }, () => {
  test('each child runs under rlimits: no file writes, no core dumps, a bounded data segment', () => {
    for (const pid of sandbox.processes!()) {
      const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
      assert.match(limits, /Max file size\s+0\s+0\s+bytes/);
      assert.match(limits, /Max core file size\s+0\s+0\s+bytes/);
      const data = /Max data size\s+(\d+)/.exec(limits);
      assert.ok(data && Number(data[1]) <= (256 + 3 * 64) * 1024 * 1024, `data limit ${data?.[1]}`);
    }
  });

  test('each child has its own empty network namespace where the kernel allows it', (t) => {
    if (probeIsolation().network !== 'namespace') return t.skip('unprivileged network namespaces are not available here');
    const host = readlinkSync(`/proc/${process.pid}/ns/net`);
    for (const pid of sandbox.processes!()) {
      assert.notEqual(readlinkSync(`/proc/${pid}/ns/net`), host);
      // Only the loopback interface, and it is down.
      const dev = readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2).filter(Boolean).map((line) => line.trim().split(':')[0]);
      assert.deepEqual(dev, ['lo']);
    }
  });

  test('the environment is minimal: none of the host’s variables reach a child', () => {
    process.env.AUTODIDACT_SECRET_TEST = 'hunter2';
    try {
      for (const pid of sandbox.processes!()) assert.doesNotMatch(readFileSync(`/proc/${pid}/environ`, 'utf8'), /hunter2|AUTODIDACT_SECRET/);
    } finally {
      delete process.env.AUTODIDACT_SECRET_TEST;
    }
  });
});

describe('the code verifier compares what the tests mean', () => {
  const task = (tests: { args: unknown[]; expected: unknown }[], body: string): [Task, string] => [{ id: 'js/t', family: 'code', prompt: 'function f(s) {\n', meta: { entryPoint: 'f', tests } }, body];

  test('NaN is not null; an own __proto__ key is kept on both sides', async () => {
    const verifier = codeVerifier(sandbox);
    const [nan, nanBody] = task([{ args: [''], expected: null }], '  return 0 / 0;\n}\n');
    const v1 = await verifier.verify(nan, nanBody);
    assert.ok(v1.status === 'scored' && !v1.pass && /got NaN/.test(v1.feedback), JSON.stringify(v1));
    const [proto, protoBody] = task([{ args: ['{"__proto__":1,"a":2}'], expected: JSON.parse('{"__proto__":1,"a":2}') }], '  return JSON.parse(s);\n}\n');
    const v2 = await verifier.verify(proto, protoBody);
    assert.ok(v2.status === 'scored' && v2.pass, JSON.stringify(v2));
  });

  test('a task line nested too deep is refused at load, naming the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'autodidact-deep-'));
    try {
      const file = join(dir, 'deep.jsonl');
      const deep = '['.repeat(20_000) + ']'.repeat(20_000);
      writeFileSync(file, `${JSON.stringify({ task_id: 'ok', prompt: 'function f() {\n', entry_point: 'f', tests: [{ args: [], expected: 1 }] })}\n{"task_id":"deep","prompt":"function f() {\\n","entry_point":"f","tests":[{"args":[],"expected":${deep}}]}\n`);
      assert.throws(() => loadCodeTasks(file), (e: Error) => e instanceof TaskFileError && /deep\.jsonl:2: .*expected.*nested more than 64 levels/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('red-team, second pass: the verifier is exact both ways, the pool stays fair and bounded', () => {
  const fn = (name: string, prompt: string, tests: { args: unknown[]; expected: unknown }[]): Task => ({ id: `js/${name}`, family: 'code', prompt, meta: { entryPoint: name, tests } });
  const verify = async (task: Task, completion: string, timeoutMs?: number) => codeVerifier(sandbox, { timeoutMs }).verify(task, completion);
  const passes = async (task: Task, completion: string, timeoutMs?: number) => {
    const v = await verify(task, completion, timeoutMs);
    assert.ok(v.status === 'scored' && v.pass, `${completion} → ${JSON.stringify(v)}`);
  };
  const fails = async (task: Task, completion: string, feedback: RegExp) => {
    const v = await verify(task, completion);
    assert.ok(v.status === 'scored' && !v.pass && feedback.test(v.feedback), `${completion} → ${JSON.stringify(v)}`);
  };
  const add = [{ args: [1, 2], expected: 3 }, { args: [-3, 0], expected: -3 }];

  test('right programs pass: strict mode, a const entry, an async entry, a −0 where the test says 0, console.assert', async () => {
    await passes(fn('add', "'use strict';\nfunction add(a, b) {\n", add), 'return a + b }');
    await passes(fn('add', 'const add = (a, b) => {\n', add), 'return a + b }');
    await passes(fn('add', 'async function add(a, b) {\n', add), 'return a + b }');
    await passes(fn('mul', 'function mul(a, b) {\n', [{ args: [-3, 0], expected: 0 }, { args: [2, 3], expected: 6 }]), 'console.assert(true); console.assert(false, "shown"); return a * b }');
    // A test that asks for −0 gets exactly −0.
    await fails(fn('mul', 'function mul(a, b) {\n', [{ args: [3, 0], expected: -0 }]), 'return a * b }', /expected 0, got 0/);
  });

  test('wrong programs fail: nothing the program declares reaches the harness, and a Promise or a boxed value is not {}', async () => {
    const task = fn('add', 'function add(a, b) {\n', add);
    await fails(task, "return 0 }\nlet __autodidactEncode = (v) => 'FORGED';", /got 0/);
    await fails(task, "return 0 }\nvar __autodidactTests = (l) => l.map(() => ({ json: '3' }));", /got 0/);
    const empty = fn('mk', 'function mk() {\n', [{ args: [], expected: {} }]);
    await fails(empty, 'return new Promise(() => {}) }', /timed out/);
    await fails(empty, 'return Promise.resolve(5) }', /expected \{\}, got 5/);
    for (const body of ['return new Number(5) }', 'return new Error("x") }', 'return new Uint8Array(0) }', 'return new (class P {})() }']) await fails(empty, body, /cannot be compared/);
  });

  test('large honest results within the limits pass: many tests near the per-test size, many plain objects', async () => {
    const row = Array.from({ length: 16_000 }, (_, i) => 10_000 + i);
    await passes(fn('rows', 'function rows() {\n', Array.from({ length: 11 }, () => ({ args: [], expected: row }))), `return Array.from({ length: 16000 }, (_, i) => 10000 + i) }`, 2000);
    const objects = Array.from({ length: 4000 }, (_, id) => ({ id }));
    await passes(fn('objs', 'function objs() {\n', Array.from({ length: 10 }, () => ({ args: [], expected: objects }))), 'return Array.from({ length: 4000 }, (_, id) => ({ id })) }', 1000);
  });

  test('large results leave the host responsive: they are decoded only when read', async () => {
    let last = performance.now();
    let stall = 0;
    const ticker = setInterval(() => {
      stall = Math.max(stall, performance.now() - last);
      last = performance.now();
    }, 10);
    const results = await Promise.all(Array.from({ length: 8 }, () => sandbox.run({ code: 'new Array(499999).fill(0)' })));
    clearInterval(ticker);
    assert.ok(results.every((r) => r.status === 'ok' && r.encoded!.length === 999_999));
    assert.ok(stall < 250, `the host's event loop stalled ${stall.toFixed(0)} ms`);
    assert.equal((results[0].value as number[]).length, 499_999);
  });

  test('an output too long for any format is not memoized by the Absolute Zero executor', async () => {
    const executor = new Executor(sandbox);
    const program = 'function f(x) { return new Array(200000).fill(x) }';
    for (let i = 0; i < 2; i++) assert.equal((await executor.validate({ program, input: 1 })).valid, false);
    assert.equal(executor.counts.cached, 0, 'each validation ran the program again');
  });

  test('a request too large to send is refused before it reaches a child; the run in that child is unaffected', async () => {
    const innocent = sandbox.run({ code: 'let x = 0; for (let i = 0; i < 2e6; i++) x += i % 3; x' });
    await assert.rejects(sandbox.run({ code: '1 //' + '\u0000'.repeat(2_900_000) }), (e: Error) => e instanceof InvalidArgumentError && /bytes; the sandbox takes at most/.test(e.message));
    const result = await innocent;
    assert.equal(result.status, 'ok', JSON.stringify(result));
  });

  test('close() answers every run, also after a child crashes under it', async () => {
    const pool = await createSandbox({ timeoutMs: LIMIT_MS, concurrency: 1 });
    const runs = [pool.run({ code: "'x'.repeat(2 ** 27 + 16).split('')" }), pool.run({ code: '1 + 1' }), pool.run({ code: '2 + 2' })];
    await new Promise((resolve) => setTimeout(resolve, 20));
    await pool.close();
    const statuses = await Promise.race([Promise.all(runs).then((rs) => rs.map((r) => r.status)), new Promise((resolve) => setTimeout(() => resolve('unanswered'), 5000))]);
    assert.deepEqual(statuses, ['crash', 'closed', 'closed']);
  });

  test('a run never waits behind a never-settling one while a child is free', async () => {
    const hung = sandbox.run({ code: 'new Promise(() => {})' });
    const quick = await Promise.all([sandbox.run({ code: '1' }), sandbox.run({ code: '2' })]);
    assert.deepEqual(quick.map((r) => [r.status, r.value]), [['ok', 1], ['ok', 2]]);
    assert.ok(quick.every((r) => r.durationMs < 500));
    assert.equal((await hung).status, 'timeout');
  });

  test('options that would overflow a reply are refused', async () => {
    await assert.rejects(createSandbox({ maxStdout: 1_500_000 }), (e: Error) => e instanceof InvalidArgumentError && /maxStdout/.test(e.message));
  });
});
