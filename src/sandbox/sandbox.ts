/**
 * The sandbox: model-written JavaScript runs in V8 isolates (isolated-vm), never
 * in the host's own heap. Each run gets a fresh context in a pooled isolate: no
 * `process`, `require`, `import`, file system, network or host objects; only
 * the language, a `console` that writes to a capped stdout, a seeded
 * `Math.random` and a fixed clock, so the same code gives the same result;
 * nothing that schedules work past the call (WebAssembly, Atomics.waitAsync,
 * FinalizationRegistry) or shares memory (SharedArrayBuffer).
 * Arguments are deep-copied in and results deep-copied out (structured
 * clone): nothing the code does can reach a host object. A run that times
 * out, exhausts its memory or never settles gets a status, and its isolate is
 * disposed and replaced, never reused.
 *
 *   const sandbox = await createSandbox({ timeoutMs: 200, memoryMb: 64, concurrency: 2 });
 *   await sandbox.run({ code: 'function add(a, b) { return a + b }', entry: 'add', args: [2, 3] }); // { status: 'ok', value: 5, … }
 *   await sandbox.close();
 */
import ivm from 'isolated-vm';
import { InvalidArgumentError } from '../errors.js';

export interface SandboxOptions {
  /** Wall-clock limit of one run, including any promise it returns (default 1000 ms). */
  timeoutMs?: number;
  /** Heap limit of an isolate (default 64 MB; isolated-vm's minimum is 8). */
  memoryMb?: number;
  /** Isolates run in parallel, each on its own thread (default 2). */
  concurrency?: number;
  /** Seed of the in-sandbox `Math.random` (default 0): every run starts the same stream. */
  seed?: number;
  /** What `Date.now()` and `new Date()` return inside (default 2024-01-01T00:00:00Z). */
  now?: number;
  /** Characters of stdout kept per run (default 10,000); the rest is dropped and marked. */
  maxStdout?: number;
}

export interface RunRequest {
  /** A script. Without `entry` its completion value is the result. */
  code: string;
  /** The name of a function the script defines, called with `args`. */
  entry?: string;
  /** Arguments of `entry`, deep-copied in (structured clone). */
  args?: unknown[];
  /** This run's time limit (default the sandbox's). */
  timeoutMs?: number;
}

export type RunStatus = 'ok' | 'error' | 'timeout' | 'memory';

export interface RunResult {
  status: RunStatus;
  /** The result, deep-copied out (`ok` only). */
  value?: unknown;
  /** What went wrong (`error`, `timeout`, `memory`). */
  error?: string;
  /** What the code printed with console.log / console.error (capped). */
  stdout: string;
  durationMs: number;
}

