/**
 * Sandbox throughput: small snippets verified per second through the isolate
 * pool (`createSandbox`), each in a fresh context — the work a code verifier
 * does per unit test. Target (issue 6): ≥ 2,000/s on 2 cores; since issue 14 the pool is of child processes (docs/sandbox.md gives the cost).
 *
 *   node dist/bench/sandbox.js [--runs 5000] [--concurrency 2] [--json]
 */
import { parseArgs } from 'node:util';
import { createSandbox } from '../src/sandbox/sandbox.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '2' }, json: { type: 'boolean', default: false } } });
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const sandbox = await createSandbox({ timeoutMs: 1000, memoryMb: 32, concurrency });
const snippets = [
  { code: 'function add(a, b) { return a + b }', entry: 'add', args: [2, 3], expected: 5 },
  { code: 'function rev(s) { return s.split("").reverse().join("") }', entry: 'rev', args: ['sandbox'], expected: 'xobdnas' },
  { code: 'function fib(n) { let a = 0, b = 1; for (let i = 0; i < n; i++) [a, b] = [b, a + b]; return a }', entry: 'fib', args: [30], expected: 832040 },
  { code: '[3, 1, 2].sort((x, y) => x - y).join(",")', expected: '1,2,3' },
];
// Warm-up (JIT, isolate threads), then the timed runs.
await Promise.all(Array.from({ length: 200 }, (_, i) => sandbox.run(snippets[i % snippets.length])));
let correct = 0;
const started = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency * 4 }, async () => {
    while (next < runs) {
      const snippet = snippets[next++ % snippets.length];
      const result = await sandbox.run(snippet);
      if (result.status === 'ok' && result.value === snippet.expected) correct++;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
await sandbox.close();
const perSecond = runs / seconds;
const line = `${runs} snippets in ${seconds.toFixed(2)} s: ${perSecond.toFixed(0)}/s with ${concurrency} isolates (${correct} correct); target ≥ 2,000/s: ${(perSecond / 2000).toFixed(2)}×`;
if (values.json) {
  process.stderr.write(`${line}\n`);
  console.log(JSON.stringify({ runs, seconds, perSecond, concurrency, correct, target: 2000, ratioToTarget: perSecond / 2000 }));
} else console.log(line);
