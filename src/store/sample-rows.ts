/**
 * How a sample is laid out in the run store's `samples` table: token ids as
 * Int32 blobs, logprobs as Float32 blobs, the sampler settings as JSON; and
 * a row (joined with its score) read back as a StoredSample. Columns that a
 * store of an older version lacks (read read-only) come back absent.
 */
import type { TrajectoryKind } from '../spec/trajectory.js';
import type { Verification } from '../spec/verifier.js';
import type { SampleRow, StoredSample } from './records.js';

/** The columns of saveSamples' INSERT, in order. */
export const SAMPLE_COLUMNS = ['round', 'kind', 'task_id', 'sample_index', 'parent_id', 'prompt', 'completion', 'tokens', 'logprobs', 'behaviour_logprobs', 'turn', 'observation_tokens', 'finish_reason', 'policy_version', 'sampler', 'step'] as const;

/** A sample joined with its score (the SELECT of loadSamples and kin). */
export const SAMPLE_SELECT = `SELECT s.*, c.verifier, c.verifier_version, c.status, c.reward, c.pass, c.feedback, c.extracted, c.reason
  FROM samples s LEFT JOIN scores c ON c.sample_id = s.id`;

export interface SampleRecord {
  id: number; round: number; kind: string; task_id: string; sample_index: number; parent_id: number | null;
  prompt: string; completion: string; tokens: Buffer; logprobs: Buffer; finish_reason: string; policy_version: string; sampler: string; step: number;
  /** Absent in a store older than version 3 opened read-only. */
  behaviour_logprobs?: Buffer | null; turn?: number; observation_tokens?: Buffer | null;
  verifier: string | null; verifier_version: string | null; status: string | null; reward: number | null; pass: number | null;
  feedback: string | null; extracted: string | null; reason: string | null;
}

const int32Blob = (values: readonly number[]) => Buffer.from(Int32Array.from(values).buffer);
const float32Blob = (values: readonly number[]) => Buffer.from(Float32Array.from(values).buffer);
const int32s = (blob: Buffer) => Array.from(new Int32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength)));
const float32s = (blob: Buffer) => Array.from(new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength)));

/** The values of a sample's INSERT, in SAMPLE_COLUMNS order. */
export function sampleValues(row: SampleRow): unknown[] {
  return [
    row.round, row.kind, row.taskId, row.sampleIndex, row.parentId ?? null, row.prompt, row.completion,
    int32Blob(row.tokens), float32Blob(row.logprobs), row.behaviourLogprobs ? float32Blob(row.behaviourLogprobs) : null,
    row.turn ?? 0, row.observationTokens ? int32Blob(row.observationTokens) : null,
    row.finishReason, row.policyVersion, JSON.stringify(row.sampler), row.step ?? 0,
  ];
}

export function toStoredSample(row: SampleRecord): StoredSample {
  let verification: Verification | null = null;
  if (row.status === 'scored') verification = { status: 'scored', reward: row.reward ?? 0, pass: row.pass === 1, feedback: row.feedback ?? '', ...(row.extracted !== null ? { extracted: row.extracted } : {}) };
  else if (row.status === 'error') verification = { status: 'error', error: row.reason ?? '' };
  else if (row.status === 'not-applicable') verification = { status: 'not-applicable', reason: row.reason ?? '' };
  return {
    id: row.id,
    round: row.round,
    kind: row.kind as TrajectoryKind,
    taskId: row.task_id,
    sampleIndex: row.sample_index,
    parentId: row.parent_id,
    turn: row.turn ?? 0,
    prompt: row.prompt,
    ...(row.observation_tokens ? { observationTokens: int32s(row.observation_tokens) } : {}),
    completion: row.completion,
    tokens: int32s(row.tokens),
    logprobs: float32s(row.logprobs),
    ...(row.behaviour_logprobs ? { behaviourLogprobs: float32s(row.behaviour_logprobs) } : {}),
    finishReason: row.finish_reason as 'stop' | 'length',
    policyVersion: row.policy_version,
    sampler: JSON.parse(row.sampler) as Record<string, unknown>,
    step: row.step,
    verification,
    verifier: row.verifier !== null ? { name: row.verifier, version: row.verifier_version ?? '' } : null,
  };
}
