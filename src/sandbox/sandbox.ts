/**
 * The sandbox: model-written JavaScript runs in a pool of child processes,
 * never in the host. Each child (./child.ts) runs one program at a time in an
 * isolated-vm isolate, in a fresh context with nothing but the language, a
 * capped console, a seeded Math.random and a fixed clock (./prelude.ts).
 * Around that JavaScript boundary the host adds an OS one:
 *
 * - each child starts under rlimits (data segment, no file writes, no core
 *   dumps) and, where the kernel lets an unprivileged process, in a network
 *   namespace of its own with no interfaces; a minimal environment with
 *   TZ=UTC and an en-US locale, whatever the host's;
 * - the host reads each busy child's CPU time and resident memory from /proc
 *   and kills a child past either; a wall-clock backstop covers the rest;
 * - messages from a child are length-checked before they are read.
 *
 * The limit of a run is CPU time, so a crowded pool does not fail honest
 * code; a run that never settles (waits, not works) is stopped by the wall
 * clock, which allows `timeoutMs` × (concurrency ÷ cores, at least 1) × 2.
 * A child that crashes, hangs or exceeds its memory is killed and replaced;
 * the run gets a status. See docs/sandbox.md for the threat model.
 *
 *   const sandbox = await createSandbox({ timeoutMs: 200, memoryMb: 64, concurrency: 2 });
 *   await sandbox.run({ code: 'function add(a, b) { return a + b }', entry: 'add', args: [2, 3] }); // { status: 'ok', value: 5, … }
 *   await sandbox.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AutodidactError, InvalidArgumentError } from '../errors.js';
import { canonical, decodeCanonical } from './canonical.js';
import type { ChildConfig, ChildRequest, ChildResult } from './messages.js';
import { encodeFrame, FrameReader } from './frames.js';
import { probeIsolation, procUsage } from './isolation.js';
import type { RunRequest, RunResult, RunStatus, Sandbox } from './run-types.js';

export interface SandboxOptions {
  /** CPU-time limit of one run (default 1000 ms); see the wall-clock backstop above. */
  timeoutMs?: number;
  /** Heap limit of an isolate (default 64 MB; isolated-vm's minimum is 8). The child's resident memory may reach 2 × this + 128 MB. */
  memoryMb?: number;
  /** Child processes running in parallel (default 2). */
  concurrency?: number;
  /** Seed of the in-sandbox `Math.random` (default 0): every run starts the same stream. */
  seed?: number;
  /** What `Date.now()` and `new Date()` return inside (default 2024-01-01T00:00:00Z). */
  now?: number;
  /** Characters of stdout kept per run (default 10,000, at most 100,000); the rest is dropped and marked. */
  maxStdout?: number;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** Bytes of one request to a child (code and encoded arguments, as a frame); a larger request is refused before it is sent. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/**
 * Characters of everything a run's outcome carries (results, error descriptions), bounded inside the
 * sandbox; with stdout (≤ 100,000) and JSON escaping (≤ 6 bytes a character) a reply stays under MAX_REPLY_BYTES.
 */
const MAX_OUTCOME_CHARS = 2_000_000;
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
const MAX_STDOUT = 100_000;
const MAX_ERROR = 2000;
/** Runs a child holds at once: one running, one waiting in its pipe. */
const PIPELINE = 2;
/** USER_HZ, the unit of CPU times in /proc/<pid>/stat: 100 on every Linux ABI. */
const TICK_MS = 10;

interface Job {
  request: ChildRequest;
  /** The request as the frame sent to the child, built (and its size checked) when the run is accepted. */
  frame: Buffer;
  resolve: (result: RunResult) => void;
  started: number;
  cpuTicksAtStart?: number;
  backstop?: NodeJS.Timeout;
  /** A cancel was sent for it (it waits in a child's pipe and another child is idle). */
  cancelling?: boolean;
}

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  isReady: boolean;
  /**
   * The runs sent to it: the first is running, a second may wait in its pipe (PIPELINE), so the child
   * never idles for the host's round trip. When another child falls idle, a waiting run is taken back
   * (a cancel the child honours while the run has not started), so no run waits behind a slow one.
   */
  jobs: Job[];
  /** Why the host killed it, when it did. */
  killed?: { status: RunStatus; error: string };
  stderr: string;
  exited: Promise<void>;
}

