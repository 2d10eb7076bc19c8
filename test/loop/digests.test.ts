/**
 * Recipe digests: every shipped recipe (recipes/*.yaml and the two examples),
 * scaled down with `--set` overrides, runs through the real loop (openRun +
 * runLoop) on a scripted, machine-independent backend (scripted-backend.ts),
 * and what its run stored — tasks, samples, scores, accepted sets,
 * checkpoints, metrics (see digest.ts) — must match what was recorded in
 * test/fixtures/recipe-digests.json (a sha256 per section, with counts) and
 * test/fixtures/recipe-digests.records.tsv (one line per record: recipe,
 * section, key, and the record itself when short, else its hash; it names the
 * first record that differs, and a regenerated fixture's diff shows which
 * records changed). Each recipe also runs twice (its digest must depend on
 * nothing but the recipe), and once more stopped and reopened every few
 * phases or steps (a resumed run must store what an uninterrupted one does).
 *
 * Regenerate after an intended change:
 *   npx tsc -p tsconfig.json && UPDATE_DIGESTS=1 node --test dist/test/loop/digests.test.js
 * Every record in full, to diff two commits' runs: DIGESTS_DUMP=<dir> node --test dist/test/loop/digests.test.js
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { openRun } from '../../src/run/open-run.js';
import { runLoop, type RemoteSampler } from '../../src/run/loop.js';
import { applyOverrides, validateRecipe } from '../../src/recipe/load.js';
import type { Recipe } from '../../src/recipe/schema.js';
import { RunStore } from '../../src/store/run-store.js';
import { preferenceLosses } from '../../src/learn/algorithms/preference.js';
import { byCodeUnit, canonicalJson, compareDigests, digestRun, firstDifference, recordSummary, sectionHash, SECTIONS, type Digest, type DigestCounts, type Section } from './digest.js';
import { ScriptedBackend, TaskOracle } from './scripted-backend.js';

const repository = fileURLToPath(new URL('../../../', import.meta.url));
const fixturePath = join(repository, 'test/fixtures/recipe-digests.json');
const recordsPath = join(repository, 'test/fixtures/recipe-digests.records.tsv');
const update = process.env.UPDATE_DIGESTS === '1';
/** A directory to write every record of each recipe's digest to, in full (one `section, key, value` line each), to diff two commits' runs. */
const dump = process.env.DIGESTS_DUMP;
if (dump) mkdirSync(dump, { recursive: true });
const REGENERATE = 'npx tsc -p tsconfig.json && UPDATE_DIGESTS=1 node --test dist/test/loop/digests.test.js';

/** The recipes digested: every shipped one, and the examples (the served one samples from a scripted stand-in for the server). */
const recipeFiles = [
  ...readdirSync(join(repository, 'recipes')).filter((f) => f.endsWith('.yaml')).sort(byCodeUnit).map((f) => `recipes/${f}`),
  'recipes/examples/multiplication.yaml',
  'recipes/examples/rest-em-served.yaml',
];

interface FixtureEntry {
  file: string;
  overrides: string[];
  counts: DigestCounts;
  sha256: Record<Section, string>;
}

interface Fixture {
  about: string;
  recipes: Record<string, FixtureEntry>;
}

/** The `--set` overrides that scale a recipe down to a few seconds (fewer rounds, tasks, steps, held-out tasks). */
function scaleDown(raw: Record<string, unknown>): string[] {
  const has = (section: string) => raw[section] !== undefined;
  const overrides = ['rounds=3', 'eval.count=2'];
  if (has('warmup')) overrides.push('warmup.count=4', 'warmup.steps=3', 'warmup.batchSize=4');
  if (has('selfplay')) {
    overrides.push('selfplay.steps=2', 'selfplay.batch=2', 'selfplay.rollouts=4');
    if ((raw.selfplay as Record<string, unknown>).formatPrior) overrides.push('selfplay.formatPrior.steps=3', 'selfplay.formatPrior.batchSize=4');
  } else {
    overrides.push('tasks.perRound=4', 'sample.chunk=3');
    if (has('rl')) overrides.push('rl.steps=2', 'rl.promptsPerStep=2');
    else if (has('preference')) overrides.push('preference.steps=3', 'preference.batchSize=2');
    else overrides.push('train.steps=3', 'train.batchSize=4');
  }
  const evaluation = (raw.eval ?? {}) as { n?: number; k?: number[] };
  if (evaluation.n) overrides.push('eval.n=4', `eval.k=[${(evaluation.k ?? [1]).filter((k) => k <= 4).join(', ')}]`);
  return overrides;
}

function loadScaled(file: string): { name: string; recipe: Recipe; overrides: string[] } {
  const raw = parse(readFileSync(join(repository, file), 'utf8')) as Record<string, unknown>;
  const overrides = scaleDown(raw);
  const recipe = validateRecipe(applyOverrides(raw, overrides));
  return { name: recipe.name, recipe, overrides };
}

