/**
 * Engine benchmark: Autodidact's embedded engine against PyTorch on the same
 * model shapes, in one run, on this machine.
 *
 *   npm run bench:engine -- [--json] [--shapes S,M] [--iters N] [--rounds R]
 *
 * PyTorch runs bench/engine_torch.py (a llama-style model of the same shape
 * written in idiomatic PyTorch, 2 threads) with the Python named by
 * AUTODIDACT_TORCH_PYTHON, else python3; without torch it prints
 * "pytorch: unavailable" and skips the ratios. ratio = autodidact / pytorch:
 * below 1 is a faster train step, above 1 is faster sampling. The two sides run
 * interleaved for R rounds (this machine's speed drifts); each figure is the
 * median over all rounds.
 * Then GEMM GFLOPS: our GEMM (AUTODIDACT_GEMM=own) against the BLAS the addon was
 * built with, interleaved in this process, on 1024³ and on the model's product
 * classes, 1 and 2 threads, with torch.mm (bench/gemm_torch.py) where torch is
 * available and the fraction of an estimated FMA peak.
 * The last line of output is one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineCore } from '../src/engine/engine.js';
import { loadNativeKernels } from '../src/engine/kernels.js';
import { Rng } from '../src/engine/random.js';
import type { Datum } from '../src/spec/training-backend.js';

interface Shape {
  name: string;
  nLayers: number;
  dModel: number;
  nHeads: number;
  seq: number;
  batch: number;
  vocab: number;
}

const SHAPES: Shape[] = [
  { name: 'S', nLayers: 4, dModel: 128, nHeads: 4, seq: 64, batch: 32, vocab: 64 },
  { name: 'M', nLayers: 6, dModel: 256, nHeads: 8, seq: 128, batch: 16, vocab: 256 },
];
const SAMPLE = { batch: 32, promptLength: 16, newTokens: 64 };
const THREADS = 2;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm run bench:engine -- [--json] [--shapes S,M] [--iters N] [--rounds R]

Times the train step (forward + backward + AdamW) and KV-cached sampling of the
embedded engine and of PyTorch (bench/engine_torch.py, Python from
AUTODIDACT_TORCH_PYTHON or python3) on shapes S and M; prints ratios.
  --json        the last line is one JSON object (progress goes to stderr)
  --shapes      which shapes to run (default S,M)
  --iters       timed train steps per round (default 10)
  --rounds      interleaved rounds of both sides (default 2)
  --gemm-reps   interleaved repetitions of each GEMM comparison (default 5)
  --gemm-only   skip the train-step and sampling figures`);
  process.exit(0);
}
const json = args.includes('--json');
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const wanted = (option('--shapes') ?? 'S,M').split(',');
const iters = Number(option('--iters') ?? 10);
const rounds = Number(option('--rounds') ?? 2);
const gemmReps = Number(option('--gemm-reps') ?? 5);
const gemmOnly = args.includes('--gemm-only');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function benchAutodidact(shape: Shape) {
  const engine = new EngineCore({
    kernels: 'native',
    model: { nLayers: shape.nLayers, dModel: shape.dModel, nHeads: shape.nHeads, vocabSize: shape.vocab, ffnHidden: 4 * shape.dModel, maxSeqLen: Math.max(shape.seq, SAMPLE.promptLength + SAMPLE.newTokens), seed: 0 },
  });
  const rng = new Rng(1);
  const token = () => Math.floor(rng.next() * shape.vocab);
  const weight = 1 / (shape.batch * shape.seq);
  const batch: Datum[] = Array.from({ length: shape.batch }, () => {
    const sequence = Array.from({ length: shape.seq + 1 }, token);
    return { inputTokens: sequence.slice(0, -1), targetTokens: sequence.slice(1), weights: new Array(shape.seq).fill(weight) };
  });
  const step = () => {
    engine.forwardBackwardCrossEntropy(batch);
    engine.optimStep({ learningRate: 1e-3 });
  };
  for (let i = 0; i < 3; i++) step();
  const stepTimes: number[] = [];
  for (let i = 0; i < iters; i++) {
    const started = performance.now();
    step();
    stepTimes.push(performance.now() - started);
  }
  const prompts = Array.from({ length: SAMPLE.batch }, () => Array.from({ length: SAMPLE.promptLength }, token));
  const sample = (seed: number) => engine.sample(prompts, { maxTokens: SAMPLE.newTokens, temperature: 1, seed, stopTokenIds: [] });
  sample(0);
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const generated = sample(i + 1).flat().reduce((sum, s) => sum + s.tokens.length, 0);
    rates.push(generated / ((performance.now() - started) / 1000));
  }
  return { stepTimes, rates, parameters: engine.info().parameters };
}

function benchPytorch(shape: Shape): { trainStepMs: number; sampleTokPerS: number; torch: string } | null {
  const python = process.env.AUTODIDACT_TORCH_PYTHON ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return null;
  const run = spawnSync(
    python,
    [
      join(root, 'bench/engine_torch.py'),
      ...['--layers', shape.nLayers, '--dmodel', shape.dModel, '--heads', shape.nHeads, '--seq', shape.seq, '--batch', shape.batch, '--vocab', shape.vocab, '--ffn', 4 * shape.dModel],
      ...['--threads', THREADS, '--iters', iters, '--sample-batch', SAMPLE.batch, '--prompt-len', SAMPLE.promptLength, '--new-tokens', SAMPLE.newTokens],
    ].map(String),
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS) } },
  );
  if (run.status !== 0) {
    log(`pytorch: failed (${run.stderr.trim().split('\n').at(-1)})`);
    return null;
  }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!);
}

function gemmFigures() {
  const kernels = loadNativeKernels();
  if (!kernels) return { autodidact: null, openblas: null };
  const n = 1024;
  const a = new Float32Array(n * n).fill(0.5);
  const b = new Float32Array(n * n).fill(0.25);
  const c = new Float32Array(n * n);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const started = performance.now();
    kernels.gemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n);
    ours.push((2 * n ** 3) / ((performance.now() - started) / 1000) / 1e9);
    if (kernels.blas === 'openblas') theirs.push((2 * n ** 3) / kernels.blasGemmSquare(n, THREADS) / 1e9);
  }
  return { autodidact: Math.max(...ours), openblas: theirs.length ? Math.max(...theirs) : null };
}

/** One GEMM: C (M,N) = op(A) (M,K) · op(B) (K,N). */
type Product = [transA: boolean, transB: boolean, M: number, N: number, K: number];

