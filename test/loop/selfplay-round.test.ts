/**
 * Absolute Zero self-play through the loop: a format prior, then rounds of
 * propose → validate → solve → update on the embedded engine; every step's
 * proposals and answers are in the store with their rewards; a round stopped
 * between steps resumes to exactly the uninterrupted run; a SEC curriculum
 * over the task types plans the rounds and the monitors read them; recipes
 * that mix self-play with task data or RL, or with controllers it cannot
 * feed, are refused with the field named.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { loadRecipe, validateRecipe } from '../../src/recipe/load.js';
import type { RecipeInput } from '../../src/recipe/schema.js';
import { runRecipe } from '../../src/cli/run.js';
import { InvalidConfigError } from '../../src/errors.js';
import { RunStore } from '../../src/store/run-store.js';

const dir = mkdtempSync(join(tmpdir(), 'autodidact-selfplay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tiny: RecipeInput = {
  name: 'selfplay-test',
  seed: 1,
  rounds: 1,
  model: { config: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 48 } },
  tasks: { family: 'programs' },
  sample: { maxTokens: 12 },
  selfplay: { steps: 3, batch: 4, rollouts: 2, references: 2, formatOptions: { maxProgramLength: 3 }, formatPrior: { steps: 20, batchSize: 32 }, learningRate: 5e-4 },
};

const run = (recipe: RecipeInput, out: string, shouldStop?: () => boolean) =>
  runRecipe(validateRecipe(recipe), { out: join(dir, out), baseDir: dir, log: () => {}, shouldStop, formatRound: () => null });

const stored = (out: string, round: number) => {
  const db = new Database(join(dir, out, 'run.sqlite'), { readonly: true });
  try {
    // The round's finished steps (src/store/steps.ts): the last one holds the buffers.
    const steps = db.prepare("SELECT step, state FROM steps WHERE round = ? AND phase = 'selfplay' ORDER BY step").all(round) as { step: number; state: string | null }[];
    const last = steps.at(-1);
    const samples = db.prepare('SELECT s.round, s.step, s.task_id, s.prompt, s.completion, s.policy_version, sc.status, sc.reward, sc.feedback FROM samples s JOIN scores sc ON sc.sample_id = s.id ORDER BY s.id').all() as Record<string, unknown>[];
    return { state: last ? { steps: steps.length, buffers: (JSON.parse(last.state!) as { buffers: Record<string, unknown[]> }).buffers } : null, samples };
  } finally {
    db.close();
  }
};

describe('self-play rounds', () => {
  test('a run stores every proposal and answer with its reward, reports per-type metrics and evaluates the held-out programs', { timeout: 120_000 }, async () => {
    const result = await run({ ...tiny, rounds: 2 }, 'basic');
    assert.equal(result.stopped, false);
    assert.equal(result.rounds.length, 3);
    const { state, samples } = stored('basic', 2);
    assert.equal(state!.steps, 3);
    // Per step: 3 types × 4 proposals + 3 × 4 answers.
    assert.equal(samples.length, 2 * 3 * 24);
    const kinds = new Set(samples.map((s) => String(s.task_id).split('/')[0]));
    assert.deepEqual([...kinds].sort(), ['propose-abduction', 'propose-deduction', 'propose-induction', 'solve-abduction', 'solve-deduction', 'solve-induction']);
    for (const s of samples) {
      assert.equal(s.status, 'scored');
      assert.ok(Number.isFinite(s.reward) && String(s.feedback).length > 0, JSON.stringify(s));
    }
    const m = result.rounds[2].metrics;
    for (const key of ['propose/deduction/valid', 'propose/induction/valid', 'solve/abduction/accuracy', 'buffer/deduction', 'buffer/added', 'policy/grad_norm', 'eval/accuracy', 'eval/accuracy/d1', 'eval/accuracy/d2', 'eval/accuracy/d3', 'timing_ms/selfplay']) {
      assert.ok(Number.isFinite(m[key]), `${key} = ${m[key]}`);
    }
    // The buffers carry over: round 2 starts from round 1's.
    assert.ok(state!.buffers.deduction.length >= stored('basic', 1).state!.buffers.deduction.length);
    assert.equal(result.rounds[0].metrics['eval/accuracy/d3'] !== undefined, true, 'the baseline is evaluated on all three task types');
  });

  test('a round stopped between steps resumes to exactly the uninterrupted run', { timeout: 120_000 }, async () => {
    const recipe = { ...tiny, selfplay: { ...tiny.selfplay!, steps: 4, trainRollouts: true, inputs: 'random', duplicates: 'penalize', duplicateWindow: 8 } } satisfies RecipeInput;
    await run(recipe, 'straight');
    const stopped = await run(recipe, 'resumed', () => (stored('resumed', 1).state?.steps ?? 0) >= 2);
    assert.equal(stopped.stopped, true);
    assert.equal(stored('resumed', 1).state!.steps, 2);
    const resumed = await run(recipe, 'resumed');
    assert.equal(resumed.stopped, false);
    const [a, b] = [stored('straight', 1), stored('resumed', 1)];
    assert.deepEqual(b.samples, a.samples, 'the same proposals and answers, step by step');
    assert.deepEqual(b.state!.buffers, a.state!.buffers, 'the same buffers');
    const weights = (out: string) => readFileSync(join(dir, out, 'checkpoints', 'round-1', 'model.safetensors'));
    assert.ok(weights('straight').equals(weights('resumed')), 'the same final weights, bit for bit');
  });

  test('a SEC curriculum over the task types plans each round: the stored plan\'s solve counts per type, Q from the last round\'s mean |advantage|; monitors read the round\'s proposals and answers', { timeout: 180_000 }, async () => {
    const recipe = { ...tiny, rounds: 2, selfplay: { ...tiny.selfplay!, steps: 2, batch: 3, formatPrior: { steps: 10, batchSize: 16 } }, curriculum: { kind: 'sec', categories: ['deduction', 'abduction', 'induction'], learningRate: 1, temperature: 0.5 } } satisfies RecipeInput;
    const result = await run(recipe, 'sec');
    const store = new RunStore(join(dir, 'sec', 'run.sqlite'), { readonly: true });
    try {
      for (const round of [1, 2]) {
        const { plan, states } = store.loadPlan(round)!;
        const m = result.rounds[round].metrics;
        assert.equal(plan.setBy.draws, 'sec');
        assert.ok(plan.draws.every((d) => ['deduction', 'abduction', 'induction'].includes(d.category)), JSON.stringify(plan.draws));
        assert.equal(plan.draws.reduce((n, d) => n + d.count, 0), 3 * 3, 'SEC divides the 3 × batch solve tasks among the types');
        const counts = Object.fromEntries(['deduction', 'abduction', 'induction'].map((type) => [type, plan.draws.find((d) => d.category === type)?.count ?? 0]));
        const samples = store.loadSamples(round, 'sample');
        for (const step of [0, 1]) {
          for (const type of ['deduction', 'abduction', 'induction']) {
            const answers = samples.filter((s) => s.step === step && s.taskId.startsWith(`solve-${type}/`));
            assert.equal(answers.length, counts[type], `round ${round} step ${step}: the solve batch has the plan's ${type} count`);
            assert.ok(answers.every((s) => s.sampler.temperature === plan.sampling.temperature));
            assert.equal(samples.filter((s) => s.step === step && s.taskId.startsWith(`propose-${type}/`)).length, 3, 'the proposer still proposes batch of each type');
          }
          for (const type of ['deduction', 'abduction', 'induction']) assert.equal(m[`curriculum/selected/${type}`], counts[type]);
        }
        // The monitors' view of the round: every stored proposal and answer.
        assert.equal(m['sampling/samples'], samples.length);
        assert.ok(Number.isFinite(m['reward/mean']) && Number.isFinite(m['explore/pass@1']), JSON.stringify(m));
        assert.equal(m['exploit/precision'], undefined, 'self-play accepts nothing, so no accept precision');
        assert.ok((states.sec as { through: number }).through === round - 1);
      }
      // Round 2's values are round 1's learning gains (α = 1): the mean |advantage| of each type's answers; a type round 1 did not solve keeps its initial value.
      const first = result.rounds[1].metrics;
      const second = result.rounds[2].metrics;
      for (const type of ['deduction', 'abduction', 'induction']) {
        assert.equal(first[`curriculum/q/${type}`], 0);
        assert.ok(Math.abs(second[`curriculum/q/${type}`] - (first[`solve/${type}/abs_advantage`] ?? 0)) < 1e-9, `${type}: q ${second[`curriculum/q/${type}`]}, gain ${first[`solve/${type}/abs_advantage`]}`);
      }
    } finally {
      store.close();
    }
  });

  test('recipes that mix self-play with task data or RL, or ask a format for what it lacks, are refused with the field named', () => {
    const cases: [Partial<RecipeInput>, RegExp][] = [
      [{ rl: {} }, /`selfplay`: makes this a self-play recipe, but `rl` makes it a policy-gradient one; a recipe runs one method/],
      [{ warmup: { count: 10, difficulties: [1], steps: 10 } }, /`warmup`: is not read by the self-play method \(it uses no labeled data/],
      [{ tasks: { family: 'addition' } }, /`tasks\.family`: must be `programs` for self-play/],
      [{ selfplay: { format: 'js', formatPrior: { steps: 10 } } }, /`selfplay\.formatPrior`: the js format has no format prior/],
      [{ selfplay: { format: 'js', inputs: 'random' } }, /`selfplay\.inputs`: random inputs need a format whose inputs can be drawn/],
      [{ selfplay: { loss: 'clip' } }, /`selfplay\.loss`: unknown policy loss "clip"/],
      [{ selfplay: { duplicates: 'drop' as never } }, /`selfplay\.duplicates`/],
      [{ curriculum: { kind: 'easy-to-hard', start: 1, max: 3 } }, /`curriculum\.kind`: easy-to-hard orders difficulties.*curriculum\.kind: sec/],
      [{ curriculum: { kind: 'sec', categories: ['d1', 'deduction'] } }, /`curriculum\.categories`: "d1" is not a self-play task type/],
      [{ controllers: [{ kind: 'b-star' }] }, /`controllers\.0\.kind`: b-star probes tasks drawn from the task source/],
      [{ controllers: [{ kind: 'learnability' }] }, /`controllers\.0\.kind`: learnability weights recurring tasks/],
    ];
    for (const [change, message] of cases) {
      assert.throws(() => validateRecipe({ ...tiny, ...change }), (e: Error) => e instanceof InvalidConfigError && message.test(e.message), `${JSON.stringify(change)}: ${(() => { try { validateRecipe({ ...tiny, ...change }); return 'accepted'; } catch (e) { return (e as Error).message; } })()}`);
    }
  });

  test('recipes/absolute-zero.yaml loads', () => {
    const recipe = loadRecipe(new URL('../../../recipes/absolute-zero.yaml', import.meta.url).pathname);
    assert.equal(recipe.selfplay?.format, 'expr');
    assert.equal(recipe.tasks.family, 'programs');
  });
});