/** A stand-in for an OpenAI-compatible server that follows training: a second scripted backend that loads each checkpoint handed over and reports its version. */
function scriptedServer(oracle: TaskOracle, seed: number): RemoteSampler {
  const server = new ScriptedBackend(oracle, seed);
  let version = 'none';
  return {
    policy: {
      name: 'scripted-server',
      get version() {
        return version;
      },
      sample: async (prompts, options) => (await server.sample(prompts, options)).map((group) => group.map((c) => ({ ...c, policyVersion: version }))),
    },
    reloadWeights: async (dir, next) => {
      await server.load(dir);
      version = next;
    },
  };
}

/** Whether a recipe's RL or self-play update measures or penalizes the KL to a frozen reference, or its preference loss compares to one. */
function needsReference(recipe: Recipe): boolean {
  const kl = recipe.rl?.kl ?? recipe.selfplay?.kl;
  return (kl !== undefined && (kl.coef > 0 || kl.track)) || (recipe.preference !== undefined && preferenceLosses.get(recipe.preference.loss).needsReference);
}

const root = mkdtempSync(join(tmpdir(), 'autodidact-digests-'));
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * Runs a recipe into a fresh directory and returns its digest. With
 * `stopEvery`, each opening of the run stops at its stopEvery-th shouldStop
 * check (before a phase, or between RL and self-play steps) and the run is
 * reopened — new backends, as a new process would have — until it finishes.
 */
async function runRecipe(recipe: Recipe, baseDir: string, options: { stopEvery?: number } = {}): Promise<{ digest: Digest; opens: number }> {
  const dir = mkdtempSync(join(root, `${recipe.name}-`));
  // The oracle only answers for the tasks a run drew, as a test's answer key: a resumed run shares it across its openings.
  const oracle = new TaskOracle();
  let opens = 0;
  let referenceUsed = false;
  for (;;) {
    opens++;
    assert.ok(opens <= 100, `${recipe.name}: still not finished after 100 openings (stopEvery ${options.stopEvery}): the loop makes no progress between stops`);
    const reference = new ScriptedBackend(oracle, recipe.seed);
    const { parts, close } = await openRun(recipe, { out: dir, baseDir, backend: new ScriptedBackend(oracle, recipe.seed), reference });
    let stopped: boolean;
    try {
      parts.source = oracle.wrap(parts.source);
      if (parts.sampler) parts.sampler = scriptedServer(oracle, recipe.seed);
      let checks = 0;
      const result = await runLoop(parts, options.stopEvery ? { shouldStop: () => ++checks === options.stopEvery } : {});
      stopped = result.stopped;
    } finally {
      await close();
    }
    // The KL reference is the scripted one handed in (an embedded engine's logprobs would differ from machine to machine).
    if (needsReference(recipe)) {
      assert.equal(parts.reference, reference, `${recipe.name}: openRun did not use the reference backend it was given`);
      referenceUsed ||= reference.calls.forward > 0;
    } else assert.equal(parts.reference, undefined, `${recipe.name}: openRun made a KL reference the recipe does not ask for`);
    if (!stopped) break;
  }
  if (needsReference(recipe) && recipe.rounds > 0) assert.ok(referenceUsed, `${recipe.name}: the KL reference was never asked for logprobs`);
  const store = new RunStore(join(dir, 'run.sqlite'), { readonly: true });
  try {
    return { digest: digestRun(store, recipe.rounds), opens };
  } finally {
    store.close();
  }
}

function readFixture(): { fixture: Fixture; records: Map<string, [string, string][]> } | undefined {
  if (!existsSync(fixturePath) || !existsSync(recordsPath)) return undefined;
  const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as Fixture;
  const records = new Map<string, [string, string][]>();
  for (const line of readFileSync(recordsPath, 'utf8').split('\n')) {
    if (!line) continue;
    const [recipe, section, key, summary] = line.split('\t');
    const id = `${recipe}/${section}`;
    (records.get(id) ?? records.set(id, []).get(id)!).push([key, summary]);
  }
  return { fixture, records };
}

/** What differs between a recipe's digest and the fixture: per section, the hashes and the first differing record. */
function fixtureMismatch(name: string, overrides: readonly string[], digest: Digest, recorded: NonNullable<ReturnType<typeof readFixture>>): string | undefined {
  const entry = recorded.fixture.recipes[name];
  if (!entry) return `${name}: not in ${fixturePath}; regenerate it: ${REGENERATE}`;
  const problems: string[] = [];
  for (const section of SECTIONS) {
    const actual = sectionHash(digest.sections[section]);
    if (actual === entry.sha256[section]) continue;
    const expected = recorded.records.get(`${name}/${section}`) ?? [];
    problems.push(
      `${name} / ${section} differ: the fixture has ${expected.length} records (sha256 ${entry.sha256[section].slice(0, 12)}…), this run ${digest.sections[section].length} (sha256 ${actual.slice(0, 12)}…).\n  First difference: ${firstDifference(expected, digest.sections[section])}`,
    );
  }
  if (problems.length === 0) return undefined;
  const rescaled = canonicalJson(entry.overrides) === canonicalJson(overrides) ? '' : `\n  The scale-down overrides changed too: fixture ${canonicalJson(entry.overrides)}, now ${canonicalJson(overrides)}`;
  return `${problems.join('\n')}\n  counts: fixture ${canonicalJson(entry.counts)}\n          this run ${canonicalJson(digest.counts)}${rescaled}`;
}

