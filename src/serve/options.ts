/** Options of `autodidact serve` (ModelServer.create, src/serve/server.ts). */
export interface ServeOptions {
  /** Checkpoint directory to serve. */
  checkpoint: string;
  /** Model id in /v1/models and replies (default: the directory's name). */
  modelName?: string;
  /** Version label of the loaded weights (default: the directory's name). */
  version?: string;
  /** Sequences (prompts × n) decoded together at most (default 256). */
  maxBatchSequences?: number;
  /** Receives one line per batch and per reload. */
  log?: (line: string) => void;
  /** 'native' | 'ts' | 'auto' kernels for the engine. */
  kernels?: string;
}

/** Counters for tests and logs. */
export interface ServeStats {
  requests: number;
  batches: number;
  /** Most HTTP requests decoded in one batch so far. */
  largestBatch: number;
  sequences: number;
  /** Requests dropped unheard because their client had gone before their batch started. */
  dropped: number;
}
