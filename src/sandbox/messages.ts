/**
 * The messages between the sandbox host (./sandbox.ts) and its child
 * processes (./child.ts), sent as ./frames.ts frames: the child's start-up
 * configuration, a run request, and its result. Types only, so both sides
 * import them and neither imports the other.
 */

/** One call of a `calls` run: its result's canonical text, or what it threw, or why its result cannot be compared. */
export type CallResult = { status: 'ok'; encoded: string } | { status: 'threw'; error: string } | { status: 'unencodable'; error: string };

export interface ChildConfig {
  memoryMb: number;
  seed: number;
  now: number;
  maxStdout: number;
  maxError: number;
  /** Characters of everything one outcome carries (results and error descriptions). */
  maxOutcome: number;
  /** Runs an isolate serves before it is replaced (registries such as Symbol.for live as long as it does). */
  recycleEvery: number;
  /** Largest request frame accepted, in bytes. */
  maxRequestBytes: number;
}

export interface ChildRequest {
  type: 'run';
  id: number;
  code: string;
  entry?: string;
  /** The arguments as canonical text (./canonical.ts). */
  args?: string;
  /** Argument lists, one call of the entry each, as canonical text. */
  calls?: string;
  /** CPU time of the isolate allowed for this run. */
  cpuMs: number;
  /** Wall-clock time allowed (covers a promise that never settles). */
  wallMs: number;
}

export type ChildStatus = 'ok' | 'error' | 'timeout' | 'memory';

export interface ChildResult {
  type: 'result';
  id: number;
  status: ChildStatus;
  /** Canonical text of the result (`ok`). */
  encoded?: string;
  /** Each call's outcome (`ok`, for a request with `calls`). */
  calls?: CallResult[];
  error?: string;
  stdout: string;
  cpuMs: number;
}

