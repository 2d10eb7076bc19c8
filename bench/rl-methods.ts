/**
 * RL methods at toy scale, from one SFT checkpoint: held-out pass@k for k up
 * to 64 after each round, and the completions each method sampled to get
 * there. Reproduces (or not) two claims:
 *   - negative sample reinforcement (Zhu et al. 2025): PSR raises pass@1 but
 *     loses pass@k at large k against the starting model; NSR keeps or
 *     improves pass@k across k; W-REINFORCE does well across the spectrum;
 *   - Reinforce-Ada (Xiong et al. 2025): fewer zero-variance groups and higher
 *     accuracy than GRPO at the same number of samples.
 *
 *   node dist/bench/rl-methods.js --recipes psr,nsr,w-reinforce,grpo --seeds 0,1 \
 *       [--difficulty 2] [--rounds 2] [--steps 16] [--checkpoint runs/rl-sft/checkpoints/round-0] \
 *       [--set key=value ...] [--out runs/rl-methods] [--json]
 *
 * Every run is an ordinary resumable run directory (out/<recipe>-d<d>-seed<s>);
 * rerunning skips what finished. Without --checkpoint, the SFT checkpoint is
 * trained first from recipes/grpo.yaml's warm-up (seed 0) into out/sft.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadRecipe } from '../src/recipe/load.js';
import { runRecipe } from '../src/cli/run.js';

const { values } = parseArgs({
  options: {
    recipes: { type: 'string', default: 'psr,nsr,w-reinforce,grpo' },
    seeds: { type: 'string', default: '0' },
    difficulty: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    steps: { type: 'string', default: '16' },
    checkpoint: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: 'runs/rl-methods' },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);
const out = resolve(values.out!);
const d = Number(values.difficulty);
const ks = [1, 2, 4, 8, 16, 32, 64];

let checkpoint = values.checkpoint ? resolve(values.checkpoint) : join(out, 'sft', 'checkpoints', 'round-0');
if (!values.checkpoint && !existsSync(join(checkpoint, 'config.json'))) {
  log('training the SFT checkpoint (recipes/grpo.yaml warm-up, seed 0)…');
  const recipe = loadRecipe('recipes/grpo.yaml', ['rounds=0', 'eval.n=0', 'eval.k=[1]']);
  await runRecipe(recipe, { out: join(out, 'sft'), baseDir: resolve('recipes'), log });
  checkpoint = join(out, 'sft', 'checkpoints', 'round-0');
}

type Row = { recipe: string; seed: number; round: number; completions: number; zeroVarianceGroups?: number; metrics: Record<string, number> };
const rows: Row[] = [];
for (const name of values.recipes!.split(',')) {
  for (const seed of values.seeds!.split(',').map(Number)) {
    const overrides = [`seed=${seed}`, `model.checkpoint=${checkpoint}`, `rounds=${values.rounds}`, `rl.steps=${values.steps}`, `curriculum.difficulty=${d}`, `eval.difficulties=[${d}]`, 'eval.n=64', `eval.k=[${ks.join(',')}]`, ...values.set!];
    const recipe = loadRecipe(`recipes/${name}.yaml`, overrides);
    const started = performance.now();
    const result = await runRecipe(recipe, { out: join(out, `${name}-d${d}-seed${seed}`), baseDir: resolve('recipes'), log: () => {} });
    let completions = 0;
    for (const summary of result.rounds) {
      completions += summary.metrics['sampling/completions'] ?? 0;
      rows.push({ recipe: name, seed, round: summary.round, completions, zeroVarianceGroups: summary.metrics['sampling/frac_zero_variance_groups'], metrics: summary.metrics });
    }
    const last = result.rounds.at(-1)!.metrics;
    log(`${name} seed ${seed}: ${ks.map((k) => `pass@${k} ${(100 * (last[`eval/pass@${k}`] ?? 0)).toFixed(1)}`).join('  ')}  greedy ${(100 * (last['eval/accuracy'] ?? 0)).toFixed(0)}%  ${completions} completions  ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}

// Mean over seeds of each recipe's last round, against the starting model (round 0).
const table = new Map<string, Row[]>();
for (const row of rows) (table.get(row.round === 0 ? 'start (SFT)' : row.recipe) ?? table.set(row.round === 0 ? 'start (SFT)' : row.recipe, []).get(row.round === 0 ? 'start (SFT)' : row.recipe)!).push(row);
const lastRound = Number(values.rounds);
log(`\nheld-out d${d}, pass@k (%) after ${lastRound} rounds × ${values.steps} steps, mean over seeds ${values.seeds}`);
log(`${'method'.padEnd(16)}${ks.map((k) => `@${k}`.padStart(7)).join('')}  greedy  completions  zero-var groups`);
const summary: Record<string, Record<string, number>> = {};
for (const [name, list] of table) {
  const final = name === 'start (SFT)' ? list.filter((r) => r.recipe === list[0].recipe) : list.filter((r) => r.round === lastRound);
  const mean = (f: (r: Row) => number) => final.reduce((s, r) => s + f(r), 0) / final.length;
  const entry: Record<string, number> = Object.fromEntries(ks.map((k) => [`pass@${k}`, mean((r) => r.metrics[`eval/pass@${k}`] ?? 0)]));
  entry.greedy = mean((r) => r.metrics['eval/accuracy'] ?? 0);
  entry.completions = mean((r) => r.completions);
  const zero = list.filter((r) => r.round > 0 && r.zeroVarianceGroups !== undefined);
  if (zero.length) entry.zeroVarianceGroups = zero.reduce((s, r) => s + r.zeroVarianceGroups!, 0) / zero.length;
  summary[name] = entry;
  log(`${name.padEnd(16)}${ks.map((k) => (100 * entry[`pass@${k}`]).toFixed(1).padStart(7)).join('')}  ${(100 * entry.greedy).toFixed(0).padStart(5)}%  ${entry.completions.toFixed(0).padStart(11)}  ${entry.zeroVarianceGroups !== undefined ? (100 * entry.zeroVarianceGroups).toFixed(0).padStart(14) + '%' : ''}`);
}
if (values.json) console.log(JSON.stringify({ difficulty: d, rounds: lastRound, steps: Number(values.steps), seeds: values.seeds, checkpoint, summary, rows: rows.map(({ metrics, ...r }) => ({ ...r, eval: Object.fromEntries(Object.entries(metrics).filter(([k]) => k.startsWith('eval/'))) })) }));
