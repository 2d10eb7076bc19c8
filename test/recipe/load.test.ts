/** Recipe loading: YAML, --set overrides, validation; error messages asserted word for word. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { InvalidConfigError, RecipeFileError } from '../../src/errors.js';
import { resolveTasks } from '../../src/tasks/sources.js';
import { applyOverrides, loadRecipe, validateRecipe } from '../../src/recipe/load.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-recipe-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const base = { name: 'x', rounds: 2, tasks: { family: 'addition' } };
/** Asserts that `fn` throws an error of `type` whose message is exactly `message`. */
const throwsExactly = (fn: () => unknown, type: new (...args: never[]) => Error, message: string) =>
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
    assert.equal(error.message, message);
    return true;
  });
const invalid = (raw: unknown, message: string) => throwsExactly(() => validateRecipe(raw), InvalidConfigError, message);

describe('recipe validation messages', () => {
  test('an unknown key suggests the nearest valid one, nested and at the top', () => {
    invalid({ ...base, train: { stpes: 10 } }, 'Invalid config field `train.stpes`: unknown key — did you mean `steps`?');
    invalid({ ...base, rouns: 3 }, 'Invalid config field `rouns`: unknown key — did you mean `rounds`?');
    invalid({ ...base, model: { config: { dmodel: 32 } } }, 'Invalid config field `model.config.dmodel`: unknown key — did you mean `dModel`?');
  });

  test('a template placeholder its site does not fill is refused at load, with a did-you-mean and the valid ones', () => {
    invalid({ ...base, rationalize: { enabled: true, template: '{answr}|{prompt}' } }, 'Invalid config field `rationalize.template`: unknown placeholder {answr} — did you mean {answer}? (known: {prompt}, {answer})');
    invalid({ ...base, reflect: { template: '{prompt}{attempt}|{feedbak}' } }, 'Invalid config field `reflect.template`: unknown placeholder {feedbak} — did you mean {feedback}? (known: {prompt}, {attempt}, {feedback})');
    // {answer} is rationalize's, not reflect's; nothing is near it.
    invalid({ ...base, reflect: { enabled: true, template: '{prompt}{answer}' } }, 'Invalid config field `reflect.template`: unknown placeholder {answer} (known: {prompt}, {attempt}, {feedback})');
    invalid({ ...base, verifier: { kind: 'judge', rubric: '{prompt} {completion} {refrence}' } }, 'Invalid config field `verifier.rubric`: unknown placeholder {refrence} — did you mean {reference}? (known: {prompt}, {completion}, {reference}, {min}, {max})');
    // Text in braces that is not a {word} placeholder (JSON) stays text.
    assert.equal(validateRecipe({ ...base, reflect: { template: '{"task": "{prompt}"} {attempt}|{feedback}' } }).reflect.template, '{"task": "{prompt}"} {attempt}|{feedback}');
  });

  test('inside the curriculum, the suggestion comes from the keys of its kind', () => {
    invalid({ ...base, curriculum: { kind: 'easy-to-hard', start: 1, max: 3, promotAt: 0.5 } }, 'Invalid config field `curriculum.promotAt`: unknown key — did you mean `promoteAt`?');
    invalid({ ...base, curriculum: { kind: 'fixed', dificulty: 2 } }, 'Invalid config field `curriculum.dificulty`: unknown key — did you mean `difficulty`?');
  });

  test('an unknown key with no near miss lists the valid keys', () => {
    invalid(
      { ...base, train: { zzzzzzzz: 1 } },
      'Invalid config field `train.zzzzzzzz`: unknown key (valid keys: steps, batchSize, learningRate, from, data, includeLabeled)',
    );
  });

  test('a wrong type names the expected type and what it got', () => {
    invalid({ ...base, rounds: 'three' }, 'Invalid config field `rounds`: expected number, got string "three"');
    invalid({ ...base, rounds: 1.5 }, 'Invalid config field `rounds`: expected integer, got number 1.5');
    invalid({ ...base, sample: { stop: ';' } }, 'Invalid config field `sample.stop`: expected array, got string ";"');
    invalid(null, 'Invalid config field `(root)`: expected object, got null');
  });

  test('a missing required field says it is required', () => {
    invalid({ name: 'x', rounds: 1 }, 'Invalid config field `tasks`: is required (expected object)');
    invalid({ name: 'x', tasks: { family: 'addition' } }, 'Invalid config field `rounds`: is required (expected number)');
  });

  test('out-of-range numbers and unknown choices name the valid range or values', () => {
    invalid({ ...base, rounds: -1 }, 'Invalid config field `rounds`: must be ≥ 0, got number -1');
    invalid({ ...base, sample: { topP: 0 } }, 'Invalid config field `sample.topP`: must be > 0, got number 0');
    invalid({ ...base, accept: { minAgreement: 2 } }, 'Invalid config field `accept.minAgreement`: must be ≤ 1, got number 2');
    invalid({ ...base, train: { from: 'scratch' } }, 'Invalid config field `train.from`: expected one of: previous, base; got string "scratch"');
  });

  test('an unknown or missing curriculum kind lists the kinds', () => {
    invalid({ ...base, curriculum: { kind: 'hard-to-easy' } }, 'Invalid config field `curriculum.kind`: expected one of: fixed, easy-to-hard, sec; got string "hard-to-easy"');
    invalid({ ...base, curriculum: { difficulty: 2 } }, 'Invalid config field `curriculum.kind`: is required (one of: fixed, easy-to-hard, sec)');
  });

  test('checks between fields: majority with refinement, pass@k beyond n, curriculum max below start', () => {
    const majority = 'needs verifier feedback or answers, but accept.by is majority (no labels); set accept.by: verifier or disable it';
    invalid({ ...base, accept: { by: 'majority' }, reflect: { enabled: true } }, `Invalid config field \`reflect.enabled\`: ${majority}`);
    invalid({ ...base, accept: { by: 'majority' }, rationalize: { enabled: true } }, `Invalid config field \`rationalize.enabled\`: ${majority}`);
    invalid({ ...base, eval: { n: 4, k: [1, 8] } }, 'Invalid config field `eval.k`: pass@8 needs at least 8 samples per task, but eval.n = 4');
    invalid({ ...base, curriculum: { kind: 'easy-to-hard', start: 3, max: 2 } }, 'Invalid config field `curriculum.max`: 2 is below curriculum.start = 3; set max ≥ start');
    // the same settings are fine apart
    assert.equal(validateRecipe({ ...base, accept: { by: 'majority' } }).accept.by, 'majority');
    assert.deepEqual(validateRecipe({ ...base, eval: { n: 8, k: [1, 8] } }).eval.k, [1, 8]);
    assert.equal(validateRecipe({ ...base, eval: { n: 0, k: [1, 8] } }).eval.n, 0, 'k is not checked without sampling');
  });

  test('the loop v2 sections: each refusal names the field, the method and the fix, word for word', () => {
    const rl = { steps: 2, promptsPerStep: 2 };
    invalid({ ...base, curriculum: { kind: 'sec', categories: ['d1', 'algebra'] } }, 'Invalid config field `curriculum.categories`: names "algebra", but task sources draw by difficulty; name each category d<difficulty> (e.g. [d1, d2, d3])');
    invalid({ ...base, controllers: [{ kind: 'learnability' }] }, 'Invalid config field `controllers.0.kind`: learnability weights tasks by their solve rates in earlier rounds, which needs tasks that recur: set tasks.pool (tasks per difficulty, drawn once)');
    invalid({ ...base, controllers: [{ kind: 'b-star' }, { kind: 'b-star' }] }, 'Invalid config field `controllers`: lists b-star twice; each controller keeps one state per run, so list it once');
    invalid({ ...base, reflect: { enabled: true, coef: 0.2 } }, "Invalid config field `reflect.coef`: weights the revisions' supervised term in policy-gradient steps; a self-training recipe trains revisions as accepted data instead. Remove it");
    invalid({ ...base, rl: { ...rl, selfCorrection: {} }, reflect: { enabled: true } }, "Invalid config field `reflect.enabled`: and rl.selfCorrection both revise failed attempts; SCoRe's second attempt is the revision. Remove one");
    invalid({ ...base, rl: { ...rl, selfCorrection: {} }, sample: { n: 4 }, verifier: { kind: 'majority-vote' } }, 'Invalid config field `rl.selfCorrection`: scores each attempt on its own, but verifier.kind majority-vote scores whole groups or asks a judge; use verifier.kind: tasks');
    // Reflection now composes with policy gradient; rationalization still does not.
    assert.equal(validateRecipe({ ...base, rl, reflect: { enabled: true, coef: 0.2 } }).reflect.coef, 0.2);
    invalid({ ...base, rl, rationalize: { enabled: true } }, 'Invalid config field `rationalize`: is not read by the policy-gradient method (rationalization trains hinted answers as they are, which a policy gradient has no term for); remove `rationalize`');
  });

  test('`method:` picks the method; its own section must be there, no other method\'s, and no section it does not read — word for word', () => {
    const rl = { steps: 2, promptsPerStep: 2 };
    assert.equal(validateRecipe(base).method, 'self-training', 'inferred: no method section');
    assert.equal(validateRecipe({ ...base, rl }).method, 'policy-gradient', 'inferred from rl');
    assert.equal(validateRecipe({ ...base, method: 'policy-gradient', rl }).method, 'policy-gradient');
    invalid({ ...base, method: 'policy-gradient' }, 'Invalid config field `rl`: is missing: method policy-gradient is configured by its `rl` section; add it (see recipes/ for one of each), or choose another method');
    invalid({ ...base, method: 'self-training', rl }, "Invalid config field `rl`: configures the policy-gradient method, but this recipe's method is self-training; a recipe runs one method: remove `rl`, or set method: policy-gradient");
    invalid({ ...base, method: 'dpo' }, 'Invalid config field `method`: expected one of: self-training, policy-gradient, self-play, preference; got string "dpo"');
    invalid({ ...base, rl, train: { steps: 3 } }, 'Invalid config field `train`: is not read by the policy-gradient method (it updates by `rl` steps (rl.learningRate, rl.steps), not by fine-tuning on an accepted set); remove `train`');
    invalid({ ...base, rl, accept: { capPerTask: 2 } }, 'Invalid config field `accept`: is not read by the policy-gradient method (every scored completion of a group trains with its advantage; nothing is accepted or rejected); remove `accept`');
    const selfplay = { ...base, tasks: { family: 'programs' }, selfplay: {} };
    assert.equal(validateRecipe(selfplay).method, 'self-play');
    invalid({ ...selfplay, sample: { temperature: 0.7 } }, 'Invalid config field `sample.temperature`: is not read by the self-play method (each role samples at its own selfplay.temperature (propose, solve)); remove `sample.temperature`');
    invalid({ ...selfplay, sample: { n: 8 } }, 'Invalid config field `sample.n`: is not read by the self-play method (it draws selfplay.rollouts answers per task and one proposal per slot); remove `sample.n`');
    invalid({ ...selfplay, verifier: { kind: 'tasks' } }, 'Invalid config field `verifier`: is not read by the self-play method (the executor scores proposals and answers); remove `verifier`');
    invalid({ ...selfplay, rl }, 'Invalid config field `selfplay`: makes this a self-play recipe, but `rl` makes it a policy-gradient one; a recipe runs one method: remove `selfplay` or `rl`');
  });

  test('defaults fill a minimal recipe', () => {
    const recipe = validateRecipe(base);
    assert.deepEqual(recipe.curriculum, { kind: 'fixed', difficulty: 1 });
    assert.deepEqual([recipe.sample.n, recipe.sample.chunk, recipe.accept.by, recipe.accept.capPerTask, recipe.train.from, recipe.train.data], [4, 32, 'verifier', 1, 'previous', 'all']);
    assert.equal(recipe.warmup, undefined);
  });
});

