/**
 * Hostile and mistaken recipes as a user hits them: `autodidact run <recipe>
 * --dry-run` exits 2 with one line naming the field and the fix, never a stack
 * trace; and the loader functions the CLI calls, where cheaper.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InvalidConfigError } from '../../src/errors.js';
import { applyOverrides, loadRecipe, validateRecipe } from '../../src/recipe/load.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'autodidact-hostile-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const recipe = file('ok.yaml', 'name: ok\nrounds: 1\ntasks: { family: addition }\n');

/** Runs `autodidact run <args> --dry-run` and asserts it refuses with exactly one `autodidact: …` line matching `message`. */
function refuses(args: string[], message: RegExp): string {
  const out = spawnSync(process.execPath, [cli, 'run', ...args, '--dry-run'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 2, `exit ${out.status}\n${out.stderr}`);
  assert.doesNotMatch(out.stderr, /\n\s+at /, `a stack trace:\n${out.stderr}`);
  const lines = out.stderr.trim().split('\n');
  assert.equal(lines.length, 1, out.stderr);
  assert.match(lines[0], /^autodidact: /);
  assert.match(lines[0], message);
  return lines[0];
}

describe('hostile recipe input at the CLI', () => {
  test('a YAML alias bomb is a recipe-file error, not an uncaught ReferenceError', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`l${i}: &l${i} [${Array(9).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
    const bomb = file('bomb.yaml', `name: bomb\nrounds: 1\ntasks: { family: addition }\n${levels.join('\n')}\n`);
    refuses([bomb], new RegExp(`^autodidact: ${bomb}: cannot read the YAML: Excessive alias count`));
  });

  test('--set __proto__.… is refused and leaves Object.prototype alone', () => {
    refuses([recipe, '--set', '__proto__.checkpoint=/x'], /field `__proto__\.checkpoint`: `__proto__` is not a recipe key/);
    refuses([recipe, '--set', 'model.constructor.prototype.x=1'], /field `model\.constructor\.prototype\.x`: `constructor` is not a recipe key/);
    // In process too: the override never reaches a prototype.
    for (const key of ['__proto__.polluted', 'constructor.prototype.polluted', 'model.__proto__.polluted']) {
      assert.throws(() => applyOverrides({ name: 'x' }, [`${key}=yes`]), InvalidConfigError);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('a key inherited from Object.prototype is walked as a missing key, not through the prototype', () => {
    // `toString` is not an own key of the recipe: the override creates it, and validation names it.
    assert.deepEqual(applyOverrides({}, ['toString.x=1']), { toString: { x: 1 } });
    refuses([recipe, '--set', 'toString.x=1'], /field `toString`: unknown key/);
  });

  test('a recipe name that is a path, or holds a NUL byte, is refused before any directory is made', () => {
    const named = (name: string) => file(`name-${Buffer.from(name).toString('hex')}.yaml`, `name: ${JSON.stringify(name)}\nrounds: 1\ntasks: { family: addition }\n`);
    refuses([named('../../escaped')], /field `name`: must start with a letter or digit and hold only letters, digits, `\.`, `_`, `\+` and `-` \(it names the run directory runs\/<name>-seed<seed>\); got string "\.\.\/\.\.\/escaped"$/);
    refuses([named('a\u0000b')], /field `name`: .*; got string "a\\u0000b"$/);
    refuses([named('runs/x')], /field `name`/);
    refuses([named('.hidden')], /field `name`/);
    // The shipped names and ordinary ones pass.
    for (const name of ['rest-em', 'multiplication-rest-em', 'v1.2_b+c']) assert.equal(validateRecipe({ name, rounds: 1, tasks: { family: 'addition' } }).name, name);
  });
});

describe('model config checks in recipe validation', () => {
  test('--dry-run refuses a dModel that the heads do not divide, naming the recipe path', () => {
    refuses([recipe, '--set', 'model.config={ dModel: 17, nHeads: 4 }'], /^autodidact: Invalid config field `model\.config\.dModel`: 17 is not divisible by nHeads = 4; choose dModel a multiple of nHeads$/);
    refuses([recipe, '--set', 'model.config={ dModel: 12, nHeads: 4 }'], /^autodidact: Invalid config field `model\.config\.nHeads`: head size dModel\/nHeads = 3 must be even for rotary positions$/);
  });

  test('a vocabulary smaller than the byte tokenizer names vocabSize and its minimum', () => {
    refuses([recipe, '--set', 'model.config.vocabSize=10'], /^autodidact: Invalid config field `model\.config\.vocabSize`: 10 is below the 259 token ids of the byte tokenizer .*; set vocabSize ≥ 259$/);
    assert.equal(loadRecipe(recipe, ['model.config.vocabSize=259']).model.config?.vocabSize, 259);
  });
});
