/**
 * GGUF export (work in progress): writes a checkpoint as a llama.cpp GGUF v3 file.
 */
import { AutodidactError } from '../errors.js';

/** What exportGguf wrote. */
export interface GgufExportResult {
  /** Number of tensors in the file. */
  tensors: number;
  /** File size in bytes. */
  bytes: number;
  /** Path of the written file. */
  path: string;
}

/** Writes the checkpoint at `checkpointDir` as a GGUF v3 file at `outPath` (synchronous). */
export function exportGguf(checkpointDir: string, outPath: string): GgufExportResult {
  throw new AutodidactError(`exportGguf(${checkpointDir}, ${outPath}) is not implemented yet`);
}