describe('--set overrides', () => {
  test('values are read as YAML: numbers, booleans, arrays, strings; missing parents are created', () => {
    const raw = { ...base, train: { steps: 3, from: 'previous' } };
    const out = applyOverrides(raw, ['train.steps=7', 'reflect.enabled=true', 'eval.k=[1, 4]', 'sample.stop=[";"]', 'train.from=base', 'new.deep.key=2.5', 'description=hello world', 'rounds=0x10']);
    assert.deepEqual(out, {
      ...base,
      rounds: 16,
      train: { steps: 7, from: 'base' },
      reflect: { enabled: true },
      eval: { k: [1, 4] },
      sample: { stop: [';'] },
      new: { deep: { key: 2.5 } },
      description: 'hello world',
    });
    assert.deepEqual(raw, { ...base, train: { steps: 3, from: 'previous' } }, 'the input is not changed');
    assert.equal(applyOverrides(base, ['description=a: b: c']).description, 'a: b: c', 'text that is not valid YAML is kept as text');
  });

  test('a malformed override or a key inside a scalar is refused, naming the fix', () => {
    throwsExactly(() => applyOverrides(base, ['foo']), InvalidConfigError, 'Invalid config field `foo`: a --set override is path.to.key=value, e.g. --set train.steps=200');
    throwsExactly(() => applyOverrides(base, ['=3']), InvalidConfigError, 'Invalid config field `=3`: a --set override is path.to.key=value, e.g. --set train.steps=200');
    throwsExactly(() => applyOverrides(base, ['rounds.x=1']), InvalidConfigError, 'Invalid config field `rounds.x`: cannot set a key inside `rounds`, which is number');
    throwsExactly(() => applyOverrides({ ...base, eval: { k: [1] } }, ['eval.k.x=1']), InvalidConfigError, 'Invalid config field `eval.k.x`: cannot set a key inside `k`, which is an array');
  });

  test('an override is validated like the file: a typo in its path is an unknown key', () => {
    const path = file('ok.yaml', 'name: ok\nrounds: 2\ntasks: { family: addition }\ntrain: { steps: 5 }\n');
    assert.equal(loadRecipe(path, ['train.steps=9']).train.steps, 9);
    throwsExactly(() => loadRecipe(path, ['train.stepz=9']), InvalidConfigError, 'Invalid config field `train.stepz`: unknown key — did you mean `steps`?');
    throwsExactly(() => loadRecipe(path, ['rounds=three']), InvalidConfigError, 'Invalid config field `rounds`: expected number, got string "three"');
  });
});

