/**
 * Property-based fuzzing of the recipe loader (fast-check, fixed seeds and run
 * counts, a few seconds): arbitrary YAML text, mutations of the shipped
 * recipes and arbitrary `--set` overrides either load or fail with an
 * AutodidactError, never another exception, and never touch Object.prototype;
 * a recipe that loads also resolves its tasks (what --dry-run does) without a
 * non-Autodidact error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { AutodidactError } from '../../src/errors.js';
import { recipeDir, resolveTasks } from '../../src/tasks/sources.js';
import { loadRecipe } from '../../src/recipe/load.js';

const recipesDir = fileURLToPath(new URL('../../../recipes/', import.meta.url));
const shipped = readdirSync(recipesDir)
  .filter((name) => name.endsWith('.yaml'))
  .map((name) => ({ path: join(recipesDir, name), text: readFileSync(join(recipesDir, name), 'utf8') }));
// Mutated recipes are written next to the shipped ones' copies, so their relative paths resolve the same way.
const dir = mkdtempSync(join(tmpdir(), 'autodidact-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

/** Runs `work`; passes when it succeeds or throws an AutodidactError, and checks Object.prototype after either. */
async function loadsOrRefuses(work: () => unknown): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof AutodidactError)) throw new Error(`not an AutodidactError: ${error instanceof Error ? error.stack : String(error)}`);
  } finally {
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys, 'Object.prototype was changed');
  }
}

/** loadRecipe, then what --dry-run does next: resolve the tasks (closing what that opens). */
async function loadAndResolve(path: string, overrides: string[] = []): Promise<void> {
  const recipe = loadRecipe(path, overrides);
  const tasks = await resolveTasks(recipe.tasks, recipeDir(path));
  await tasks.close?.();
}

/** Pieces of YAML syntax that parsers and loaders trip on. */
const yamlToken = fc.constantFrom(
  '&a ', '*a', '*b', '!!binary ', '!!set ', '!!map ', '!!str ', '!!int ', '!custom ', '? ', '<<: *a\n', '---\n', '...\n', '%YAML 1.1\n',
  '__proto__: ', 'constructor: ', 'prototype: ', '\t', '\u0000', '{', '}', '[', ']', ':', ': ', '- ', '"', "'", '|\n', '>\n', '#', '\n  ', '\n', ',',
  '1e999', '-0', '.nan', '.inf', 'null', '~', '0x10', '9007199254740993', 'name: ../x\n', 'rounds: 1e6\n',
);

/** `text` with tokens inserted and spans deleted at random places. */
const mutated = (text: string) =>
  fc.array(fc.tuple(fc.nat(), fc.oneof(yamlToken, fc.string({ maxLength: 8 })), fc.nat({ max: 6 })), { maxLength: 6 }).map((edits) => {
    let out = text;
    for (const [at, insert, cut] of edits) {
      const i = at % (out.length + 1);
      out = out.slice(0, i) + insert + out.slice(i + cut);
    }
    return out;
  });

describe('recipe loader fuzzing', () => {
  let file = 0;
  const write = (text: string) => {
    const path = join(dir, `fuzz-${file++}.yaml`);
    writeFileSync(path, text);
    return path;
  };

  test('arbitrary YAML text loads or fails with an AutodidactError', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(fc.oneof(yamlToken, fc.string({ maxLength: 6 })), { maxLength: 40 }).map((parts) => parts.join('')),
      fc.jsonValue({ maxDepth: 4 }).chain((value) => mutated(stringify(value))),
    );
    await fc.assert(fc.asyncProperty(text, (yaml) => loadsOrRefuses(() => loadAndResolve(write(yaml)))), { numRuns: 300, seed: 13 });
  });

  test('mutations of the shipped recipes load (and resolve their tasks) or fail with an AutodidactError', async () => {
    const recipe = fc.constantFrom(...shipped).chain(({ path, text }) => mutated(text).map((yaml) => ({ yaml, name: path.slice(recipesDir.length) })));
    await fc.assert(
      fc.asyncProperty(recipe, ({ yaml, name }) => {
        // Same directory name depth as recipes/, so `file:` paths relative to it behave alike.
        const path = join(recipesDir, `.fuzz-${process.pid}-${name}`);
        writeFileSync(path, yaml);
        return loadsOrRefuses(() => loadAndResolve(path)).finally(() => rmSync(path, { force: true }));
      }),
      { numRuns: 200, seed: 13 },
    );
  });

  test('arbitrary --set overrides load or fail with an AutodidactError, and never reach a prototype', async () => {
    const segment = fc.oneof(
      fc.constantFrom('name', 'rounds', 'tasks', 'family', 'perRound', 'options', 'model', 'config', 'dModel', 'vocabSize', 'nHeads', 'train', 'steps', 'sample', 'n', 'eval', 'count', 'rl', 'curriculum', 'kind', 'warmup'),
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''),
      fc.string({ maxLength: 6 }),
    );
    const key = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('.'));
    const value = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      fc.constantFrom('1e999', '-1', '0', '65536', '10000000', '[1, 4]', '{ a: 1 }', '&a [*a]', '!!binary aGk=', '../../x', 'a\u0000b', '__proto__'),
    );
    const override = fc.oneof(fc.tuple(key, value).map(([k, v]) => `${k}=${v}`), fc.string({ maxLength: 20 }));
    const base = shipped.find((r) => r.path.endsWith('rest-em.yaml'))!;
    await fc.assert(fc.asyncProperty(fc.array(override, { maxLength: 4 }), (overrides) => loadsOrRefuses(() => loadAndResolve(base.path, overrides))), { numRuns: 300, seed: 13 });
  });
});
