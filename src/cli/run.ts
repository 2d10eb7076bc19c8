/**
 * `autodidact run <recipe.yaml>`: validates a recipe, opens (or resumes) its
 * run directory and runs the loop with a progress bar per phase (plain lines
 * when stderr is not a terminal) and a line per round. Ctrl-C stops cleanly
 * between phases; rerunning resumes.
 */
import cliProgress from 'cli-progress';
import { stringify } from 'yaml';
import { loadRecipe } from '../recipe/load.js';
import type { Recipe } from '../recipe/schema.js';
import { openRun } from '../run/open-run.js';
import { runLoop, type LoopResult, type RoundSummary } from '../run/loop.js';
import { recipeDir, resolveTasks } from '../tasks/sources.js';

export interface RunCommandOptions {
  set: string[];
  out?: string;
  fresh?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** Default run directory of a recipe: runs/<name>-seed<seed>. */
export function defaultRunDir(recipe: Recipe): string {
  return `runs/${recipe.name}-seed${recipe.seed}`;
}

/** One line per round: accepted counts (RL rounds: mean reward and KL to the start; self-play: valid proposals and solve rate), held-out accuracy per difficulty, time. */
export function formatRound(summary: RoundSummary): string {
  const m = summary.metrics;
  const selfplay = m['buffer/deduction'] !== undefined;
  // Self-play's held-out difficulties are its task types.
  const label = (d: string) => (selfplay ? ({ '1': 'ded', '2': 'abd', '3': 'ind' } as Record<string, string>)[d] ?? d : d);
  const accuracy = Object.entries(summary.evaluation.byDifficulty)
    .map(([d, a]) => `${label(d)}:${(a * 100).toFixed(0).padStart(3)}%`)
    .join(' ');
  const mean = (prefix: string, suffix: string) => ['deduction', 'abduction', 'induction'].reduce((s, t) => s + (m[`${prefix}/${t}/${suffix}`] ?? 0), 0) / 3;
  const rl = selfplay
    ? `valid ${(mean('propose', 'valid') * 100).toFixed(0)}% solve ${(mean('solve', 'accuracy') * 100).toFixed(0)}%`
    : m['rl/steps'] !== undefined
      ? `reward ${(m['reward/mean'] ?? 0).toFixed(2)} kl ${(m['policy/kl'] ?? 0).toFixed(3)}`
      : null;
  const head = summary.round === 0 ? 'round 0 (warm-up)      ' : `round ${String(summary.round).padEnd(2)} d${String(summary.frontier ?? '-').padEnd(3)} ${rl ?? `+${String(summary.accepted).padEnd(5)}`}`;
  return `${head} held-out ${accuracy}  (${(summary.evaluation.accuracy * 100).toFixed(1)}% all)  ${summary.seconds.toFixed(1)} s`;
}

/** Installs a Ctrl-C handler that asks the loop to stop between phases; a second Ctrl-C aborts. */
export function stopOnSigint(log: (line: string) => void): { shouldStop: () => boolean; dispose: () => void } {
  let requested = false;
  const handler = () => {
    if (requested) process.exit(130);
    requested = true;
    log('stopping after the current phase (Ctrl-C again to abort); rerun the same command to resume');
  };
  process.on('SIGINT', handler);
  return { shouldStop: () => requested, dispose: () => process.off('SIGINT', handler) };
}

/**
 * Progress as plain lines: one when a phase starts, then one per tenth of it
 * or per `every` ms, whichever comes first, and one when it ends.
 */
export function lineProgress(write: (line: string) => void, options: { every?: number; now?: () => number } = {}) {
  const every = options.every ?? 30_000;
  const now = options.now ?? (() => performance.now());
  let phase: { label: string; total: number; started: number; shownAt: number; shown: number } | null = null;
  const seconds = (from: number) => `${((now() - from) / 1000).toFixed(1)} s`;
  return {
    start(label: string, total: number) {
      phase = { label, total, started: now(), shownAt: now(), shown: 0 };
      write(total > 0 ? `  ${label}: 0/${total}` : `  ${label} …`);
    },
    update(done: number) {
      if (!phase || phase.total <= 0 || done >= phase.total) return;
      if (done - phase.shown < phase.total / 10 && now() - phase.shownAt < every) return;
      phase.shown = done;
      phase.shownAt = now();
      write(`  ${phase.label}: ${done}/${phase.total} (${Math.floor((100 * done) / phase.total)}%, ${seconds(phase.started)})`);
    },
    end() {
      if (phase) write(`  ${phase.label}: done in ${seconds(phase.started)}`);
      phase = null;
    },
  };
}

/** Runs one recipe to the end (or to a clean stop) with progress display. */
export async function runRecipe(
  recipe: Recipe,
  options: { out: string; baseDir: string; fresh?: boolean; log: (line: string) => void; shouldStop?: () => boolean; formatRound?: (summary: RoundSummary) => string | null },
): Promise<LoopResult & { runDir: string }> {
  const format = options.formatRound ?? formatRound;
  const { parts, close } = await openRun(recipe, { out: options.out, baseDir: options.baseDir, fresh: options.fresh });
  const bars = process.stderr.isTTY ? new cliProgress.MultiBar({ format: '  {phase} [{bar}] {value}/{total}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
  // Without a terminal (CI logs, pipes) a bar shows nothing: plain lines say the run is alive instead.
  const lines = bars ? null : lineProgress((line) => process.stderr.write(`${line}\n`));
  let bar: cliProgress.SingleBar | null = null;
  try {
    const result = await runLoop(parts, {
      phaseStart: (round, phase, total) => {
        if (bars && total > 0) bar = bars.create(total, 0, { phase: `round ${round} ${phase}`.padEnd(18) });
        lines?.start(`round ${round} ${phase}`, total);
      },
      progress: (_round, _phase, done) => {
        bar?.update(done);
        lines?.update(done);
      },
      phaseEnd: () => {
        if (bar) bars?.remove(bar);
        bar = null;
        lines?.end();
      },
      roundEnd: (summary) => {
        const line = format(summary);
        if (line !== null) bars ? bars.log(`${line}\n`) : options.log(line);
      },
      shouldStop: options.shouldStop,
    });
    return { ...result, runDir: parts.runDir };
  } finally {
    bars?.stop();
    await close();
  }
}

export async function runCommand(recipePath: string, options: RunCommandOptions): Promise<void> {
  const log = (line: string) => (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  const recipe = loadRecipe(recipePath, options.set);
  if (options.dryRun) {
    await resolveTasks(recipe.tasks, recipeDir(recipePath)); // a family that does not load fails here too
    process.stdout.write(stringify(recipe));
    if (options.json) process.stdout.write(`${JSON.stringify({ recipe })}\n`);
    return;
  }
  const out = options.out ?? defaultRunDir(recipe);
  log(`${recipe.name}: ${recipe.rounds} rounds → ${out}`);
  const sigint = stopOnSigint(log);
  try {
    const result = await runRecipe(recipe, { out, baseDir: recipeDir(recipePath), fresh: options.fresh, log, shouldStop: sigint.shouldStop });
    if (result.stopped) {
      log(`stopped; rerun the same command to resume from ${out}`);
      process.exitCode = 130; // stopped by Ctrl-C: not finished, as shells report an interrupted command
    }
    const last = result.rounds.at(-1);
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({
          recipe: recipe.name,
          runDir: result.runDir,
          stopped: result.stopped,
          rounds: result.rounds.map((r) => ({ round: r.round, frontier: r.frontier ?? null, accepted: r.accepted, accuracy: r.evaluation.accuracy, byDifficulty: r.evaluation.byDifficulty, seconds: r.seconds })),
          final: last ? last.metrics : {},
          checkpoint: result.checkpoint ?? null,
        })}\n`,
      );
    }
  } finally {
    sigint.dispose();
  }
}
