/**
 * Sampling throughput: the llamacpp policy (llama.cpp through node-llama-cpp,
 * on a GGUF exported from the checkpoint) against the engine's KV-cached
 * batched sampler (EmbeddedBackend.sample), same checkpoint, same prompts, in
 * one run on this machine.
 *
 *   node dist/bench/llamacpp.js [--json] [--rounds R] [--prompts P] [--n N] [--tokens T]
 *
 * Every completion runs exactly T new tokens (no stop token), so both sides
 * generate P·N·T tokens per round. Reported: generated tokens per second
 * (prefill included), the median over R interleaved rounds, for
 *   engine            EmbeddedBackend.sample, all P·N sequences batched per step
 *   llamacpp p=1      LlamaCppPolicy, one sequence at a time (bit-reproducible)
 *   llamacpp p=8      LlamaCppPolicy, 8 sequences batched per llama.cpp decode
 *   llama.cpp native  node-llama-cpp's own sampler (sequence.evaluate, no
 *                     full distribution, no logprobs), 8 sequences: the
 *                     ceiling the policy's per-token probabilities cost against
 * ratio = llamacpp / engine (above 1: llama.cpp is faster). llama.cpp runs with
 * threads 1 (FACTS.md: 2 threads on 2 cores is ≈ 30× slower); the engine with
 * its default threads. The last line of output is one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { EmbeddedBackend } from '../src/engine/backend.js';
import { ByteTokenizer } from '../src/engine/tokenizer.js';
import { exportGguf } from '../src/export/gguf.js';
import { LlamaCppPolicy } from '../src/policies/llamacpp.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    prompts: { type: 'string', default: '8' },
    n: { type: 'string', default: '4' },
    tokens: { type: 'string', default: '64' },
  },
});
const rounds = Number(values.rounds);
const n = Number(values.n);
const newTokens = Number(values.tokens);
const MODEL = { dModel: 128, nLayers: 4, nHeads: 4, maxSeqLen: 128, seed: 1 }; // bench/engine.ts's shape S
const prompts = Array.from({ length: Number(values.prompts) }, (_, i) => `prompt ${i}: the quick brown`.slice(0, 16));
const log = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);

const work = mkdtempSync(join(tmpdir(), 'autodidact-bench-llamacpp-'));
const checkpoint = join(work, 'checkpoint');
const backend = await EmbeddedBackend.create({ model: MODEL });
await backend.save(checkpoint);
const ggufPath = join(work, 'model.gguf');
exportGguf(checkpoint, ggufPath);
const serial = await LlamaCppPolicy.create({ source: checkpoint });
const batched = await LlamaCppPolicy.create({ source: checkpoint, parallel: 8 });

// node-llama-cpp's own sampling loop on the same GGUF, for reference.
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const nativeModel = await llama.loadModel({ modelPath: ggufPath });
const nativeContext = await nativeModel.createContext({ contextSize: MODEL.maxSeqLen, sequences: 8, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
const nativeSequences = Array.from({ length: 8 }, () => nativeContext.getSequence());
const tokenizer = new ByteTokenizer();
async function nativeSample(seed: number): Promise<number> {
  const jobs = prompts.flatMap((prompt) => Array.from({ length: n }, () => tokenizer.encode(prompt, { addBos: true })));
  let next = 0;
  let generated = 0;
  await Promise.all(
    nativeSequences.map(async (sequence, s) => {
      while (next < jobs.length) {
        const ids = jobs[next++];
        await sequence.clearHistory();
        let count = 0;
        for await (const _token of sequence.evaluate(ids as Token[], { temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed + s, yieldEogToken: true })) {
          if (++count === newTokens) break;
        }
        generated += count;
      }
    }),
  );
  return generated;
}

const settings = { n, temperature: 1, maxTokens: newTokens, stopTokenIds: [] as number[] };
const sides: Record<string, (seed: number) => Promise<number>> = {
  engine: async (seed) => count(await backend.sample(prompts, { ...settings, seed })),
  'llamacpp p=1': async (seed) => count(await serial.sample(prompts, { ...settings, seed })),
  'llamacpp p=8': async (seed) => count(await batched.sample(prompts, { ...settings, seed })),
  'llama.cpp native': nativeSample,
};
function count(groups: { tokens: number[] }[][]): number {
  return groups.flat().reduce((sum, completion) => sum + completion.tokens.length, 0);
}

const rates: Record<string, number[]> = Object.fromEntries(Object.keys(sides).map((name) => [name, []]));
for (const [, run] of Object.entries(sides)) await run(0); // warm-up
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of Object.entries(sides)) {
    const started = performance.now();
    const tokens = await run(round + 1);
    const seconds = (performance.now() - started) / 1000;
    if (tokens !== prompts.length * n * newTokens) throw new Error(`${name} generated ${tokens} tokens, expected ${prompts.length * n * newTokens}`);
    rates[name].push(tokens / seconds);
  }
  log(`round ${round + 1}/${rounds}: ${Object.entries(rates).map(([name, list]) => `${name} ${list.at(-1)!.toFixed(0)} tok/s`).join(', ')}`);
}
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const result = Object.fromEntries(Object.entries(rates).map(([name, list]) => [name, median(list)]));
const engine = result.engine;
log(`model d=${MODEL.dModel} L=${MODEL.nLayers} H=${MODEL.nHeads} V=259, ${prompts.length} prompts × n=${n} × ${newTokens} tokens, ${engine === undefined ? '' : `engine threads ${backend.info().threads}`}, llama.cpp threads 1`);
for (const [name, rate] of Object.entries(result)) log(`  ${name.padEnd(18)} ${rate.toFixed(0).padStart(7)} tok/s   ratio to engine ${(rate / engine).toFixed(2)}×`);

await serial.close();
await batched.close();
await nativeContext.dispose();
await nativeModel.dispose();
await llama.dispose();
await backend.close();
rmSync(work, { recursive: true, force: true });
if (values.json) {
  console.log(
    JSON.stringify({
      model: { ...MODEL, vocabSize: 259 },
      prompts: prompts.length,
      n,
      newTokens,
      rounds,
      tokensPerSecond: result,
      ratioToEngine: Object.fromEntries(Object.entries(result).map(([name, rate]) => [name, rate / engine])),
    }),
  );
}
