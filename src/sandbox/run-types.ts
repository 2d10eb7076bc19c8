// What a sandbox run is asked and what it answers (src/sandbox/sandbox.ts runs it).
import type { CallResult } from './messages.js';

export interface RunRequest {
  /** A script. Without `entry` its completion value is the result. */
  code: string;
  /** The name of a function the script defines, called with `args`. */
  entry?: string;
  /** Arguments of `entry`, copied in through the canonical encoding (JSON data, plus undefined, NaN, ±Infinity, −0, BigInt, Date, Map, Set). */
  args?: unknown[];
  /**
   * Instead of `args`: call `entry` once per argument list, in order, in the
   * same context and timed call (a verifier's unit tests); each call's result
   * or exception comes back in `RunResult.calls`.
   */
  calls?: unknown[][];
  /** This run's CPU-time limit (default the sandbox's). */
  timeoutMs?: number;
}

/**
 * `crash`: the child died another way (a fatal V8 error such as an invalid
 * array length); `closed`: the sandbox was closed before the run started.
 */
export type RunStatus = 'ok' | 'error' | 'timeout' | 'memory' | 'crash' | 'closed';

export type { CallResult } from './messages.js';

export interface RunResult {
  status: RunStatus;
  /** The result, decoded from `encoded` on first read (`ok` without `calls`). */
  value?: unknown;
  /** The result's canonical text (src/sandbox/canonical.ts), made inside the sandbox: compare results as this. */
  encoded?: string;
  /** Each call's outcome (`ok` with `calls`), in the order of `calls`. */
  calls?: CallResult[];
  /** What went wrong (every status but `ok`). */
  error?: string;
  /** What the code printed with console.log / console.error (capped). */
  stdout: string;
  /** Wall-clock time from the run's start in a child to its result. */
  durationMs: number;
}

export interface Sandbox {
  run(request: RunRequest): Promise<RunResult>;
  /** Runs in flight finish; queued and later runs get `closed`; resolves once every child process has exited. */
  close(): Promise<void>;
  /** Process ids of the live children (diagnostics: their limits and namespaces can be read from /proc). */
  processes?(): number[];
}
