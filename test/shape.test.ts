/**
 * The shape of src/, read from its TypeScript files (run from dist/test/, so
 * the repository root is two folders up): no import circles; the spec imports
 * nothing but spec; no file over 400 lines but the model; each method file of
 * src/run/methods/ at most 200 lines. A failure names the offending files.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const root = fileURLToPath(new URL('../../', import.meta.url));
const src = join(root, 'src');

/** scripts/import-graph.mjs, the check `node scripts/import-graph.mjs src` runs; imported at run time (tsc does not copy .mjs into dist/). */
interface ImportGraphModule {
  importGraph(root: string): Map<string, string[]>;
  importCircles(graph: Map<string, string[]>): string[][];
}
const { importGraph, importCircles } = (await import(new URL('../../scripts/import-graph.mjs', import.meta.url).href)) as ImportGraphModule;

const MAX_LINES = 400;
const MAX_METHOD_LINES = 200;
/** The model may be longer: it is one idea, read top to bottom. */
const LONGER_ALLOWED = new Set(['src/engine/model.ts']);

/** Every .ts file under `dir`, as paths relative to the repository root (`/` separators). */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return typeScriptFiles(path);
    return name.endsWith('.ts') ? [relative(root, path).split('\\').join('/')] : [];
  });
}

/** Lines as `wc -l` counts them. */
function lineCount(file: string): number {
  const text = readFileSync(join(root, file), 'utf8');
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** Every module a file imports or re-exports (`import … from`, `export … from`, `import '…'`, `import('…')`). */
function importSpecifiers(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

const files = typeScriptFiles(src);

describe('the shape of src/', () => {
  test('has TypeScript files to check', () => {
    assert.ok(files.length > 50, `found only ${files.length} .ts files under ${src}`);
    for (const file of LONGER_ALLOWED) assert.ok(files.includes(file), `${file} (allowed to be longer) is missing`);
  });

  test('has no import circles (node scripts/import-graph.mjs src)', () => {
    const circles = importCircles(importGraph(src)).map((circle) => circle.map((file) => relative(root, file)).join(' ↔ '));
    assert.deepEqual(circles, [], `import circles:\n${circles.join('\n')}`);
  });

  test('the spec imports nothing but spec (./ files)', () => {
    const offending = files
      .filter((file) => file.startsWith('src/spec/'))
      .flatMap((file) => importSpecifiers(file).filter((specifier) => !specifier.startsWith('./')).map((specifier) => `${file} imports ${specifier}`));
    assert.deepEqual(offending, [], `spec files importing outside src/spec/:\n${offending.join('\n')}`);
  });

  test(`no file is over ${MAX_LINES} lines, except ${[...LONGER_ALLOWED].join(', ')}`, () => {
    const offending = files.filter((file) => !LONGER_ALLOWED.has(file) && lineCount(file) > MAX_LINES).map((file) => `${file}: ${lineCount(file)} lines`);
    assert.deepEqual(offending, [], `files over ${MAX_LINES} lines:\n${offending.join('\n')}`);
  });

  test(`each method file in src/run/methods/ is at most ${MAX_METHOD_LINES} lines`, () => {
    const methods = files.filter((file) => file.startsWith('src/run/methods/'));
    assert.ok(methods.length > 0, 'no files in src/run/methods/');
    const offending = methods.filter((file) => lineCount(file) > MAX_METHOD_LINES).map((file) => `${file}: ${lineCount(file)} lines`);
    assert.deepEqual(offending, [], `method files over ${MAX_METHOD_LINES} lines:\n${offending.join('\n')}`);
  });
});
