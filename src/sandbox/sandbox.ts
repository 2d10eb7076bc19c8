/**
 * The sandbox: model-written JavaScript runs in V8 isolates (isolated-vm), never
 * in the host's own heap. Each run gets a fresh context in a pooled isolate: no
 * `process`, `require`, `import`, file system, network or host objects; only
 * the language, a `console` that writes to a capped stdout, a seeded
 * `Math.random` and a fixed clock, so the same code gives the same result.
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

/** Builds the sandbox's global environment: console into a capped buffer, seeded Math.random, a fixed clock. */
function prelude(seed: number, now: number, maxStdout: number): string {
  return `(() => {
  const out = [];
  let size = 0;
  let dropped = false;
  const show = (v) => { try { return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v); } catch { return String(v); } };
  const write = (...args) => {
    const line = args.map(show).join(' ') + '\\n';
    if (size + line.length > ${maxStdout}) { if (!dropped) { const room = ${maxStdout} - size; if (room > 0) out.push(line.slice(0, room)); dropped = true; size = ${maxStdout}; } return; }
    out.push(line); size += line.length;
  };
  const stdout = () => out.join('') + (dropped ? '…[stdout truncated at ${maxStdout} characters]\\n' : '');
  Object.defineProperty(globalThis, '__autodidactStdout', { value: stdout, enumerable: false });
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
    const finish = (status: RunStatus, extra: Partial<RunResult>, stdout: string) => ({ status, ...extra, stdout, durationMs: performance.now() - started });
    const readStdout = async () => {
      if (!context || isolate.isDisposed) return '';
      try {
        return (await context.evalClosure('return globalThis.__autodidactStdout()', [], { result: { copy: true }, timeout: 100 })) as string;
      } catch {
        return '';
      }
    };
    try {
      context = await isolate.createContext();
      await slot.prelude.run(context, { timeout: 1000 });
      const work = (async () => {
        const script = await isolate.compileScript(request.code, { filename: 'sandbox.js' });
        const completion = await script.run(context!, { timeout: limit, promise: true, copy: true });
        if (request.entry === undefined) return completion;
        return context!.evalClosure(`const f = (0, eval)(${JSON.stringify(request.entry)}); if (typeof f !== 'function') throw new TypeError(${JSON.stringify(`${request.entry} is not a function`)}); return f(...$0);`, [request.args ?? []], {
          arguments: { copy: true },
          result: { copy: true, promise: true },
          timeout: limit,
        });
      })();
      // The isolate's own timeout covers synchronous work; this one also covers promises that never settle.
      const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new HostTimeout()), limit + 50)));
      const value = await Promise.race([work, hung]);
      return { result: finish('ok', { value }, await readStdout()), poisoned: false };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (isolate.isDisposed || /memory limit/i.test(message)) return { result: finish('memory', { error: `out of memory (limit ${memoryMb} MB)` }, ''), poisoned: true };
      if (error instanceof HostTimeout || /timed out/i.test(message)) {
        const stdout = error instanceof HostTimeout ? '' : await readStdout();
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
