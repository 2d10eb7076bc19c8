/**
 * `autodidact export <dir> --format <fmt> [--round N] [--out PATH] [--json]`:
 * a run's accepted set as a dataset for TRL, verl or OpenAI fine-tuning
 * (src/export/datasets.ts), or a checkpoint as GGUF for llama.cpp
 * (src/export/gguf.ts). For gguf, <dir> is a checkpoint directory, or a run
 * directory (then the checkpoint of --round, default the run's last).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { DATASET_FORMATS, exportDataset, type DatasetFormat } from '../export/datasets.js';
import { exportGguf } from '../export/gguf.js';
import { openRunStoreReadOnly } from '../store/run-dir.js';

/** Every format `export` writes, with a line of help each. */
export const EXPORT_FORMATS: Record<string, string> = {
  ...DATASET_FORMATS,
  gguf: 'GGUF v3 (llama.cpp, node-llama-cpp, Ollama) of a checkpoint directory, or of a run\'s checkpoint (--round, default the last); --out is required',
};

export interface ExportCommandOptions {
  format: string;
  round?: number;
  out?: string;
  json?: boolean;
}

/** Parses --round: a non-negative integer (round 0, the warm-up, is refused later with the rounds that can be exported). */
export function parseRound(value: string): number {
  const round = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(round)) throw new InvalidArgumentError('--round', `expected a round number (1, 2, …), got "${value}"`);
  return round;
}

/** The help text listing the formats (for `--help`). */
export function formatsHelp(): string {
  const width = Math.max(...Object.keys(EXPORT_FORMATS).map((name) => name.length));
  return `\nFormats:\n${Object.entries(EXPORT_FORMATS).map(([name, help]) => `  ${name.padEnd(width)}  ${help}`).join('\n')}\n\nEvery dataset row carries its provenance: run, round, task, sample, policy version, sampler settings, verifier and version, reward, accept reason.\n`;
}

/** Runs the export and prints what it wrote; with --json, a JSON summary as the last line. */
export async function exportCommand(dir: string, options: ExportCommandOptions): Promise<void> {
  const log = (line: string) => (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  if (options.format === 'gguf') {
    if (!options.out) throw new InvalidArgumentError('--out', 'gguf needs an output file: add --out model.gguf');
    const checkpoint = ggufCheckpoint(dir, options.round);
    const result = await exportGguf(checkpoint, resolve(options.out));
    log(`wrote ${result.path}: ${result.tensors} tensors, ${result.bytes} bytes (from ${checkpoint})`);
    if (options.json) process.stdout.write(`${JSON.stringify({ format: 'gguf', checkpoint, ...result })}\n`);
    return;
  }
  if (!Object.hasOwn(DATASET_FORMATS, options.format)) {
    throw new InvalidArgumentError('--format', `unknown format "${options.format}": use one of ${Object.keys(EXPORT_FORMATS).join(', ')}`);
  }
  const summary = exportDataset(dir, { format: options.format as DatasetFormat, round: options.round, out: options.out });
  const what = summary.format === 'trl-dpo' ? 'preference pairs' : summary.format === 'verl-parquet' ? 'tasks' : 'rows';
  log(`wrote ${summary.rows} ${what} of round ${summary.round} (${summary.accepted} accepted samples) to ${summary.path}`);
  if (summary.provenancePath) log(`provenance, line for line: ${summary.provenancePath}`);
  if (summary.unpaired) log(`${summary.unpaired} accepted sample${summary.unpaired === 1 ? '' : 's'} had no failing sample of the same task to pair with and were left out`);
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}

/** The checkpoint a gguf export reads: `dir` itself, or a run's checkpoint of `round` (default the last saved). */
function ggufCheckpoint(dir: string, round: number | undefined): string {
  const path = resolve(dir);
  if (!existsSync(join(path, 'run.sqlite'))) {
    if (round !== undefined) throw new InvalidArgumentError('--round', `${path} is a checkpoint directory, not a run; drop --round, or pass the run directory`);
    return path;
  }
  const store = openRunStoreReadOnly(path);
  try {
    if (round !== undefined) {
      const saved = store.checkpoint(round);
      if (!saved) throw new InvalidArgumentError('--round', `round ${round} of ${path} has no checkpoint (it has not finished its update); pick another round or leave --round out for the last`);
      return saved.path;
    }
    for (let r = Number(JSON.parse(store.getMeta('recipe') ?? '{"rounds":0}').rounds ?? 0); r >= 0; r--) {
      const saved = store.checkpoint(r);
      if (saved) return saved.path;
    }
    throw new InvalidArgumentError('run', `${path} has no checkpoint yet; run it first, or pass a checkpoint directory`);
  } finally {
    store.close();
  }
}
