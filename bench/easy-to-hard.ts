/**
 * Calibration experiment for the easy-to-hard self-improvement demo (issue 3):
 * SFT on labeled short additions, then rounds of verified self-training
 * (ReST-EM: sample n, keep what the verifier accepts, fine-tune) on unlabeled
 * longer ones. Prints held-out accuracy per digit count after SFT and after
 * each round, with timings; `+a/b` is the number accepted at the round's new
 * length / in all. After SFT it shows what the model writes one digit beyond
 * its labels.
 *
 *   node dist/bench/easy-to-hard.js [options]
 *
 * Task
 *   --format scratchpad|reversed|plain|indexed   (scratchpad)
 *   --reverse-operands      reversed format only: write the operands least-significant digit first too
 *   --pad 0                 zero-pad operands to this width (plain, scratchpad)
 *   --labels 1000           labeled (SFT) problems, spread evenly over the label lengths
 *   --label-digits 3        label lengths: "3" = 1..3, "2-5" = 2..5
 * Model
 *   --pe rope|none          position encoding (none = NoPE)
 *   --dmodel 128 --layers 4 --heads 4 --seed 1 (model init; also shifts the data and sampling seeds)
 * SFT
 *   --sft-steps 400 --sft-lr 3e-3 --batch 64
 * Rounds
 *   --rounds 4,5,6          the new length of each round
 *   --tasks 256             unlabeled tasks at the round's new length
 *   --prev-tasks 128        unlabeled tasks at the lengths before it (label top .. new - 1, evenly)
 *   --n 4 --temp 0.7 --cap 1   samples per task, temperature, accepted per task
 *   --vote                  accept a task only when its majority answer passes (Lee et al. 2025 filter)
 *   --round-steps 150 --round-lr 1e-3
 *   --from-sft              each round fine-tunes from the SFT checkpoint (ReST-EM) instead of continuing
 *   --pool all|last         fine-tune on labels + everything accepted so far (all) or labels + this round's (last)
 * Output
 *   --eval 100              held-out problems per length
 *   --json                  one JSON summary on stdout (the table goes to stderr)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBackend } from '../src/engine/backend.js';
import { ByteTokenizer } from '../src/engine/tokenizer.js';
import { additionFamily, type AdditionFormat } from '../src/tasks/addition.js';
import { acceptPassing, evaluate, fineTune, passed, sampleAndVerify, type Attempt } from '../src/learn/steps.js';
import type { Task } from '../src/spec/task.js';
import type { TaskFamily } from '../src/spec/task-source.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const flag = (name: string) => args.includes(name);
const format = option('--format', 'scratchpad') as AdditionFormat;
const reverseOperands = flag('--reverse-operands');
const padTo = Number(option('--pad', '0'));
const labels = Number(option('--labels', '1000'));
const [labelFrom, labelTo] = option('--label-digits', '3').includes('-') ? option('--label-digits', '3').split('-').map(Number) : [1, Number(option('--label-digits', '3'))];
const positionEncoding = option('--pe', 'rope') as 'rope' | 'none';
const dModel = Number(option('--dmodel', '128'));
const layers = Number(option('--layers', '4'));
const heads = Number(option('--heads', '4'));
const seed = Number(option('--seed', '1'));
const sftSteps = Number(option('--sft-steps', '400'));
const sftLr = Number(option('--sft-lr', '3e-3'));
const batchSize = Number(option('--batch', '64'));
const rounds = option('--rounds', '4,5,6').split(',').filter(Boolean).map(Number);
const taskCount = Number(option('--tasks', '256'));
const prevTaskCount = Number(option('--prev-tasks', '128'));
const n = Number(option('--n', '4'));
const temperature = Number(option('--temp', '0.7'));
const cap = Number(option('--cap', '1'));
const vote = flag('--vote');
const roundSteps = Number(option('--round-steps', '150'));
const roundLr = Number(option('--round-lr', '1e-3'));
const fromSft = flag('--from-sft');
const poolKind = option('--pool', 'all');
const evalCount = Number(option('--eval', '100'));
const json = flag('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
if (reverseOperands && format !== 'reversed') throw new Error('--reverse-operands needs --format reversed');

const family: TaskFamily = reverseOperands ? withReversedOperands(additionFamily({ format })) : additionFamily({ format, padTo });
const tokenizer = new ByteTokenizer();
const maxDigits = Math.max(labelTo, ...rounds, padTo);
const maxTokens = format === 'scratchpad' ? 10 * maxDigits + 12 : format === 'indexed' ? 3 * maxDigits + 5 : maxDigits + 3;
const stop = [';'];
const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(0);

const model = { dModel, nLayers: layers, nHeads: heads, positionEncoding, maxSeqLen: (format === 'indexed' ? 4 : 2) * maxDigits + 2 + maxTokens + 2, seed };
const backend = await EmbeddedBackend.create({ model });
log(`${JSON.stringify({ format, reverseOperands, labels: `${labels} × ${labelFrom}-${labelTo}d`, model, sft: { steps: sftSteps, lr: sftLr, batchSize }, rounds: { rounds, tasks: taskCount, prevTasks: prevTaskCount, n, temperature, cap, vote, steps: roundSteps, lr: roundLr, fromSft, pool: poolKind } })}`);
const heldOut: Task[] = [];
for (let d = 1; d <= maxDigits; d++) heldOut.push(...family.generate({ count: evalCount, difficulty: d, seed: 1, split: 'heldout' }));
const labeled: Task[] = [];
const labelLengths = labelTo - labelFrom + 1;
for (let d = labelFrom; d <= labelTo; d++) labeled.push(...family.generate({ count: Math.ceil(labels / labelLengths), difficulty: d, seed: 2 + 1000 * seed, split: 'labeled' }));
const report = async (label: string) => {
  const { byDifficulty } = await evaluate(backend, heldOut, family.verifier, { maxTokens, stop });
  log(`${label.padEnd(24)} ${Object.entries(byDifficulty).map(([d, a]) => `${d}d ${(a * 100).toFixed(0).padStart(3)}%`).join('  ')}   t=${seconds()}s`);
  return byDifficulty;
};

const sft = labeled.map((task) => ({ prompt: task.prompt, completion: task.solution! }));
await fineTune(backend, tokenizer, sft, { steps: sftSteps, batchSize, learningRate: sftLr, seed: 3 + seed });
const sftSeconds = Number(seconds());
const baseline = await report(`SFT (${labels} labels)`);
// What the model writes one length beyond its labels: the failure mode decides what to try next.
const beyond = family.generate({ count: 4, difficulty: labelTo + 1, seed: 5, split: 'show' });
const shown = await sampleAndVerify(backend, beyond, family.verifier, { n: 1, temperature: 0, maxTokens, stop, seed: 0 });
for (const [attempt] of shown) {
  const verdict = attempt.verification;
  log(`  ${attempt.task.prompt}${attempt.completion}   expected ${attempt.task.solution}   ${verdict.status === 'scored' ? verdict.feedback : verdict.status}`);
}
const work = mkdtempSync(join(tmpdir(), 'easy-to-hard-'));
const sftCheckpoint = join(work, 'sft');
if (fromSft) await backend.save(sftCheckpoint);

const history = [];
let accumulated: { prompt: string; completion: string }[] = [];
const roundsStarted = performance.now();
for (const [r, digits] of rounds.entries()) {
  const roundSeed = 100 * seed + r;
  // Unlabeled for the learner: only the verifier (the environment's arithmetic check) sees the answer.
  const tasks = family.generate({ count: taskCount, difficulty: digits, seed: 10 + roundSeed, split: 'unlabeled' });
  const previous = Array.from({ length: digits - labelTo }, (_, i) => labelTo + i).filter((d) => d >= 1);
  for (const [i, d] of previous.entries()) {
    const count = Math.floor(prevTaskCount / previous.length) + (i < prevTaskCount % previous.length ? 1 : 0);
    if (count > 0) tasks.push(...family.generate({ count, difficulty: d, seed: 20 + roundSeed, split: 'unlabeled' }));
  }
  const groups = await sampleAndVerify(backend, tasks, family.verifier, { n, temperature, maxTokens, stop, seed: 1000 + roundSeed });
  const accepted = acceptPassing(vote ? groups.filter(majorityPasses) : groups, { capPerTask: cap });
  const atLength = accepted.filter((a) => a.task.difficulty === digits).length;
  const fresh = accepted.map((a) => ({ prompt: a.task.prompt, completion: a.completion + ';' }));
  accumulated = poolKind === 'last' ? fresh : [...accumulated, ...fresh];
  if (fromSft) await backend.load(sftCheckpoint);
  await fineTune(backend, tokenizer, [...sft, ...accumulated], { steps: roundSteps, batchSize, learningRate: roundLr, seed: 30 + roundSeed });
  const byDifficulty = await report(`round ${r + 1}: ${digits}d, +${atLength}/${accepted.length}`);
  history.push({ round: r + 1, digits, accepted: accepted.length, acceptedAtLength: atLength, byDifficulty, seconds: Number(seconds()) });
}
const roundSeconds = (performance.now() - roundsStarted) / 1000;
await backend.close();
rmSync(work, { recursive: true, force: true });
log(`SFT ${sftSeconds}s, rounds ${roundSeconds.toFixed(0)}s (with their evaluations), total ${seconds()}s`);
const summary = { format, reverseOperands, positionEncoding, labels, labelDigits: [labelFrom, labelTo], sftSteps, baseline, rounds: history, sftSeconds, roundSeconds, seconds: Number(seconds()) };
if (json) console.log(JSON.stringify(summary));

/** Whether the most common answer among a task's samples passes (ties: the first sampled). */
function majorityPasses(group: readonly Attempt[]): boolean {
  const votes = new Map<string, { count: number; pass: boolean }>();
  for (const attempt of group) {
    const entry = votes.get(attempt.completion) ?? { count: 0, pass: passed(attempt) };
    entry.count++;
    votes.set(attempt.completion, entry);
  }
  let best: { count: number; pass: boolean } | undefined;
  for (const entry of votes.values()) if (!best || entry.count > best.count) best = entry;
  return best?.pass ?? false;
}

/** The reversed family with both operands written least-significant digit first too: `47+85=` → `74+58=231;`. */
function withReversedOperands(base: TaskFamily): TaskFamily {
  const reverse = (text: string) => [...text].reverse().join('');
  return {
    ...base,
    name: `${base.name}-reversed-operands`,
    generate: (options) =>
      base.generate(options).map((task) => {
        const { a, b } = task.meta as { a: number; b: number };
        return { ...task, prompt: `${reverse(String(a))}+${reverse(String(b))}=` };
      }),
  };
}
