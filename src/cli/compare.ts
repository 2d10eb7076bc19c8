/**
 * `autodidact compare <recipe.yaml>… --seeds 3`: runs every recipe with the
 * same seeds (0 … seeds−1) and prints mean ± std of chosen final-round metrics.
 * Each (recipe, seed) run has its own directory under --out, so an interrupted
 * comparison resumes where it stopped.
 */
import { join } from 'node:path';
import { loadRecipe } from '../recipe/load.js';
import { recipeDir } from '../tasks/sources.js';
import { runRecipe, stopOnSigint } from './run.js';
import { InvalidConfigError } from '../errors.js';

export interface CompareOptions {
  seeds: number;
  metrics?: string;
  set: string[];
  out: string;
  fresh?: boolean;
  json?: boolean;
}

export interface MeanStd {
  mean: number;
  std: number;
  /** Runs that reported the metric. */
  n: number;
}

/** Mean and sample standard deviation (0 for one value). */
export function meanStd(values: readonly number[]): MeanStd {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), n };
}

export async function compareCommand(recipePaths: string[], options: CompareOptions): Promise<void> {
  const log = (line: string) => (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  // Validate every recipe before running any.
  const recipes = recipePaths.map((path) => ({ path, recipe: loadRecipe(path, options.set) }));
  const names = recipes.map((r) => r.recipe.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new InvalidConfigError('name', `two recipes are named ${duplicate}; give each a distinct name (or --set name=…)`);
  const results: Record<string, Record<string, number[]>> = {};
  const sigint = stopOnSigint(log);
  try {
    for (const { path, recipe: base } of recipes) {
      results[base.name] = {};
      for (let seed = 0; seed < options.seeds; seed++) {
        const recipe = loadRecipe(path, [...options.set, `seed=${seed}`]);
        log(`${recipe.name} seed ${seed}`);
        const result = await runRecipe(recipe, { out: join(options.out, `${recipe.name}-seed${seed}`), baseDir: recipeDir(path), fresh: options.fresh, log, shouldStop: sigint.shouldStop });
        if (result.stopped) {
          log(`stopped; rerun the same command to resume`);
          process.exitCode = 130;
          return;
        }
        const last = result.rounds.at(-1);
        if (!last) continue;
        const values: Record<string, number> = { ...last.metrics, seconds: result.rounds.reduce((sum, r) => sum + r.seconds, 0) };
        for (const [key, value] of Object.entries(values)) (results[base.name][key] ??= []).push(value);
      }
    }
  } finally {
    sigint.dispose();
  }
  const chosen = options.metrics ? options.metrics.split(',').map((m) => m.trim()).filter(Boolean) : defaultMetrics(results);
  const table: Record<string, Record<string, MeanStd>> = {};
  for (const [name, metrics] of Object.entries(results)) table[name] = Object.fromEntries(chosen.map((metric) => [metric, meanStd(metrics[metric] ?? [])]));
  const width = Math.max(8, ...names.map((n) => n.length));
  log(`\n${'recipe'.padEnd(width)}  ${chosen.map((m) => m.padStart(20)).join('  ')}`);
  for (const [name, metrics] of Object.entries(table)) {
    log(`${name.padEnd(width)}  ${chosen.map((m) => (metrics[m].n ? `${metrics[m].mean.toFixed(3)} ± ${metrics[m].std.toFixed(3)}` : 'n/a').padStart(20)).join('  ')}`);
  }
  log(`(${options.seeds} seed${options.seeds > 1 ? 's' : ''} each: mean ± sample std of the last round)`);
  if (options.json) {
    const recipesJson = Object.fromEntries(Object.entries(table).map(([name, metrics]) => [name, Object.fromEntries(Object.entries(metrics).map(([m, v]) => [m, { mean: v.mean, std: v.std }]))]));
    process.stdout.write(`${JSON.stringify({ recipes: recipesJson })}\n`);
  }
}

/** Held-out accuracy overall and at the hardest difficulty, accepted count, seconds. */
function defaultMetrics(results: Record<string, Record<string, number[]>>): string[] {
  const keys = new Set(Object.values(results).flatMap((metrics) => Object.keys(metrics)));
  const hardest = [...keys].filter((k) => /^eval\/accuracy\/d-?\d+$/.test(k)).sort((a, b) => Number(a.split('/d')[1]) - Number(b.split('/d')[1])).at(-1);
  return ['eval/accuracy', ...(hardest ? [hardest] : []), 'accept/count', 'seconds'].filter((k) => keys.has(k));
}
