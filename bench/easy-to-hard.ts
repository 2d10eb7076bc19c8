/**
 * Calibration experiment for the easy-to-hard self-improvement demo (issue 3):
 * SFT on labeled short additions, then rounds of verified self-training
 * (ReST-EM: sample n, keep what the verifier accepts, fine-tune) on unlabeled
 * longer ones. Prints held-out accuracy per digit count after SFT and after
 * each round, with timings; `+a/b` is the number accepted at the round's new
 * length / in all. After SFT it shows what the model writes one digit beyond
 * its labels.
 *
 *   node dist/bench/easy-to-hard.js [--format scratchpad|reversed|plain|indexed] [--labels 1000]
 *     [--label-digits 3] [--pad 0] [--sft-steps 400] [--rounds 4,5,6] [--n 4] [--tasks 256] [--json]
 */
import { EmbeddedBackend } from '../src/engine/backend.js';
import { ByteTokenizer } from '../src/engine/tokenizer.js';
import { additionFamily, type AdditionFormat } from '../src/tasks/addition.js';
import { acceptPassing, evaluate, fineTune, sampleAndVerify } from '../src/loop/steps.js';
import type { Task } from '../src/spec/task.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const format = option('--format', 'scratchpad') as AdditionFormat;
const labels = Number(option('--labels', '1000'));
const labelDigits = Number(option('--label-digits', '3'));
const sftSteps = Number(option('--sft-steps', '400'));
const rounds = option('--rounds', '4,5,6').split(',').map(Number);
const n = Number(option('--n', '4'));
const taskCount = Number(option('--tasks', '256'));
const roundSteps = Number(option('--round-steps', '150'));
const dModel = Number(option('--dmodel', '128'));
const layers = Number(option('--layers', '4'));
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const padTo = Number(option('--pad', '0'));
const family = additionFamily({ format, padTo });
const tokenizer = new ByteTokenizer();
const maxDigits = Math.max(labelDigits, ...rounds, padTo);
const maxTokens = format === 'scratchpad' ? 10 * maxDigits + 12 : format === 'indexed' ? 3 * maxDigits + 5 : maxDigits + 3;
const stop = [';'];
const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(0);

const backend = await EmbeddedBackend.create({ model: { dModel, nLayers: layers, nHeads: 4, maxSeqLen: (format === 'indexed' ? 4 : 2) * maxDigits + 2 + maxTokens + 2, seed: 1 } });
const heldOut: Task[] = [];
for (let d = 1; d <= maxDigits; d++) heldOut.push(...family.generate({ count: 100, difficulty: d, seed: 1, split: 'heldout' }));
const labeled: Task[] = [];
for (let d = 1; d <= labelDigits; d++) labeled.push(...family.generate({ count: Math.ceil(labels / labelDigits), difficulty: d, seed: 2, split: 'labeled' }));
const report = async (label: string) => {
  const { byDifficulty } = await evaluate(backend, heldOut, family.verifier, { maxTokens, stop });
  log(`${label.padEnd(22)} ${Object.entries(byDifficulty).map(([d, a]) => `${d}d ${(a * 100).toFixed(0).padStart(3)}%`).join('  ')}   t=${seconds()}s`);
  return byDifficulty;
};

const sft = labeled.map((task) => ({ prompt: task.prompt, completion: task.solution! }));
await fineTune(backend, tokenizer, sft, { steps: sftSteps, batchSize: 64, learningRate: 3e-3, seed: 3 });
const baseline = await report(`SFT (${labels} labels)`);
// What the model writes one length beyond its labels: the failure mode decides what to try next.
const beyond = family.generate({ count: 4, difficulty: labelDigits + 1, seed: 5, split: 'show' });
const shown = await sampleAndVerify(backend, beyond, family.verifier, { n: 1, temperature: 0, maxTokens, stop, seed: 0 });
for (const [attempt] of shown) {
  const verdict = attempt.verification;
  log(`  ${attempt.task.prompt}${attempt.completion}   expected ${attempt.task.solution}   ${verdict.status === 'scored' ? verdict.feedback : verdict.status}`);
}

const history = [];
let pool = [...sft];
for (const [r, digits] of rounds.entries()) {
  const tasks = [...family.generate({ count: taskCount, difficulty: digits, seed: 10 + r, split: 'unlabeled' }), ...family.generate({ count: taskCount / 2, difficulty: digits - 1, seed: 20 + r, split: 'unlabeled' })];
  // Unlabeled for the learner: only the verifier (the environment's arithmetic check) sees the answer.
  const groups = await sampleAndVerify(backend, tasks, family.verifier, { n, temperature: 0.7, maxTokens, stop, seed: 100 + r });
  const accepted = acceptPassing(groups, { capPerTask: 1 });
  const atLength = accepted.filter((a) => a.task.difficulty === digits).length;
  pool = [...pool, ...accepted.map((a) => ({ prompt: a.task.prompt, completion: a.completion + ';' }))];
  await fineTune(backend, tokenizer, pool, { steps: roundSteps, batchSize: 64, learningRate: 1e-3, seed: 30 + r });
  const byDifficulty = await report(`round ${r + 1}: ${digits}d, +${atLength}/${accepted.length}`);
  history.push({ round: r + 1, digits, accepted: accepted.length, acceptedAtLength: atLength, byDifficulty });
}
await backend.close();
const summary = { format, labels, sftSteps, baseline, rounds: history, seconds: Number(seconds()) };
if (json) console.log(JSON.stringify(summary));