export interface Sandbox {
  run(request: RunRequest): Promise<RunResult>;
  /** Disposes every isolate; runs in flight finish first. */
  close(): Promise<void>;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Builds the sandbox's global environment: console into a capped buffer, a
 * seeded Math.random, a fixed clock, a JSON encoder the harness can trust,
 * and no API that schedules work to run after the call returns
 * (WebAssembly's async compile, Atomics.waitAsync, FinalizationRegistry) or
 * shares memory with the host (SharedArrayBuffer).
 */
function prelude(seed: number, now: number, maxStdout: number): string {
  return `(() => {
  const stringify = JSON.stringify;
  let buffer = '';
  let dropped = false;
  const show = (v) => { try { return typeof v === 'string' ? v : stringify(v) ?? String(v); } catch { return String(v); } };
  const write = (...args) => {
    if (dropped) return;
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i ? ' ' : '') + show(args[i]);
    line += '\\n';
    if (buffer.length + line.length > ${maxStdout}) { buffer += line.slice(0, ${maxStdout} - buffer.length); dropped = true; return; }
    buffer += line;
  };
  const hidden = (name, value) => Object.defineProperty(globalThis, name, { value, enumerable: false, writable: false, configurable: false });
  hidden('__autodidactStdout', () => buffer + (dropped ? '…[stdout truncated at ${maxStdout} characters]\\n' : ''));
  // Key-sorted JSON of a value, captured before any user code runs (results are compared as this text).
  const sortKeys = (_key, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) { const o = {}; for (const k of Object.keys(v).sort()) o[k] = v[k]; return o; }
    return v;
  };
  hidden('__autodidactJson', (v) => { const text = v === undefined ? 'undefined' : stringify(v, sortKeys); if (text !== undefined && text.length > 1000000) throw new RangeError('result too large to compare (over 1,000,000 characters of JSON)'); return text; });
  globalThis.console = Object.freeze({ log: write, error: write, warn: write, info: write, debug: write });
  let state = ${seed >>> 0} || 0x9e3779b9;
  Math.random = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state / 4294967296; };
  const RealDate = Date;
  const fixed = ${now};
  function FixedDate(...args) {
    if (!new.target) return new RealDate(fixed).toString();
    return args.length ? new RealDate(...args) : new RealDate(fixed);
  }
  FixedDate.prototype = RealDate.prototype;
  FixedDate.now = () => fixed;
  FixedDate.UTC = RealDate.UTC;
  FixedDate.parse = RealDate.parse;
  globalThis.Date = FixedDate;
  delete globalThis.WebAssembly;
  delete globalThis.SharedArrayBuffer;
  delete globalThis.FinalizationRegistry;
  delete globalThis.WeakRef;
  if (typeof Atomics === 'object') delete Atomics.waitAsync;
})();`;
}

interface Slot {
  isolate: ivm.Isolate;
  /** The prelude, compiled once per isolate and run in every fresh context. */
  prelude: ivm.Script;
  busy: boolean;
}

export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const memoryMb = options.memoryMb ?? 64;
  const concurrency = options.concurrency ?? 2;
  if (!(timeoutMs > 0)) throw new InvalidArgumentError('timeoutMs', `must be > 0, got ${timeoutMs}`);
  if (!(memoryMb >= 8)) throw new InvalidArgumentError('memoryMb', `must be ≥ 8 (isolated-vm's minimum), got ${memoryMb}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError('concurrency', `must be a positive integer, got ${concurrency}`);
  const setup = prelude(options.seed ?? 0, options.now ?? Date.UTC(2024, 0, 1), options.maxStdout ?? 10_000);

  const newSlot = (): Slot => {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    return { isolate, prelude: isolate.compileScriptSync(setup, { filename: 'prelude.js' }), busy: false };
  };
  const slots: Slot[] = Array.from({ length: concurrency }, newSlot);
  const waiting: ((slot: Slot) => void)[] = [];
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  const acquire = (): Promise<Slot> => {
    const free = slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (slot: Slot, poisoned: boolean) => {
    let current = slot;
    if (poisoned) {
      // A timed-out, out-of-memory or hung isolate is never reused.
      if (!slot.isolate.isDisposed) slot.isolate.dispose();
      current = newSlot();
      slots[slots.indexOf(slot)] = current;
    }
    const next = waiting.shift();
    if (next) {
      current.busy = true;
      next(current);
    } else current.busy = false;
  };

  async function execute(slot: Slot, request: RunRequest): Promise<{ result: RunResult; poisoned: boolean }> {
    const limit = request.timeoutMs ?? timeoutMs;
    const started = performance.now();
    const { isolate } = slot;
    let context: ivm.Context | undefined;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const finish = (status: RunStatus, extra: Partial<RunResult>, stdout: string) => ({ status, ...extra, stdout, durationMs: performance.now() - started });
    const readStdout = async () => {
      if (!context || isolate.isDisposed) return '';
      try {
        return (await context.evalClosure('return globalThis.__autodidactStdout()', [], { result: { copy: true }, timeout: 100 })) as string;
      } catch {
        return '';
      }
    };
    // The host's clock runs from the start, over context creation too: whatever holds the isolate, the run ends by then.
    const hung = new Promise<never>((_, reject) =>
      (timer = setTimeout(() => {
        timedOut = true;
        reject(new HostTimeout());
      }, limit + 50)),
    );
    try {
      const work = (async () => {
        context = await isolate.createContext();
        await slot.prelude.run(context, { timeout: 1000 });
        const script = await isolate.compileScript(request.code, { filename: 'sandbox.js' });
        const completion = await script.run(context, { timeout: limit, promise: true, copy: true });
        if (request.entry === undefined) return completion;
        return context.evalClosure(`const f = (0, eval)(${JSON.stringify(request.entry)}); if (typeof f !== 'function') throw new TypeError(${JSON.stringify(`${request.entry} is not a function`)}); return f(...$0);`, [request.args ?? []], {
          arguments: { copy: true },
          result: { copy: true, promise: true },
          timeout: limit,
        });
      })();
      work.catch(() => {}); // settled by the race below; a late rejection is not unhandled
      const value = await Promise.race([work, hung]);
      return { result: finish('ok', { value }, await readStdout()), poisoned: false };
    } catch (error) {
      // The status comes from the host's own state, never from a message the code could have thrown.
      if (isolate.isDisposed) return { result: finish('memory', { error: `out of memory (limit ${memoryMb} MB)` }, ''), poisoned: true };
      const elapsed = performance.now() - started;
      const isolateTimeout = error instanceof Error && error.message === 'Script execution timed out.' && elapsed >= limit * 0.9;
      if (timedOut || error instanceof HostTimeout || isolateTimeout) {
        const stdout = timedOut ? '' : await readStdout();
        return { result: finish('timeout', { error: `timed out after ${limit} ms` }, stdout), poisoned: true };
      }
      return { result: finish('error', { error: describe(error) }, await readStdout()), poisoned: false };
    } finally {
      clearTimeout(timer);
      if (context && !isolate.isDisposed) context.release();
    }
  }

  return {
    async run(request: RunRequest): Promise<RunResult> {
      if (closed) throw new InvalidArgumentError('sandbox', 'is closed');
      if (typeof request.code !== 'string') throw new InvalidArgumentError('code', `must be a string, got ${typeof request.code}`);
      if (request.entry !== undefined && !IDENTIFIER.test(request.entry)) throw new InvalidArgumentError('entry', `must be a function name (an identifier), got ${JSON.stringify(request.entry)}`);
      if (request.args !== undefined && !Array.isArray(request.args)) throw new InvalidArgumentError('args', 'must be an array');
      const slot = await acquire();
      const job = execute(slot, request);
      inFlight.add(job);
      try {
        const { result, poisoned } = await job;
        release(slot, poisoned);
        return result;
      } finally {
        inFlight.delete(job);
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
      for (const slot of slots) if (!slot.isolate.isDisposed) slot.isolate.dispose();
    },
  };
}

class HostTimeout extends Error {}

/** `Name: message` of an error thrown inside the sandbox (isolated-vm copies errors out as host Errors). */
function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
