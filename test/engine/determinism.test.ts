/**
 * The native kernels are deterministic: the same inputs give the same bits on every GEMM
 * path this CPU can run (scalar, AVX2, AVX-512) and with any number of threads. First each
 * GEMM path on products that cross every blocking edge; then a whole model, trained and
 * sampled in child processes under each path and thread count, must end with bit-identical
 * weights and the same tokens. (The BLAS path, where built, is not part of the promise:
 * OpenBLAS chooses its kernels per CPU. docs/performance.md, "Determinism".)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NativeKernels } from '../../src/engine/kernels.js';
import { Rng } from '../../src/engine/random.js';
import { kernelImplementations, randomArray } from '../helpers.js';

const native = kernelImplementations()[1];
const kernels = native.kernels as NativeKernels | null;
const ownPaths = (kernels?.gemmPaths ?? []).filter((path) => path !== 'blas');

const digest = (array: Float32Array) => createHash('sha256').update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength)).digest('hex');

describe('deterministic native kernels', { skip: native.skip }, () => {
  test('every own GEMM path gives the same bits', () => {
    const rng = new Rng(7);
    // Odd edges against every tile (4×8, 6×16, 12×32), K across several KC blocks, beta 0, 1, 0.5.
    const shapes: [number, number, number][] = [[13, 37, 700], [100, 7, 257], [64, 200, 64], [5, 4100, 300]];
    let compared = 0;
    for (const [M, N, K] of shapes) {
      for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        for (const beta of [0, 1, 0.5]) {
          const A = randomArray(rng, M * K), B = randomArray(rng, K * N), C0 = randomArray(rng, M * N);
          const results = ownPaths.map((path) => {
            const C = Float32Array.from(C0);
            kernels!.gemmUsing(transA, transB, M, N, K, 0.75, A, transA ? M : K, B, transB ? K : N, beta, C, N, path);
            return digest(C);
          });
          for (let i = 1; i < results.length; i++) assert.equal(results[i], results[0], `${ownPaths[i]} vs ${ownPaths[0]}: ${M}x${N}x${K} transA=${transA} transB=${transB} beta=${beta}`);
          compared++;
        }
      }
    }
    console.log(`  ${compared} products, identical on ${ownPaths.join(', ')}`);
  });

  test('training and sampling give bit-identical weights and tokens on every GEMM path and thread count', () => {
    const engineUrl = new URL('../../src/engine/engine.js', import.meta.url).href;
    // Large enough that products split over threads and the linear backward runs its two products side by side.
    const script = `
      import(${JSON.stringify(engineUrl)}).then(({ EngineCore, datumFromSequence, meanOverTokens }) => {
        const { createHash } = require('node:crypto');
        const engine = new EngineCore({ kernels: 'native', model: { dModel: 64, nLayers: 2, nHeads: 4, maxSeqLen: 64, seed: 3 } });
        const batch = meanOverTokens(Array.from({ length: 8 }, (_, b) => datumFromSequence(Array.from({ length: 48 }, (_, t) => 32 + ((b * 31 + t * t * 7) % 90)))));
        const losses = [];
        for (let step = 0; step < 4; step++) {
          losses.push(engine.forwardBackwardCrossEntropy(batch).loss);
          engine.optimStep({ learningRate: 3e-3, gradClipNorm: 1 });
        }
        const samples = engine.sample(['12+34=', 'abc'], { n: 3, maxTokens: 16, temperature: 1, seed: 9, stopTokenIds: [] });
        const p = engine.model.params;
        console.log(JSON.stringify({
          info: engine.info().gemm + ' x' + engine.info().threads,
          weights: createHash('sha256').update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)).digest('hex'),
          losses,
          tokens: samples.map((group) => group.map((s) => s.tokens.join(','))),
        }));
      });`;
    const runWith = (gemm: string, threads: number) => {
      const child = spawnSync(process.execPath, ['--input-type=commonjs', '-e', script], {
        encoding: 'utf8',
        cwd: fileURLToPath(new URL('.', import.meta.url)),
        env: { ...process.env, AUTODIDACT_GEMM: gemm, AUTODIDACT_THREADS: String(threads) },
      });
      assert.equal(child.status, 0, child.stderr);
      return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { info: string; weights: string; losses: number[]; tokens: string[][] };
    };
    const runs = [...ownPaths.map((path) => [path, 1] as const), ...[2, 3].map((threads) => [ownPaths.includes('avx2') ? 'avx2' : 'scalar', threads] as const)];
    const results = runs.map(([gemm, threads]) => runWith(gemm, threads));
    const [first] = results;
    for (const result of results.slice(1)) {
      assert.deepEqual(result.losses, first.losses, `${result.info} vs ${first.info}: losses`);
      assert.equal(result.weights, first.weights, `${result.info} vs ${first.info}: weights after 4 steps`);
      assert.deepEqual(result.tokens, first.tokens, `${result.info} vs ${first.info}: sampled tokens`);
    }
    console.log(`  ${results.map((r) => r.info).join(', ')}: weights ${first.weights.slice(0, 16)}…, losses ${first.losses.map((l) => l.toFixed(4)).join(' ')}`);
  });
});
