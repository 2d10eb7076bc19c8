import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidConfigError, TaskFileError } from '../errors.js';
import { parseConfig } from '../config/validate.js';
import type { Task } from '../spec/task.js';

/**
 * One line of a task file (JSON Lines, UTF-8, one object per line; blank lines
 * and lines starting with `//` are skipped):
 *
 *   {"id": "sum-1", "prompt": "12+30=", "answer": "42", "difficulty": 2}
 *
 * - `id` (string, required, unique in the file)
 * - `prompt` (string, required, non-empty)
 * - `answer` (string or number, optional: leave it out for unlabeled tasks)
 * - `solution` (string, optional: a worked completion for supervised fine-tuning)
 * - `difficulty` (number, optional), `family` (string, optional, default: the file's name)
 * - `meta` (object, optional: anything a verifier needs, e.g. countdown's `numbers`)
 */
export const TaskLineSchema = z
  .object({
    id: z.string().min(1),
    prompt: z.string().min(1),
    answer: z.union([z.string(), z.number()]).optional(),
    solution: z.string().optional(),
    difficulty: z.number().optional(),
    family: z.string().min(1).optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * Reads a JSON Lines file and validates each line with `schema`; blank lines
 * and lines starting with `//` are skipped. Any problem is a TaskFileError
 * naming the file, the line and the field, and so is a file with no entries.
 * `key` names each line's id, which must be unique in the file.
 */
export function readJsonLines<S extends z.ZodType>(path: string, schema: S, key: (value: z.output<S>) => string, what = 'task file'): { value: z.output<S>; line: number }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TaskFileError(path, 0, `cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const seen = new Map<string, number>();
  const lines: { value: z.output<S>; line: number }[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('//')) return;
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      throw new TaskFileError(path, line, `not valid JSON (${(error as Error).message})`);
    }
    let value: z.output<S>;
    try {
      value = parseConfig(schema, json);
    } catch (error) {
      if (error instanceof InvalidConfigError) throw new TaskFileError(path, line, error.message.replace(/^Invalid config field/, 'field'));
      throw error;
    }
    const id = key(value);
    const previous = seen.get(id);
    if (previous !== undefined) throw new TaskFileError(path, line, `id "${id}" already used on line ${previous}; ids must be unique`);
    seen.set(id, line);
    lines.push({ value, line });
  });
  // A run on an empty file would do nothing and exit 0.
  if (lines.length === 0) throw new TaskFileError(path, 0, `the ${what} holds no entries (every line is blank or a // comment); write one JSON object per line`);
  return lines;
}

/** Reads a JSONL task file; any bad line is a TaskFileError naming the file, line and field. */
export function loadTaskFile(path: string, options: { family?: string } = {}): Task[] {
  const family = options.family ?? path.replace(/^.*[\\/]/, '').replace(/\.jsonl?$/, '');
  return readJsonLines(path, TaskLineSchema, (t) => t.id).map(({ value: parsed }) => ({
    id: parsed.id,
    family: parsed.family ?? family,
    prompt: parsed.prompt,
    answer: parsed.answer === undefined ? undefined : String(parsed.answer),
    solution: parsed.solution,
    difficulty: parsed.difficulty,
    meta: parsed.meta,
  }));
}
