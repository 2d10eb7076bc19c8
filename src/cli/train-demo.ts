import cliProgress from 'cli-progress';
import { EmbeddedBackend } from '../engine/backend.js';
import { meanOverTokens } from '../engine/engine.js';
import { learningRateAt } from '../engine/optimizer.js';
import { Rng } from '../engine/random.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { sftDatum } from '../learn/steps.js';
import type { Datum } from '../spec/training-backend.js';

export interface DemoOptions {
  steps: number;
  batchSize: number;
  seed: number;
  json: boolean;
  save?: string;
}

export interface DemoSummary {
  steps: number;
  seconds: number;
  finalLoss: number;
  heldOutAccuracyBefore: number;
  heldOutAccuracyAfter: number;
  samples: { prompt: string; completion: string; correct: boolean }[];
  engine: { kernels: string; blas: string; threads: number; parameters: number };
}

/**
 * The engine demo: train the embedded transformer from scratch on written-out
 * two-digit additions ("23+58=81;"), then ask it held-out sums. It shows the
 * engine really learns in-process; the self-improvement loop builds on it.
 */
export async function runEngineDemo(options: DemoOptions, log: (line: string) => void): Promise<DemoSummary> {
  const tokenizer = new ByteTokenizer();
  const rng = new Rng(options.seed);
  const problem = () => {
    const a = Math.floor(rng.next() * 100);
    const b = Math.floor(rng.next() * 100);
    return { prompt: `${a}+${b}=`, answer: `${a + b}` };
  };
  const heldOut = Array.from({ length: 64 }, problem);
  const heldOutKeys = new Set(heldOut.map((p) => p.prompt));
  const trainingExample = (): Datum => {
    let p = problem();
    while (heldOutKeys.has(p.prompt)) p = problem();
    return sftDatum(tokenizer, p.prompt, `${p.answer};`);
  };

  const backend = await EmbeddedBackend.create({ model: { dModel: 128, nLayers: 4, nHeads: 4, maxSeqLen: 32, seed: options.seed } });
  const info = backend.info();
  log(`engine: ${info.parameters.toLocaleString()} parameters, ${info.kernels} kernels (${info.blas}), ${info.threads} threads`);
  const accuracy = async () => {
    const groups = await backend.sample(heldOut.map((p) => p.prompt), { temperature: 0, maxTokens: 6, stop: [';'] });
    const samples = groups.map(([sample], i) => ({ prompt: heldOut[i].prompt, completion: sample.text, correct: sample.text === heldOut[i].answer }));
    return { accuracy: samples.filter((s) => s.correct).length / samples.length, samples };
  };
  const before = await accuracy();

  const started = performance.now();
  const bar = options.json ? null : new cliProgress.SingleBar({ format: 'training |{bar}| {value}/{total} steps | loss {loss} | {speed} steps/s', hideCursor: true }, cliProgress.Presets.shades_classic);
  bar?.start(options.steps, 0, { loss: '-', speed: '-' });
  let loss = NaN;
  for (let step = 0; step < options.steps; step++) {
    const batch = Array.from({ length: options.batchSize }, trainingExample);
    loss = (await backend.forwardBackward(meanOverTokens(batch), 'cross_entropy')).loss;
    await backend.optimStep({ learningRate: learningRateAt({ kind: 'cosine', learningRate: 3e-3, warmupSteps: 20, totalSteps: options.steps, minLearningRate: 3e-4 }, step), weightDecay: 0.01, gradClipNorm: 1 });
    bar?.update(step + 1, { loss: loss.toFixed(3), speed: ((step + 1) / ((performance.now() - started) / 1000)).toFixed(1) });
  }
  bar?.stop();
  const seconds = (performance.now() - started) / 1000;
  const after = await accuracy();
  if (options.save) await backend.save(options.save);
  await backend.close();

  log(`trained ${options.steps} steps in ${seconds.toFixed(1)} s, final loss ${loss.toFixed(3)}`);
  log(`held-out sums answered correctly: ${(before.accuracy * 100).toFixed(0)}% before training → ${(after.accuracy * 100).toFixed(0)}% after`);
  for (const sample of after.samples.slice(0, 8)) log(`  ${sample.prompt}${sample.completion.padEnd(4)} ${sample.correct ? '✓' : '✗'}`);
  if (options.save) log(`checkpoint saved to ${options.save} (opens with transformers' LlamaForCausalLM.from_pretrained)`);
  return {
    steps: options.steps,
    seconds,
    finalLoss: loss,
    heldOutAccuracyBefore: before.accuracy,
    heldOutAccuracyAfter: after.accuracy,
    samples: after.samples,
    engine: { kernels: info.kernels, blas: info.blas, threads: info.threads, parameters: info.parameters },
  };
}
