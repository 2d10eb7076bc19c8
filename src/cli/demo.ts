/**
 * The demo: easy-to-hard self-improvement on addition. The tiny embedded model
 * is fine-tuned on a small labeled set of short sums (the SFT-only baseline),
 * then teaches itself from unlabeled longer ones, round after round, moving
 * one digit up once it masters the current length, keeping only what the
 * verifier accepts. Two methods start from the same SFT checkpoint: ReST-EM
 * (sample, verify, fine-tune) and Re-ReST (+ the policy reflecting on its
 * failures with the verifier's feedback). Everything runs through the loop and
 * the run store, like `autodidact run`; the calibration behind the settings
 * is in docs/results.md.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { validateRecipe } from '../recipe/load.js';
import type { RecipeInput } from '../recipe/schema.js';
import type { LoopResult, RoundSummary } from '../run/loop.js';
import { runRecipe, stopOnSigint } from './run.js';

/** The demo's settings (chosen by the calibration in docs/results.md). */
export const DEMO_SETTINGS: DemoSettings = {
  format: 'scratchpad',
  revealAnswer: true,
  model: { dModel: 128, nLayers: 3, nHeads: 4, maxSeqLen: 192 },
  /** Labeled sums per length, and the lengths. */
  labels: { count: 100, difficulties: [1, 2, 3] },
  sft: { steps: 600, learningRate: 3e-3, reflectionShare: 0.1 },
  /** Unlabeled rounds: start at 2 digits, move to 3 once half the 2-digit tasks are solved. */
  curriculum: { start: 2, max: 3, promoteAt: 0.5, review: 0.2 },
  rounds: 4,
  perRound: 320,
  sample: { n: 8, temperature: 0.7 },
  train: { steps: 120, learningRate: 3e-3 },
  evalCount: 100,
};

export interface DemoSettings {
  format: 'plain' | 'reversed' | 'scratchpad' | 'indexed';
  /** Whether the verifier's feedback states the expected sum (as a failing unit test shows the expected output); only the reflector reads feedback. */
  revealAnswer: boolean;
  model: { dModel: number; nLayers: number; nHeads: number; maxSeqLen: number };
  labels: { count: number | number[]; difficulties: number[] };
  sft: { steps: number; learningRate: number; reflectionShare: number };
  curriculum: { start: number; max: number; promoteAt: number; review: number };
  rounds: number;
  perRound: number;
  sample: { n: number; temperature: number };
  train: { steps: number; learningRate: number };
  evalCount: number;
}

export interface DemoOptions {
  seed: number;
  json: boolean;
  out: string;
  fresh?: boolean;
  /** Self-training rounds per method (default settings.rounds). */
  rounds?: number;
  /** Settings other than the calibrated defaults (bench/demo-calibration.ts). */
  settings?: DemoSettings;
  /** Methods to run (default both). */
  methods?: ('rest-em' | 're-rest')[];
}

type Accuracy = { accuracy: number; hardest: number; byDifficulty: Record<string, number> };

function accuracyOf(summary: RoundSummary, hardest: number): Accuracy {
  return { accuracy: summary.evaluation.byDifficulty[String(hardest)] ?? 0, hardest, byDifficulty: summary.evaluation.byDifficulty };
}