/**
 * The products of one train step of a shape, by class: matmulForward is (false, true), matmulBackward's
 * input gradient (false, false) and its weight gradient (true, false); one entry per linear layer.
 */
function modelProducts(shape: Shape): Record<string, Product[]> {
  const rows = shape.batch * shape.seq;
  const C = shape.dModel;
  const layers: [inputs: number, outputs: number][] = [[C, 3 * C], [C, C], [C, 8 * C], [4 * C, C], [C, shape.vocab]]; // qkv, wo, gate+up, down, lm head
  return {
    forward: layers.map(([inputs, outputs]) => [false, true, rows, outputs, inputs]),
    'backward dinp': layers.map(([inputs, outputs]) => [false, false, rows, inputs, outputs]),
    'backward dweight': layers.map(([inputs, outputs]) => [true, false, outputs, inputs, rows]),
  };
}

/**
 * The FMA peak of this machine's cores, an estimate: cores × GHz × 2 FMA units × 8 floats (256 bits) × 2 flops.
 * The clock is the highest `cpu MHz` in /proc/cpuinfo (cpufreq's maximum where the kernel exposes it); in a VM
 * that is often the base clock, below what the cores boost to, so a fraction above 1 is possible.
 */
function fmaPeak(cores: number) {
  let ghz = 0;
  let source = 'unknown';
  try {
    ghz = Number(readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq', 'utf8')) / 1e6;
    source = 'cpufreq cpuinfo_max_freq';
  } catch {
    try {
      const mhz = [...readFileSync('/proc/cpuinfo', 'utf8').matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
      if (mhz.length) [ghz, source] = [Math.max(...mhz) / 1000, '/proc/cpuinfo cpu MHz'];
    } catch {
      // no /proc (macOS): no peak
    }
  }
  return ghz > 0 ? { gflops: cores * ghz * 2 * 8 * 2, ghz, cores, source } : null;
}

/**
 * GFLOPS of our GEMM (AUTODIDACT_GEMM=own) against the BLAS the addon was built with, single-threaded and
 * on the pool's THREADS threads, on 1024³ and on each shape's product classes. The two run interleaved, in
 * this process, `reps` times; each figure is the median. torch.mm runs the same products in Python after.
 */
function gemmComparison(reps: number) {
  const kernels = loadNativeKernels();
  if (!kernels) return null;
  const classes: { name: string; products: Product[] }[] = [{ name: '1024³', products: [[false, false, 1024, 1024, 1024]] }];
  for (const shape of SHAPES.filter((s) => wanted.includes(s.name)))
    for (const [name, products] of Object.entries(modelProducts(shape))) classes.push({ name: `${shape.name} ${name}`, products });
  const paths = ['own', ...(kernels.gemmPaths.includes('blas') ? ['blas'] : [])];
  const rng = new Rng(5);
  const randomArray = (length: number) => Float32Array.from({ length }, () => rng.next() * 2 - 1);
  const threadsBefore = kernels.threads();
  const results = [];
  for (const threads of [1, THREADS]) {
    kernels.setThreads(threads);
    for (const { name, products } of classes) {
      const operands = products.map(([, , M, N, K]) => ({ A: randomArray(M * K), B: randomArray(K * N), C: new Float32Array(M * N) }));
      const flops = products.reduce((sum, [, , M, N, K]) => sum + 2 * M * N * K, 0);
      const repeat = Math.max(1, Math.round(4e8 / flops)); // ≥ ~4 ms per timing at 100 GFLOPS
      const gflops: Record<string, number[]> = Object.fromEntries(paths.map((path) => [path, []]));
      for (let rep = 0; rep < reps + 1; rep++) {
        for (const path of paths) {
          const started = performance.now();
          for (let r = 0; r < repeat; r++)
            products.forEach(([transA, transB, M, N, K], i) => {
              const { A, B, C } = operands[i];
              kernels.gemmUsing(transA, transB, M, N, K, 1, A, transA ? M : K, B, transB ? K : N, 0, C, N, path);
            });
          if (rep > 0) gflops[path].push((repeat * flops) / ((performance.now() - started) / 1000) / 1e9); // rep 0 warms up
        }
      }
      const own = median(gflops.own);
      const blas = gflops.blas ? median(gflops.blas) : null;
      results.push({ name, threads, products, own, blas, ratio: blas === null ? null : own / blas, torch: null as number | null });
    }
  }
  kernels.setThreads(threadsBefore);
  const torch = torchGemm(results.map(({ threads, products }) => ({ threads, products })), reps);
  if (torch) results.forEach((result, i) => (result.torch = torch[i]));
  return { path: kernels.gemmPath, own: kernels.gemmPaths.includes('avx2') ? 'own-avx2' : 'own-scalar', blas: kernels.blas, results, peak: fmaPeak(1) };
}

/** torch.mm GFLOPS per entry (bench/gemm_torch.py), or null without a Python that has torch. */
function torchGemm(entries: { threads: number; products: Product[] }[], reps: number): number[] | null {
  const python = process.env.AUTODIDACT_TORCH_PYTHON ?? 'python3';
  if (spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) return null;
  const run = spawnSync(python, [join(root, 'bench/gemm_torch.py'), '--reps', String(reps)], { input: JSON.stringify(entries), encoding: 'utf8' });
  if (run.status !== 0) {
    log(`torch.mm: failed (${run.stderr.trim().split('\n').at(-1)})`);
    return null;
  }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!);
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const shapes = [];
for (const shape of SHAPES.filter((s) => !gemmOnly && wanted.includes(s.name))) {
  log(`shape ${shape.name}: ${shape.nLayers} layers, dModel ${shape.dModel}, ${shape.nHeads} heads, seq ${shape.seq}, batch ${shape.batch}, vocab ${shape.vocab}`);
  const ourSteps: number[] = [];
  const ourRates: number[] = [];
  const torchRuns: { trainStepMs: number; sampleTokPerS: number; torch: string }[] = [];
  let parameters = 0;
  for (let round = 0; round < rounds; round++) {
    const run = benchAutodidact(shape);
    ourSteps.push(...run.stepTimes);
    ourRates.push(...run.rates);
    parameters = run.parameters;
    const torchRun = benchPytorch(shape);
    if (torchRun) torchRuns.push(torchRun);
  }
  const ours = { trainStepMs: median(ourSteps), sampleTokPerS: median(ourRates) };
  log(`  autodidact: train step ${ours.trainStepMs.toFixed(1)} ms, sampling ${ours.sampleTokPerS.toFixed(0)} tok/s (${parameters.toLocaleString()} parameters)`);
  const torch = torchRuns.length
    ? { trainStepMs: median(torchRuns.map((r) => r.trainStepMs)), sampleTokPerS: median(torchRuns.map((r) => r.sampleTokPerS)), torch: torchRuns[0].torch }
    : null;
  if (torch) log(`  pytorch ${torch.torch}: train step ${torch.trainStepMs.toFixed(1)} ms, sampling ${torch.sampleTokPerS.toFixed(0)} tok/s`);
  else log('  pytorch: unavailable');
  const figure = (ourValue: number, theirValue: number | undefined) => ({
    autodidact: round(ourValue),
    pytorch: theirValue === undefined ? null : round(theirValue),
    ratio: theirValue === undefined ? null : round(ourValue / theirValue, 3),
  });
  const entry = { name: shape.name, trainStepMs: figure(ours.trainStepMs, torch?.trainStepMs), sampleTokPerS: figure(ours.sampleTokPerS, torch?.sampleTokPerS) };
  if (torch) log(`  ratios: train step ${entry.trainStepMs.ratio} (target ≤ 0.8), sampling ${entry.sampleTokPerS.ratio} (target ≥ 1.5)`);
  shapes.push(entry);
}
const gemm = gemmFigures();
log(`GEMM 1024³: autodidact ${gemm.autodidact?.toFixed(0) ?? '-'} GFLOPS, OpenBLAS (own threads) ${gemm.openblas?.toFixed(0) ?? '-'} GFLOPS`);
const comparison = gemmComparison(gemmReps);
if (comparison) {
  const peak = comparison.peak;
  log(`GEMM GFLOPS, ${comparison.own} against ${comparison.blas === 'none' ? 'no BLAS (not built with one)' : comparison.blas}, interleaved, median of ${gemmReps} (active path: ${comparison.path}):`);
  if (peak) log(`  FMA peak per core (estimate): ${peak.ghz.toFixed(2)} GHz (${peak.source}) × 2 FMA units × 8 floats × 2 flops = ${peak.gflops.toFixed(1)} GFLOPS`);
  for (const r of comparison.results) {
    const fraction = peak ? ` (${((100 * r.own) / (r.threads * peak.gflops)).toFixed(0)}% of peak)` : '';
    const blas = r.blas === null ? '' : `, ${comparison.blas} ${r.blas.toFixed(1)}, ratio ${r.ratio!.toFixed(2)}`;
    const torch = r.torch === null ? '' : `, torch.mm ${r.torch.toFixed(1)}`;
    log(`  ${r.name.padEnd(20)} ${r.threads} thread${r.threads > 1 ? 's' : ' '}: own ${r.own.toFixed(1)}${fraction}${blas}${torch}`);
  }
  if (comparison.results.every((r) => r.torch === null)) log('  torch.mm: unavailable');
}
console.log(
  JSON.stringify({
    shapes,
    gemmGflops: { autodidact: gemm.autodidact && round(gemm.autodidact, 1), openblas: gemm.openblas && round(gemm.openblas, 1) },
    gemm: comparison && {
      path: comparison.path,
      peakGflopsPerCore: comparison.peak && round(comparison.peak.gflops, 1),
      peakEstimate: comparison.peak && { ghz: round(comparison.peak.ghz, 3), clockSource: comparison.peak.source, fmaUnits: 2, floatsPerVector: 8 },
      classes: comparison.results.map((r) => ({
        name: r.name,
        threads: r.threads,
        own: round(r.own, 1),
        blas: r.blas && round(r.blas, 1),
        ratio: r.ratio && round(r.ratio, 3),
        torch: r.torch && round(r.torch, 1),
        peakFraction: comparison.peak && round(r.own / (r.threads * comparison.peak.gflops), 3),
      })),
    },
  }),
);
