import type { SampleRequest, TokenListener } from '../engine/sampler.js';
import type { Completion } from '../spec/policy.js';

/** Requests queued for the next batch, with how their results and steps reach their HTTP reply. */
export interface Job {
  requests: SampleRequest[];
  onStep?: TokenListener;
  /** Learns the weights' version when the job's batch starts. */
  onStart?: (version: string) => void;
  /** True once the client has closed the connection. */
  gone: () => boolean;
  resolve: (value: { results: Completion[][]; version: string }) => void;
  reject: (error: unknown) => void;
}

/** Sequences (prompts × n) the requests decode. */
export function countSequences(requests: readonly SampleRequest[]): number {
  return requests.reduce((sum, r) => sum + (r.options?.n ?? 1), 0);
}