export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const memoryMb = options.memoryMb ?? 64;
  const concurrency = options.concurrency ?? 2;
  if (!(timeoutMs > 0)) throw new InvalidArgumentError('timeoutMs', `must be > 0, got ${timeoutMs}`);
  if (!(memoryMb >= 8)) throw new InvalidArgumentError('memoryMb', `must be ≥ 8 (isolated-vm's minimum), got ${memoryMb}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError('concurrency', `must be a positive integer, got ${concurrency}`);
  const maxStdout = options.maxStdout ?? 10_000;
  if (!Number.isInteger(maxStdout) || maxStdout < 0 || maxStdout > MAX_STDOUT) throw new InvalidArgumentError('maxStdout', `must be an integer in [0, ${MAX_STDOUT}], got ${maxStdout}`);
  const isolation = probeIsolation();
  const config: ChildConfig = {
    memoryMb,
    seed: options.seed ?? 0,
    now: options.now ?? Date.UTC(2024, 0, 1),
    maxStdout,
    maxError: MAX_ERROR,
    maxOutcome: MAX_OUTCOME_CHARS,
    recycleEvery: 200,
    maxRequestBytes: MAX_REQUEST_BYTES,
  };
  /** Resident memory a child may use: its own Node runtime (≈ 60 MB), the isolate's heap and what V8 keeps outside it. */
  const rssLimitKb = (128 + 2 * memoryMb) * 1024;
  /** The rlimit behind it, for allocations faster than the host's polling; thread stacks count here but are not resident. */
  const dataLimitKb = (256 + 3 * memoryMb) * 1024;
  const oversubscription = Math.max(1, concurrency / availableParallelism());
  const wallFor = (cpuMs: number) => Math.ceil(cpuMs * oversubscription * 2 + 100);

  const timedOut = (job: Job) => `timed out after ${job.request.cpuMs} ms`;
  const outOfMemory = `out of memory (limit ${memoryMb} MB)`;
  const notStarted = (): RunResult => ({ status: 'closed', error: 'the sandbox was closed before this run started', stdout: '', durationMs: 0 });

  const children: Child[] = [];
  const queue: Job[] = [];
  let closed = false;
  let nextId = 0;
  let monitor: NodeJS.Timeout | undefined;
  let startFailures = 0;

  const command = (): [string, string[]] => {
    const node = [process.execPath, '--max-old-space-size=256', fileURLToPath(new URL('./child.js', import.meta.url)), JSON.stringify(config)];
    const inner = isolation.network === 'namespace' ? ['unshare', '-rn', '--', ...node] : node;
    if (!isolation.rlimits.length) return [inner[0], inner.slice(1)];
    return ['/bin/sh', ['-c', `ulimit -d ${dataLimitKb} && ulimit -f 0 && ulimit -c 0 && exec "$@"`, 'sandbox', ...inner]];
  };

  const spawnChild = (): Child => {
    const [file, args] = command();
    const proc = spawn(file, args, {
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', LANG: 'en_US.UTF-8', LC_ALL: 'en_US.UTF-8' },
    });
    let markReady!: () => void;
    let failReady!: (error: Error) => void;
    const child: Child = {
      process: proc,
      ready: new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject))),
      isReady: false,
      jobs: [],
      stderr: '',
      exited: new Promise<void>((resolve) => proc.once('close', () => resolve())),
    };
    child.ready.then(
      () => {
        child.isReady = true;
        startFailures = 0;
        idle(child, true);
        pump();
      },
      () => {},
    );
    const reader = new FrameReader(
      MAX_REPLY_BYTES,
      (message) => onMessage(child, message as ChildResult | { type: 'ready' }, markReady),
      (why) => kill(child, 'error', `the sandbox process sent a bad reply (${why})`),
    );
    (proc.stdio[3] as Readable).on('data', (chunk: Buffer) => reader.push(chunk));
    proc.stderr!.on('data', (chunk: Buffer) => {
      if (child.stderr.length < 4000) child.stderr += chunk.toString('utf8').slice(0, 4000 - child.stderr.length);
    });
    proc.stdin!.on('error', () => {}); // a child that died mid-write; its exit reports the run
    proc.on('error', (error) => failReady(error));
    // 'close', not 'exit': by then stderr is read to its end (a fatal error's message arrives last).
    proc.once('close', (code, signal) => {
      failReady(new Error(`the sandbox process exited at start (${signal ?? `code ${code}`}): ${child.stderr.trim().slice(0, 500)}`));
      onExit(child, code, signal);
    });
    return child;
  };

  /** An idle pool keeps no host process alive; a starting or busy child does. */
  const idle = (child: Child, yes: boolean) => {
    const handles = [child.process, child.process.stdin, child.process.stderr, child.process.stdio[3]] as unknown as { ref(): void; unref(): void }[];
    for (const handle of handles) if (handle && typeof handle.unref === 'function') (yes ? handle.unref() : handle.ref());
  };

  const onMessage = (child: Child, message: ChildResult | { type: 'ready' } | { type: 'cancelled'; id: number }, markReady: () => void) => {
    if (message.type === 'ready') return markReady();
    if (message.type === 'cancelled') {
      const at = child.jobs.findIndex((j, i) => i > 0 && j.request.id === message.id);
      if (at > 0) requeue(child.jobs.splice(at, 1)[0]);
      return pump();
    }
    const job = child.jobs[0];
    if (!job || message.id !== job.request.id || child.killed) return;
    const error = message.status === 'timeout' ? timedOut(job) : message.status === 'memory' ? outOfMemory : message.error;
    const result: Omit<RunResult, 'durationMs'> = { status: message.status, ...(error !== undefined ? { error } : {}), stdout: message.stdout };
    if (message.status === 'ok' && message.calls) result.calls = message.calls;
    else if (message.status === 'ok') {
      // Decoded when read: a verifier compares the text, and a large result is then never rebuilt on the host.
      const encoded = message.encoded ?? '';
      let decoded: { value: unknown } | undefined;
      Object.defineProperty(result, 'value', { enumerable: true, configurable: true, get: () => (decoded ??= { value: decodeCanonical(encoded) }).value });
      result.encoded = encoded;
    }
    finish(child, result);
  };

  /** The running job's result; the child moves on to the one waiting in its pipe, if any. */
  const finish = (child: Child, result: Omit<RunResult, 'durationMs'>) => {
    const job = child.jobs.shift();
    if (!job) return;
    clearTimeout(job.backstop);
    // Assigned, not spread: a lazily decoded value stays lazy.
    job.resolve(Object.assign(result, { durationMs: performance.now() - job.started }) as RunResult);
    if (child.jobs.length) begin(child, child.jobs[0]);
    else idle(child, true);
    pump();
  };

  /** A job becomes the one its child runs: its clocks start. */
  const begin = (child: Child, job: Job) => {
    job.started = performance.now();
    job.backstop = setTimeout(() => kill(child, 'timeout', timedOut(job)), job.request.wallMs + 1000);
    if (isolation.monitor === 'proc' && !monitor) monitor = setInterval(watch, 10);
  };

  const kill = (child: Child, status: RunStatus, error: string) => {
    if (child.killed) return;
    child.killed = { status, error };
    child.process.kill('SIGKILL');
  };

  const onExit = (child: Child, code: number | null, signal: NodeJS.Signals | null) => {
    const at = children.indexOf(child);
    if (at >= 0) children.splice(at, 1);
    if (child.jobs.length) {
      // The running job gets the status; one waiting in the pipe never started: it goes back to the queue,
      // or, once the sandbox is closed, is answered `closed`.
      for (const waiting of child.jobs.splice(1).reverse()) requeue(waiting);
      const { status, error } = child.killed ?? crashStatus(child.stderr, code, signal);
      finish(child, { status, error, stdout: '' });
    }
    if (closed || at < 0) return;
    if (!child.isReady && ++startFailures > 5) {
      // The machine will not start children (out of processes or memory): fail what waits rather than hang.
      for (const job of queue.splice(0)) job.resolve({ status: 'crash', error: `the sandbox cannot start a child process: ${child.stderr.trim().slice(0, 300) || `exit ${signal ?? code}`}`, stdout: '', durationMs: 0 });
      return;
    }
    setTimeout(() => {
      if (!closed) children.push(spawnChild());
    }, child.isReady ? 0 : 100);
  };

  /** How a child that died on its own died: V8 out of memory is `memory`, anything else `crash` with the fatal message. */
  const crashStatus = (stderr: string, code: number | null, signal: NodeJS.Signals | null): { status: RunStatus; error: string } => {
    if (/heap limit|out of memory|is_heap_oom|allocation failed|bad_alloc|Cannot allocate memory/i.test(stderr)) return { status: 'memory', error: outOfMemory };
    const lines = stderr.split('\n').map((line) => line.replace(/^#\s*/, '').trim());
    const fatal = lines.find((line) => /Fatal JavaScript|invalid|Check failed|Segmentation/i.test(line)) ?? lines.find((line) => /fatal|error/i.test(line) && !/^Fatal error in .*line \d+$/.test(line));
    return { status: 'crash', error: `the sandbox process died (${signal ?? `exit code ${code}`})${fatal ? `: ${fatal.slice(0, 300)}` : ''}` };
  };

  /** Every 10 ms, each busy child's CPU time and resident memory against its run's limits. */
  const watch = () => {
    let busy = 0;
    for (const child of children) {
      const job = child.jobs[0];
      if (!job || child.killed || child.process.pid === undefined) continue;
      busy++;
      const now = procUsage(child.process.pid);
      if (!now) continue;
      // The baseline is read at the first look, not at the start: a run of a millisecond never pays for /proc (the limit gains ≤ 10 ms).
      job.cpuTicksAtStart ??= now.cpuTicks;
      if (now.rssKb > rssLimitKb) kill(child, 'memory', `out of memory (limit ${memoryMb} MB; the process held ${Math.round(now.rssKb / 1024)} MB)`);
      // The child stops interruptible code at the limit itself; this catches builtins that never check, with room for the child's own work.
      else if ((now.cpuTicks - job.cpuTicksAtStart) * TICK_MS > job.request.cpuMs * 1.25 + 100) kill(child, 'timeout', timedOut(job));
    }
    if (!busy && monitor) {
      clearInterval(monitor);
      monitor = undefined;
    }
  };

  const send = (child: Child, job: Job) => {
    child.jobs.push(job);
    if (child.jobs.length === 1) {
      idle(child, false);
      begin(child, job);
    }
    child.process.stdin!.write(job.frame);
  };

  /** A run that never started goes back to the front of the queue; once the sandbox is closed it is answered `closed`. */
  const requeue = (job: Job) => {
    job.cancelling = false;
    if (closed) job.resolve(notStarted());
    else queue.unshift(job);
  };

  const usable = (c: Child) => c.isReady && !c.killed && c.process.exitCode === null;

  /** Queued runs go to idle children first, then into a busy child's pipe; an idle child takes back a waiting run. */
  const pump = () => {
    for (const c of children) if (usable(c) && !c.jobs.length && queue.length) send(c, queue.shift()!);
    for (const c of children) if (usable(c) && c.jobs.length === 1 && queue.length) send(c, queue.shift()!);
    if (queue.length || closed) return;
    let idleChildren = children.filter((c) => usable(c) && !c.jobs.length).length;
    for (const c of children) {
      const waiting = c.jobs.length === PIPELINE ? c.jobs[1] : undefined;
      if (idleChildren <= 0) break;
      if (waiting && !waiting.cancelling && !c.killed) {
        waiting.cancelling = true;
        idleChildren--;
        c.process.stdin!.write(encodeFrame({ type: 'cancel', id: waiting.request.id }));
      }
    }
  };

  for (let i = 0; i < concurrency; i++) children.push(spawnChild());
  try {
    await Promise.all(children.map((child) => child.ready));
  } catch (error) {
    closed = true;
    for (const child of children) child.process.kill('SIGKILL');
    throw new SandboxStartError((error as Error).message);
  }

  return {
    processes: () => children.flatMap((child) => (child.process.pid !== undefined && child.process.exitCode === null ? [child.process.pid] : [])),
    async run(request: RunRequest): Promise<RunResult> {
      if (typeof request.code !== 'string') throw new InvalidArgumentError('code', `must be a string, got ${typeof request.code}`);
      if (request.entry !== undefined && !IDENTIFIER.test(request.entry)) throw new InvalidArgumentError('entry', `must be a function name (an identifier), got ${JSON.stringify(request.entry)}`);
      if (request.args !== undefined && !Array.isArray(request.args)) throw new InvalidArgumentError('args', 'must be an array');
      if (request.timeoutMs !== undefined && !(request.timeoutMs > 0)) throw new InvalidArgumentError('timeoutMs', `must be > 0, got ${request.timeoutMs}`);
      if (request.calls !== undefined && (!Array.isArray(request.calls) || !request.calls.every(Array.isArray))) throw new InvalidArgumentError('calls', 'must be an array of argument lists (arrays)');
      if (request.calls !== undefined && (request.entry === undefined || request.args !== undefined)) throw new InvalidArgumentError('calls', 'needs `entry` and replaces `args`');
      if (closed) return { status: 'closed', error: 'the sandbox is closed', stdout: '', durationMs: 0 };
      const encode = (field: 'args' | 'calls', value: unknown[]) => {
        try {
          return canonical(value);
        } catch (error) {
          throw new InvalidArgumentError(field, `cannot be copied into the sandbox: ${(error as Error).message}`);
        }
      };
      const cpuMs = request.timeoutMs ?? timeoutMs;
      const childRequest: ChildRequest = {
        type: 'run',
        id: nextId++,
        code: request.code,
        ...(request.entry !== undefined ? { entry: request.entry } : {}),
        ...(request.args !== undefined ? { args: encode('args', request.args) } : {}),
        ...(request.calls !== undefined ? { calls: encode('calls', request.calls) } : {}),
        cpuMs,
        wallMs: wallFor(cpuMs),
      };
      // Measured as sent: JSON escapes some characters to 6 bytes, so a request is bounded by its frame, not its length.
      const frame = encodeFrame(childRequest);
      if (frame.length > MAX_REQUEST_BYTES) throw new InvalidArgumentError(request.calls ? 'calls' : request.args ? 'code` or `args' : 'code', `make a request of ${frame.length} bytes; the sandbox takes at most ${MAX_REQUEST_BYTES}`);
      return new Promise<RunResult>((resolve) => {
        queue.push({ request: childRequest, frame, resolve, started: 0 });
        pump();
      });
    },
    async close() {
      if (!closed) {
        closed = true;
        for (const job of queue.splice(0)) job.resolve(notStarted());
      }
      // Runs in flight finish (or hit their limits); then each child is asked to exit, and killed if it does not.
      await Promise.all(
        [...children].map(async (child) => {
          while (child.jobs.length) await new Promise<void>((resolve) => setTimeout(resolve, 5));
          child.process.stdin!.end();
          const grace = setTimeout(() => child.process.kill('SIGKILL'), 2000);
          await child.exited;
          clearTimeout(grace);
        }),
      );
    },
  };
}

/** The sandbox's child processes could not be started (the message says why). */
export class SandboxStartError extends AutodidactError {}