describe('recipe files', () => {
  test('the shipped rest-em recipe loads', () => {
    const recipe = loadRecipe(new URL('../../../recipes/rest-em.yaml', import.meta.url).pathname);
    assert.equal(recipe.name, 'rest-em');
    assert.equal(recipe.train.from, 'base');
  });

  test('a YAML syntax error names the file, line and column', () => {
    const path = file('broken.yaml', 'name: x\nrounds: 2\ntasks:\n  family: addition\n   perRound: 3\n');
    throwsExactly(() => loadRecipe(path), RecipeFileError, `${path}: YAML syntax error at line 4, column 11: Nested mappings are not allowed in compact mappings`);
    const flow = file('flow.yaml', 'name: x\nrounds: [1\n');
    throwsExactly(() => loadRecipe(flow), RecipeFileError, `${flow}: YAML syntax error at line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`);
  });

  test('a file that is not a mapping, or is missing, is refused naming the file', () => {
    const list = file('list.yaml', '- a\n- b\n');
    throwsExactly(() => loadRecipe(list), RecipeFileError, `${list}: a recipe is a YAML mapping (name: …, rounds: …, tasks: …)`);
    const missing = join(dir, 'missing.yaml');
    throwsExactly(() => loadRecipe(missing), RecipeFileError, `${missing}: cannot read the recipe (ENOENT)`);
  });
});