const recorded = update ? undefined : readFixture();
const digests = new Map<string, { file: string; overrides: string[]; digest: Digest }>();

describe('recipe digests (scripted backend, real loop)', () => {
  for (const file of recipeFiles) {
    const { name, recipe, overrides } = loadScaled(file);
    test(`${name} (${file}) stores what the fixture recorded, the same on a second run`, { timeout: 60_000 }, async () => {
      const baseDir = join(repository, file, '..');
      const first = await runRecipe(recipe, baseDir);
      const second = await runRecipe(recipe, baseDir);
      const nondeterministic = compareDigests(first.digest, second.digest);
      if (nondeterministic) assert.fail(`${name}: two runs of the same recipe stored different things (nondeterminism):\n${nondeterministic}`);
      digests.set(name, { file, overrides, digest: first.digest });
      if (dump) writeFileSync(join(dump, `${name}.jsonl`), SECTIONS.flatMap((section) => first.digest.sections[section].map(([key, value]) => `${section}\t${key}\t${canonicalJson(value)}`)).join('\n') + '\n');
      console.log(`  ${name}: ${canonicalJson(first.digest.counts)}`);
      if (update) return;
      assert.ok(recorded, `${fixturePath} or ${recordsPath} is missing; record them: ${REGENERATE}`);
      const mismatch = fixtureMismatch(name, overrides, first.digest, recorded);
      if (mismatch) assert.fail(`${mismatch}\nIf the change is intended, regenerate the fixture: ${REGENERATE}\nTo see every record in full, run this commit and the one before with DIGESTS_DUMP=<dir> and diff the two directories.`);
    });
  }

  recipeFiles.forEach((file, i) => {
    const { name, recipe } = loadScaled(file);
    // Stops at every 3rd or 4th check, so runs stop at different phases and steps.
    const stopEvery = 3 + (i % 2);
    test(`${name} stopped every ${stopEvery} checks and reopened stores what an uninterrupted run does`, { timeout: 60_000 }, async () => {
      const resumed = await runRecipe(recipe, join(repository, file, '..'), { stopEvery });
      assert.ok(resumed.opens > 3, `${name}: the run should have been stopped several times (opened ${resumed.opens} times)`);
      const uninterrupted = digests.get(name)?.digest ?? (await runRecipe(recipe, join(repository, file, '..'))).digest;
      const difference = compareDigests(uninterrupted, resumed.digest, ['uninterrupted', 'resumed']);
      if (difference) assert.fail(`${name}: the run stopped and reopened ${resumed.opens - 1} times stored something else than an uninterrupted run:\n${difference}`);
      console.log(`  ${name}: same digest after ${resumed.opens - 1} stops`);
    });
  });

  test('the fixture lists exactly the recipes digested', { skip: update ? 'UPDATE_DIGESTS=1: the fixture is being rewritten' : false }, () => {
    assert.ok(recorded, `${fixturePath} is missing; record it: ${REGENERATE}`);
    const names = recipeFiles.map((f) => loadScaled(f).name).sort(byCodeUnit);
    assert.deepEqual(Object.keys(recorded.fixture.recipes).sort(byCodeUnit), names, `the fixture's recipes differ from the recipes shipped; regenerate it: ${REGENERATE}`);
  });

  if (update) {
    after(() => {
      if (digests.size !== recipeFiles.length) {
        console.log(`UPDATE_DIGESTS=1: only ${digests.size} of ${recipeFiles.length} recipes ran to the end; the fixture was not rewritten`);
        return;
      }
      const recipes: Record<string, FixtureEntry> = {};
      const lines: string[] = [];
      for (const [name, { file, overrides, digest }] of [...digests].sort(([a], [b]) => byCodeUnit(a, b))) {
        recipes[name] = { file, overrides, counts: digest.counts, sha256: Object.fromEntries(SECTIONS.map((s) => [s, sectionHash(digest.sections[s])])) as Record<Section, string> };
        for (const section of SECTIONS) for (const [key, value] of digest.sections[section]) lines.push(`${name}\t${section}\t${key}\t${recordSummary(value)}`);
      }
      const about = `Digests of what each recipe's run stores, scaled down by the overrides, on the scripted backend of test/loop/scripted-backend.ts (see test/loop/digests.test.ts). Regenerate: ${REGENERATE}`;
      writeFileSync(fixturePath, `${JSON.stringify({ about, recipes } satisfies Fixture, null, 2)}\n`);
      writeFileSync(recordsPath, `${lines.join('\n')}\n`);
      console.log(`UPDATE_DIGESTS=1: wrote ${fixturePath} and ${recordsPath} (${lines.length} records)`);
    });
  }
});
