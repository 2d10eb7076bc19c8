/** The provenance columns every exported row carries (JSONL and Parquet alike). */

/** Where a sample came from: the policy, its sampler settings and the verifier's verdict. */
export interface SampleProvenance {
  sample_id: number;
  /** `sample`, `reflection` (Re-ReST) or `rationalization` (STaR). */
  sample_kind: string;
  policy_version: string;
  sampler: SamplerProvenance;
  verifier: string | null;
  verifier_version: string | null;
  /** The verifier's reward; null when it could not score (e.g. an unlabeled task accepted by majority vote). */
  reward: number | null;
  pass: boolean | null;
}

/** Sampler settings under fixed keys (null where a round did not set one), so every row has the same columns. */
export interface SamplerProvenance {
  n: number | null;
  temperature: number | null;
  top_p: number | null;
  max_tokens: number | null;
  seed: number | null;
  stop: string[];
  /** Any other setting (e.g. the reflector's name), as a JSON object with sorted keys; null when none. */
  extra: string | null;
}

/** The provenance every row carries. */
export interface Provenance extends SampleProvenance {
  /** The recipe's name. */
  run: string;
  /** Absolute path of the run directory. */
  run_dir: string;
  round: number;
  task_id: string;
  family: string;
  difficulty: number | null;
  /** Why the curate phase accepted the sample (`verified`, `verified reflection`, `majority 75%`, …). */
  accept_reason: string;
}