describe('task sources of a recipe', () => {
  const tasks = (over: Record<string, unknown>) => validateRecipe({ ...base, tasks: over }).tasks;

  test('an unknown built-in family name lists the built-ins', async () => {
    await assert.rejects(resolveTasks(tasks({ family: 'multiplication' }), dir), (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError);
      assert.equal(error.message, 'Invalid config field `tasks.family`: unknown family "multiplication"; use one of addition, countdown, string, code, programs or a module path such as ./my-family.js');
      return true;
    });
  });

  test('neither or both of family and file is refused', async () => {
    const message = 'Invalid config field `tasks`: set exactly one of `family` (a built-in name or a module path) and `file` (a JSONL task file)';
    await assert.rejects(resolveTasks(tasks({}), dir), { message });
    await assert.rejects(resolveTasks(tasks({ family: 'addition', file: 'x.jsonl' }), dir), { message });
  });

  test("a built-in family's options are checked like the rest of the recipe", async () => {
    await assert.rejects(resolveTasks(tasks({ family: 'addition', options: { fromat: 'reversed' } }), dir), {
      message: 'Invalid config field `tasks.options.fromat`: unknown key — did you mean `format`?',
    });
    await assert.rejects(resolveTasks(tasks({ family: 'string', options: { operation: 'shuffle' } }), dir), {
      message: 'Invalid config field `tasks.options.operation`: expected one of: reverse, sort; got string "shuffle"',
    });
  });

  test('a built-in family resolves with its options and verifier', async () => {
    const { source, verifier } = await resolveTasks(tasks({ family: 'addition', options: { format: 'reversed' } }), dir);
    assert.equal(source.name, 'addition-reversed');
    assert.equal(verifier.name, 'addition-reversed');
    assert.equal(source.tasks({ count: 3, difficulty: 2, seed: 1, split: 's' }).length, 3);
  });
});

test('a remote sampler with policy-gradient rounds must reload weights and return token ids', () => {
  const base = { name: 'r', rounds: 1, tasks: { family: 'addition' }, rl: { steps: 1 } };
  const sampler = { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm' };
  assert.doesNotThrow(() => validateRecipe({ ...base, sampler }));
  assert.throws(() => validateRecipe({ ...base, sampler: { ...sampler, reload: false } }), /sampler\.reload.*policy-gradient/);
  assert.throws(() => validateRecipe({ ...base, sampler: { ...sampler, tokenIds: false } }), /sampler\.tokenIds/);
  assert.throws(() => validateRecipe({ ...base, sampler: { ...sampler, api: 'chat', promptsPerRequest: 2 } }), /sampler\.promptsPerRequest.*chat API/);
  assert.throws(() => validateRecipe({ ...base, sampler: { kind: 'openai', model: 'm' } }), /sampler\.baseUrl/);
  assert.throws(() => validateRecipe({ ...base, sampler: { kind: 'vllm' } }), /sampler\.kind/);
});
