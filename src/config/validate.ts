import { z } from 'zod';
import { InvalidConfigError } from '../errors.js';

/**
 * Parses `input` with a strict zod schema and turns the first problem into an
 * InvalidConfigError that names the field (`model.dModel`) and the fix:
 * unknown keys suggest the nearest valid key, wrong types name the expected type.
 */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = checkConfig(schema, input, prefix);
  if (!result.ok) throw new InvalidConfigError(result.field, result.message);
  return result.data;
}

/** parseConfig's verdict as a value: the data, or the first problem's field and message (for callers with their own error, e.g. user code's results). */
export function checkConfig<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): { ok: true; data: z.output<S> } | { ok: false; field: string; message: string } {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, data: result.data };
  const problem = (field: string, message: string) => ({ ok: false as const, field, message });
  const issue = result.error.issues[0];
  const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const field = path ? `${path}.${key}` : key;
    const known = knownKeys(schema, issue.path, input);
    const nearest = nearestKey(key, known);
    const hint = nearest ? ` — did you mean \`${nearest}\`?` : known.length ? ` (valid keys: ${known.join(', ')})` : '';
    return problem(field, `unknown key${hint}`);
  }
  const received = describe(valueAt(input, issue.path));
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'int' ? 'integer' : issue.expected;
    const message = received === 'undefined' ? `is required (expected ${expected})` : `expected ${expected}, got ${received}`;
    return problem(path || '(root)', message);
  }
  // A discriminated union (`curriculum.kind`) or an enum: name the valid values.
  const choices = issue.code === 'invalid_union' && 'options' in issue ? (issue.options as unknown[]) : issue.code === 'invalid_value' ? issue.values : null;
  if (choices) {
    const valid = choices.map(String).join(', ');
    return problem(path || '(root)', received === 'undefined' ? `is required (one of: ${valid})` : `expected one of: ${valid}; got ${received}`);
  }
  if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'number') {
    const bound = issue.code === 'too_small' ? `${issue.inclusive ? '≥' : '>'} ${issue.minimum}` : `${issue.inclusive ? '≤' : '<'} ${issue.maximum}`;
    return problem(path || '(root)', `must be ${bound}, got ${received}`);
  }
  // A pattern (a recipe name): show what it got, quoted, so invisible characters show.
  return problem(path || '(root)', issue.code === 'invalid_format' ? `${issue.message}; got ${received}` : issue.message);
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value = input;
  for (const key of path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return `number ${value}`;
  return typeof value;
}

type SchemaNode = { shape?: Record<string, unknown>; def?: { innerType?: unknown; options?: SchemaNode[]; discriminator?: string; values?: unknown[] } };

function knownKeys(schema: z.ZodType, path: PropertyKey[], input: unknown): string[] {
  let current: unknown = schema;
  for (const [depth, key] of [...path, null].entries()) {
    let inner = current as SchemaNode;
    while (inner && !inner.shape && inner.def?.innerType) inner = inner.def.innerType as SchemaNode;
    // A discriminated union: the option the input's discriminator picks.
    const discriminator = inner?.def?.discriminator;
    if (discriminator && inner.def?.options) {
      const tag = (valueAt(input, path.slice(0, depth)) as Record<string, unknown> | undefined)?.[discriminator];
      inner = inner.def.options.find((option) => (option.shape?.[discriminator] as SchemaNode | undefined)?.def?.values?.includes(tag)) ?? inner;
    }
    if (key === null) return inner?.shape ? Object.keys(inner.shape) : [];
    if (!inner?.shape || typeof key !== 'string') return [];
    current = inner.shape[key];
  }
  return [];
}

/** The valid key closest to `key` by edit distance (case-insensitive), if close enough. */
export function nearestKey(key: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 2)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}
