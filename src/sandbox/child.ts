/**
 * One sandbox child process: runs model-written code, one run at a time, in
 * an isolated-vm isolate (V8's own heap limit and a context with nothing but
 * the language and ./prelude.ts). The host (./sandbox.ts) started it under OS
 * limits and watches its CPU time and memory; whatever happens in here, the
 * worst case is this process dying, never the host.
 *
 * Requests arrive on stdin, results leave on fd 3, both as ./frames.ts frames.
 * This process enforces the run's CPU time itself (it disposes the isolate
 * when its CPU time passes the limit, which stops any code that
 * checks for interrupts); code stuck in a builtin that does not is killed
 * with the whole process by the host.
 *
 * Started as: node child.js '<ChildConfig JSON>'
 */
import { Socket } from 'node:net';
import ivm from 'isolated-vm';
import { decodeCanonical } from './canonical.js';
import { encodeFrame, FrameReader } from './frames.js';
import { preludeSource, type Outcome } from './prelude.js';
import type { CallResult, ChildConfig, ChildRequest, ChildResult, ChildStatus } from './messages.js';

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const out = new Socket({ fd: 3, readable: false, writable: true });
const send = (message: unknown) => out.write(encodeFrame(message));
const setup = preludeSource({ seed: config.seed, now: config.now, maxStdout: config.maxStdout, maxError: config.maxError, maxOutcome: config.maxOutcome });

interface Slot {
  isolate: ivm.Isolate;
  prelude: ivm.Script;
  runs: number;
}

function newSlot(): Slot {
  const isolate = new ivm.Isolate({ memoryLimit: config.memoryMb });
  return { isolate, prelude: isolate.compileScriptSync(setup, { filename: 'prelude.js' }), runs: 0 };
}

let slot = newSlot();

/** Replaces the isolate: after a run that disposed it, or when it has served its share of runs or kept too much heap. */
function recycle(force: boolean) {
  const { isolate } = slot;
  if (!force && !isolate.isDisposed) {
    const heap = isolate.getHeapStatisticsSync();
    if (slot.runs < config.recycleEvery && heap.used_heap_size < (config.memoryMb * 1024 * 1024) / 4) return;
  }
  if (!isolate.isDisposed) isolate.dispose();
  slot = newSlot();
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

async function run(request: ChildRequest): Promise<ChildResult> {
  const { isolate, prelude } = slot;
  slot.runs++;
  // The process's CPU time, not isolate.cpuTime (which counts wall time while the isolate runs, descheduled or not).
  // One run at a time, so the process's time is the run's, plus a little of this process's own.
  const cpuStart = process.cpuUsage();
  const cpuUsed = () => {
    const used = process.cpuUsage(cpuStart);
    return (used.user + used.system) / 1000;
  };
  const started = performance.now();
  let stopped: 'cpu' | 'wall' | undefined;
  const stop = (why: 'cpu' | 'wall') => {
    if (stopped || isolate.isDisposed) return;
    stopped = why;
    isolate.dispose();
  };
  const watch = setInterval(() => {
    if (cpuUsed() > request.cpuMs) stop('cpu');
  }, 5);
  const wall = setTimeout(() => stop('wall'), request.wallMs);
  const cpuMs = cpuUsed;
  const result = (status: ChildStatus, extra: Partial<ChildResult>, stdout = ''): ChildResult => ({ type: 'result', id: request.id, status, ...extra, stdout, cpuMs: cpuMs() });
  let context: ivm.Context | undefined;
  const held: ivm.Reference[] = [];
  try {
    // Setup runs only our code, synchronously (no thread hop); the code itself runs in one asynchronous call, so the CPU watch above can stop it.
    context = isolate.createContextSync();
    // A reference to the harness, taken before the code runs: nothing the code does to globals reaches it.
    const harness = prelude.runSync(context, { reference: true, timeout: 1000 }) as ivm.Reference;
    held.push(harness);
    const copyIn = (text: string | undefined) => (text === undefined ? undefined : new ivm.ExternalCopy(decodeCanonical(text)).copyInto({ release: true }));
    const args = request.entry === undefined ? undefined : copyIn(request.args ?? '[]');
    const outcome = (await harness.apply(undefined, [request.code, request.entry, args, copyIn(request.calls)], { result: { promise: true, copy: true }, timeout: request.wallMs + 1000 })) as Outcome;
    if ('calls' in outcome) {
      const calls: CallResult[] = [];
      for (let i = 0; i < outcome.count; i++) {
        const call = outcome.calls[i];
        calls.push('ok' in call ? { status: 'ok', encoded: call.ok } : 'threw' in call ? { status: 'threw', error: call.threw } : { status: 'unencodable', error: call.unencodable.replace(/^\w*Error: /, '') });
      }
      return result('ok', { calls }, outcome.stdout);
    }
    if ('ok' in outcome) return result('ok', { encoded: outcome.ok }, outcome.stdout);
    if ('threw' in outcome) return result('error', { error: outcome.threw }, outcome.stdout);
    return result('error', { error: `the result cannot be compared: ${String(outcome.unencodable).replace(/^\w*Error: /, '')}` }, outcome.stdout);
  } catch (error) {
    // The status comes from this process's own state, never from a message the code could have thrown.
    if (stopped) return result('timeout', {});
    if (isolate.isDisposed) return result('memory', {});
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // isolated-vm's own timeout (a backstop set past ours) says so in a message the code could also throw: trust it only by the clock.
    if (error instanceof Error && error.message === 'Script execution timed out.' && performance.now() - started >= request.wallMs) return result('timeout', {});
    return result('error', { error: cut(message, config.maxError) });
  } finally {
    clearInterval(watch);
    clearTimeout(wall);
    for (const reference of held) reference.release();
    if (context && !isolate.isDisposed) context.release();
    recycle(isolate.isDisposed);
  }
}

// Runs are strictly sequential. The host may send the next request while one runs (so this process never
// idles for a round trip) and take it back with a cancel while it has not started.
const pending: ChildRequest[] = [];
let running = false;
async function drain() {
  if (running) return;
  running = true;
  for (let request = pending.shift(); request; request = pending.shift()) send(await run(request));
  running = false;
  if (ending) end();
}
const reader = new FrameReader(
  config.maxRequestBytes,
  (message) => {
    const m = message as ChildRequest | { type: 'cancel'; id: number };
    if (m.type === 'cancel') {
      const at = pending.findIndex((r) => r.id === m.id);
      if (at >= 0) {
        pending.splice(at, 1);
        send({ type: 'cancelled', id: m.id });
      }
      return;
    }
    pending.push(m);
    void drain();
  },
  (why) => {
    process.stderr.write(`sandbox child: bad request from the host: ${why}\n`);
    process.exit(2);
  },
);
let ending = false;
// The host closed the pool (or died): finish what was sent, dispose the isolate on this thread, then exit.
function end() {
  if (!slot.isolate.isDisposed) slot.isolate.dispose();
  out.end(() => process.exit(0));
}
process.stdin.on('data', (chunk: Buffer) => reader.push(chunk));
process.stdin.on('end', () => {
  ending = true;
  if (!running) end();
});
send({ type: 'ready', pid: process.pid });