export async function runDemo(options: DemoOptions, log: (line: string) => void) {
  const s = options.settings ?? DEMO_SETTINGS;
  const out = resolve(options.out);
  // A finished demo reruns from scratch (each run deleting only what it wrote, src/store/run-dir.ts); an interrupted one resumes where it stopped.
  const fresh = options.fresh || existsSync(join(out, 'finished.json'));
  if (fresh) rmSync(join(out, 'finished.json'), { force: true });
  const started = performance.now();
  const hardest = s.curriculum.max;
  const difficulties = Array.from({ length: hardest }, (_, i) => i + 1);
  const base = {
    name: 'demo',
    seed: options.seed,
    rounds: options.rounds ?? s.rounds,
    model: { config: { ...s.model, seed: options.seed } },
    tasks: { family: 'addition', options: { format: s.format, revealAnswer: s.revealAnswer }, perRound: s.perRound },
    warmup: { count: Array.isArray(s.labels.count) ? [...s.labels.count] : s.labels.count, difficulties: [...s.labels.difficulties], steps: s.sft.steps, learningRate: s.sft.learningRate, reflectionShare: s.sft.reflectionShare },
    curriculum: { kind: 'easy-to-hard', ...s.curriculum },
    sample: { n: s.sample.n, temperature: s.sample.temperature, maxTokens: answerLength(s.format, hardest) + 2, stop: [';'] },
    accept: { by: 'verifier', capPerTask: 1 },
    train: { steps: s.train.steps, learningRate: s.train.learningRate, from: 'previous', data: 'all', includeLabeled: true },
    eval: { count: s.evalCount, difficulties },
  } satisfies RecipeInput;
  const sigint = stopOnSigint(log);
  // One table line per self-training round, printed as the round ends.
  const row = (r: RoundSummary) =>
    r.round === 0 ? null : `  ${String(r.round).padStart(5)}  ${String(r.frontier).padStart(6)}  ${String(r.accepted).padStart(8)}  ${difficulties.map((d) => pct(r.evaluation.byDifficulty[String(d)])).join(' ')}  ${r.seconds.toFixed(1).padStart(6)}`;
  const run = (recipe: RecipeInput) => runRecipe(validateRecipe(recipe), { out: join(out, recipe.name), baseDir: out, fresh, log, shouldStop: sigint.shouldStop, formatRound: row });
  const header = `  round  digits  accepted  ${difficulties.map((d) => `${d}d`.padStart(4)).join(' ')}  seconds`;
  try {
    const counts = s.labels.difficulties.map((d, i) => `${typeof s.labels.count === 'number' ? s.labels.count : s.labels.count[i]} × ${d}`).join(', ');
    log(`Easy-to-hard self-improvement on ${s.format} addition: SFT on a small labeled set (${counts} digits), then unlabeled sums from ${s.curriculum.start} up to ${hardest} digits, one length up once the current one is mastered.`);
    log(`Supervised fine-tuning (${s.sft.steps} steps) …`);
    const sft = await run({ ...base, name: 'sft', rounds: 0 });
    if (sft.stopped) return null;
    const baseline = sft.rounds[0];
    log(`\nSFT-only baseline (${baseline.seconds.toFixed(1)} s)\n  held-out    ${difficulties.map((d) => `${d}d`.padStart(4)).join(' ')}\n  accuracy    ${difficulties.map((d) => pct(baseline.evaluation.byDifficulty[String(d)])).join(' ')}`);
    const sftCheckpoint = sft.rounds[0].checkpoint;
    const methods = ([
      { name: 'rest-em', recipe: { ...base, name: 'rest-em', model: { checkpoint: sftCheckpoint } } },
      { name: 're-rest', recipe: { ...base, name: 're-rest', model: { checkpoint: sftCheckpoint }, reflect: { enabled: true, n: 1, perTask: 1, temperature: s.sample.temperature } } },
    ] as const).filter((m) => (options.methods ?? ['rest-em', 're-rest']).includes(m.name));
    const results: Record<string, LoopResult> = {};
    for (const method of methods) {
      log(`\n${method.name}${method.name === 're-rest' ? ' (+ reflection on failures with the verifier feedback)' : ` (sample ${s.sample.n}, keep what the verifier accepts, fine-tune)`}\n${header}`);
      const result = await run(method.recipe);
      if (result.stopped) return null;
      results[method.name] = result;
    }
    const seconds = (performance.now() - started) / 1000;
    log(`\nHeld-out accuracy (${s.evalCount} sums per length, greedy)\n  ${'method'.padEnd(16)} ${difficulties.map((d) => `${d}d`.padStart(4)).join(' ')}`);
    log(`  ${'SFT only'.padEnd(16)} ${difficulties.map((d) => pct(baseline.evaluation.byDifficulty[String(d)])).join(' ')}`);
    for (const [name, result] of Object.entries(results)) log(`  ${name.padEnd(16)} ${difficulties.map((d) => pct(result.rounds.at(-1)!.evaluation.byDifficulty[String(d)])).join(' ')}`);
    const byRecipe = Object.fromEntries(Object.entries(results).map(([name, result]) => [name, { ...accuracyOf(result.rounds.at(-1)!, hardest), checkpoint: result.checkpoint, rounds: result.rounds.length - 1 }]));
    const final = byRecipe['rest-em'] ?? Object.values(byRecipe)[0];
    const base0 = accuracyOf(baseline, hardest);
    log(`\nAt ${hardest} digits: SFT only ${pct(base0.accuracy).trim()} → rest-em ${pct(final.accuracy).trim()} (${((final.accuracy - base0.accuracy) * 100).toFixed(0)} points), re-rest ${pct(byRecipe['re-rest']?.accuracy).trim()}. Total ${seconds.toFixed(0)} s.`);
    log(`Runs (store + checkpoints): ${out}`);
    const summary = {
      baseline: base0,
      final: { ...final, recipe: 'rest-em' },
      byRecipe,
      rounds: Object.fromEntries(Object.entries(results).map(([name, result]) => [name, result.rounds.map((r) => ({ round: r.round, digits: r.frontier ?? null, accepted: r.accepted, byDifficulty: r.evaluation.byDifficulty, seconds: r.seconds }))])),
      seconds,
      checkpoint: final.checkpoint ?? null,
    };
    writeFileSync(join(out, 'finished.json'), `${JSON.stringify(summary)}\n`);
    return summary;
  } finally {
    sigint.dispose();
  }
}

/** Longest answer of a format at a number of digits (scratchpad: 'a+b+c=dd,' per column, then the sum). */
function answerLength(format: DemoSettings['format'], digits: number): number {
  if (format === 'scratchpad') return 9 * digits + digits + 2;
  if (format === 'indexed') return 3 * (digits + 1);
  return digits + 1;
}

function pct(value: number | undefined): string {
  return value === undefined ? '   -' : `${(value * 100).toFixed(0)}%`.padStart(4);
}
