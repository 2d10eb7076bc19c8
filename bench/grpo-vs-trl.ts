/**
 * GRPO against the peer users would pick: TRL's GRPOTrainer, run by
 * bench/trl_grpo.py in the same process tree, from the same SFT checkpoint
 * (ours, opened by transformers), on the same task pool, with the same group
 * size, completions per step, learning rate, temperature, clip range, loss
 * aggregation (token mean over the batch: TRL's loss_type "dapo") and
 * optimizer (AdamW 0.9/0.999, no decay, constant rate, clip 1). Both sides'
 * checkpoints are scored by one evaluator (ours: greedy accuracy on held-out
 * sums no step trains on), against completions sampled and against
 * wall-clock (training only: evaluation is excluded on both sides; our
 * clock includes the per-step checkpoint writes that make runs resumable).
 *
 *   node dist/bench/grpo-vs-trl.js --python /path/to/venv/bin/python \
 *       [--checkpoint runs/rl-sft/checkpoints/round-0] [--difficulty 2] [--steps 48] [--eval-every 16] \
 *       [--group 8] [--prompts 16] [--lr 1e-4] [--temperature 1] [--max-tokens 40] [--seed 0] \
 *       [--eval 200] [--out runs/grpo-vs-trl] [--json]
 *
 * The Python side needs `pip install torch transformers trl datasets` in that venv.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { EmbeddedBackend } from '../src/engine/backend.js';
import { ByteTokenizer } from '../src/engine/tokenizer.js';
import { evaluate } from '../src/learn/steps.js';
import { validateRecipe } from '../src/recipe/load.js';
import { runRecipe } from '../src/cli/run.js';
import { additionFamily } from '../src/tasks/addition.js';
import type { Task } from '../src/spec/task.js';

const { values } = parseArgs({
  options: {
    python: { type: 'string', default: process.env.AUTODIDACT_TORCH_PYTHON ?? 'python3' },
    checkpoint: { type: 'string', default: 'runs/rl-sft/checkpoints/round-0' },
    difficulty: { type: 'string', default: '2' },
    steps: { type: 'string', default: '48' },
    'eval-every': { type: 'string', default: '16' },
    group: { type: 'string', default: '8' },
    prompts: { type: 'string', default: '16' },
    lr: { type: 'string', default: '1e-4' },
    temperature: { type: 'string', default: '1' },
    'max-tokens': { type: 'string', default: '40' },
    seed: { type: 'string', default: '0' },
    eval: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'runs/grpo-vs-trl' },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);
const num = (key: keyof typeof values) => Number(values[key]);
const [d, steps, every, group, prompts, seed] = [num('difficulty'), num('steps'), num('eval-every'), num('group'), num('prompts'), num('seed')];
if (steps % every !== 0) throw new Error(`--steps ${steps} must be a multiple of --eval-every ${every}`);
const checkpoint = resolve(values.checkpoint!);
if (!existsSync(join(checkpoint, 'config.json'))) throw new Error(`no checkpoint at ${checkpoint}: run \`node dist/src/cli/main.js run recipes/grpo.yaml --out runs/rl-sft --set rounds=0 --set 'eval.difficulties=[1,2,3]'\` first, or pass --checkpoint`);
const out = resolve(values.out!);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
process.env.AUTODIDACT_THREADS = values.threads;

// 1. Ours: the GRPO recipe with the peer's settings; one round per evaluation point.
const ours = validateRecipe({
  name: 'grpo-vs-trl',
  seed,
  rounds: steps / every,
  model: { checkpoint },
  tasks: { family: 'addition', options: { format: 'scratchpad' }, perRound: every * prompts },
  curriculum: { kind: 'fixed', difficulty: d },
  sample: { n: group, temperature: num('temperature'), maxTokens: num('max-tokens') },
  rl: {
    steps: every,
    promptsPerStep: prompts,
    advantage: 'grpo',
    advantageOptions: { epsilon: 1e-4 }, // TRL's (r − mean) / (std + 1e-4)
    loss: 'ppo-clip',
    lossOptions: { clipLow: 0.2, clipHigh: 0.2 },
    aggregation: 'token-mean',
    learningRate: num('lr'),
    kl: { track: false }, // TRL with beta 0 keeps no reference model
  },
  eval: { count: 1, difficulties: [d] }, // scored below, by the same evaluator for both sides
});
log(`ours: ${steps} GRPO steps of ${prompts} prompts × ${group} completions at d${d}…`);
const result = await runRecipe(ours, { out: join(out, 'ours'), baseDir: out, log: () => {}, formatRound: () => null });
const oursPoints = [{ step: 0, completions: 0, seconds: 0, checkpoint }];
let completions = 0;
let seconds = 0;
for (const round of result.rounds.slice(1)) {
  completions += round.metrics['sampling/completions'];
  seconds += round.metrics['timing_ms/rl'] / 1000;
  oursPoints.push({ step: round.round * every, completions, seconds, checkpoint: round.checkpoint });
}

// 2. TRL on the same prompt pool (every task our rounds drew, in order).
const store = new Database(join(out, 'ours', 'run.sqlite'), { readonly: true });
const pool = (store.prepare("SELECT json FROM tasks WHERE split = 'train' ORDER BY round, position").all() as { json: string }[]).map((row) => JSON.parse(row.json) as Task);
store.close();
const tokenizer = new ByteTokenizer();
const config = {
  checkpoint,
  train: pool.map((t) => ({ prompt: t.prompt, answer: t.answer, prompt_ids: tokenizer.encode(t.prompt, { addBos: true }) })),
  group,
  prompts_per_step: prompts,
  steps,
  learning_rate: num('lr'),
  temperature: num('temperature'),
  max_completion_length: num('max-tokens'),
  epsilon: 0.2,
  save_every: every,
  seed,
  threads: num('threads'),
};
writeFileSync(join(out, 'trl-config.json'), JSON.stringify(config));
log(`TRL: the same ${steps} steps through ${values.python}…`);
const trl = spawnSync(values.python!, ['bench/trl_grpo.py', '--config', join(out, 'trl-config.json'), '--out', join(out, 'trl')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
if (trl.status !== 0) throw new Error(`bench/trl_grpo.py failed (exit ${trl.status}); is TRL installed in ${values.python}?`);
const trlSummary = JSON.parse(trl.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
const trlLog = JSON.parse(readFileSync(join(out, 'trl', 'log.json'), 'utf8')) as { steps: { step: number; completions: number; seconds: number; reward_mean: number }[] };
const trlPoints = [{ step: 0, completions: 0, seconds: 0, checkpoint }];
for (let step = every; step <= steps; step += every) {
  const entry = trlLog.steps.find((s) => s.step === step);
  if (!entry) throw new Error(`TRL log has no step ${step}`);
  trlPoints.push({ step, completions: entry.completions, seconds: entry.seconds, checkpoint: join(out, 'trl', `step-${step}`) });
}

// 3. One evaluator for every checkpoint of both sides: greedy accuracy on held-out sums no step trained on.
const family = additionFamily({ format: 'scratchpad' });
const trainPrompts = new Set(pool.map((t) => t.prompt));
const heldOut = family.generate({ count: num('eval') * 2, difficulty: d, seed: 7_000 + seed, split: 'bench-heldout' }).filter((t) => !trainPrompts.has(t.prompt)).slice(0, num('eval'));
const accuracyOf = async (dir: string) => {
  const backend = await EmbeddedBackend.create({ checkpoint: dir });
  try {
    return (await evaluate({ sample: (p, o) => backend.sample(p, o) }, heldOut, family.verifier, { maxTokens: num('max-tokens') })).accuracy;
  } finally {
    await backend.close();
  }
};
const rows = [];
for (let i = 0; i < oursPoints.length; i++) {
  const [o, t] = [oursPoints[i], trlPoints[i]];
  rows.push({ step: o.step, ours: { ...o, accuracy: await accuracyOf(o.checkpoint) }, trl: { ...t, accuracy: i === 0 ? undefined : await accuracyOf(t.checkpoint) } });
  if (i === 0) rows[0].trl.accuracy = rows[0].ours.accuracy;
}
log(`\nheld-out d${d} greedy accuracy (${heldOut.length} sums), GRPO ${prompts}×${group} per step, lr ${values.lr}`);
log('step  completions (ours / TRL)   accuracy (ours / TRL)   train seconds (ours / TRL)   speed-up');
for (const row of rows) {
  const speedup = row.step > 0 ? `${(row.trl.seconds / row.ours.seconds).toFixed(1)}×` : '';
  log(`${String(row.step).padStart(4)}  ${String(row.ours.completions).padStart(7)} / ${String(row.trl.completions).padEnd(7)}          ${(100 * row.ours.accuracy).toFixed(1).padStart(5)}% / ${(100 * row.trl.accuracy!).toFixed(1).padEnd(6)}%        ${row.ours.seconds.toFixed(1).padStart(7)} / ${row.trl.seconds.toFixed(1).padEnd(8)}          ${speedup}`);
}
const last = rows.at(-1)!;
const summary = { difficulty: d, steps, group, prompts, learningRate: num('lr'), heldOut: heldOut.length, oursAccuracy: last.ours.accuracy, trlAccuracy: last.trl.accuracy, oursSeconds: last.ours.seconds, trlSeconds: last.trl.seconds, wallClockRatio: last.trl.seconds / last.ours.seconds, rows, trl: trlSummary };
log(`\nafter ${steps} steps: ours ${(100 * last.ours.accuracy).toFixed(1)}% in ${last.ours.seconds.toFixed(1)} s, TRL ${(100 * last.trl.accuracy!).toFixed(1)}% in ${last.trl.seconds.toFixed(1)} s: ${summary.wallClockRatio.toFixed(1)}× less wall-clock`);
if (values.json) console.log(JSON.stringify(summary));
