/**
 * Absolute Zero self-play: the formats' prompts and parsers, the executor in
 * the toy language, the held-out programs, and one step with a scripted
 * policy (rewards, learnability, buffers, TRR++ advantages).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { Rng } from '../../src/engine/random.js';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import type { Sandbox } from '../../src/sandbox/run-types.js';
import type { Completion, SamplingOptions } from '../../src/spec/policy.js';
import { Executor } from '../../src/selfplay/executor.js';
import { exprFormat, jsFormat, PROMPT_KINDS } from '../../src/selfplay/formats.js';
import { pickTasks, seedBuffers, selfPlayStep, type SelfPlaySettings } from '../../src/selfplay/absolute-zero.js';
import { builtinHeldOutPath, heldOutTasks, loadHeldOutPrograms, programVerifier } from '../../src/selfplay/heldout.js';

let sandbox: Sandbox;
before(async () => {
  sandbox = await createSandbox({ timeoutMs: 150, memoryMb: 32 });
});
after(() => sandbox.close());

describe('self-play formats', () => {
  test('expr: proposals, answers and their format errors', () => {
    const f = exprFormat();
    assert.deepEqual(f.parseProposal('x*2+1:3'), { ok: true, value: { program: 'x*2+1', input: 3 } });
    assert.match((f.parseProposal('x*2+1') as { reason: string }).reason, /program:input/);
    assert.match((f.parseProposal('x;y:3') as { reason: string }).reason, /characters outside/);
    assert.match((f.parseProposal('x:three') as { reason: string }).reason, /not an integer/);
    assert.match((f.parseProposal(`${'x+'.repeat(20)}1:3`) as { reason: string }).reason, /longer than 24/);
    assert.deepEqual(f.parseInductionProposal('1,2,3,4,5,6'), { ok: true, value: { inputs: [1, 2, 3, 4, 5, 6], message: '' } });
    assert.match((f.parseInductionProposal('1,2,3') as { reason: string }).reason, /6 inputs/);
    assert.deepEqual(f.parseAnswer('deduction', '7'), { ok: true, value: 7 });
    assert.deepEqual(f.parseAnswer('induction', 'x+1'), { ok: true, value: 'x+1' });
    assert.equal(f.parseAnswer('abduction', '7x').ok, false);
    assert.equal(f.solvePrompt('deduction', { program: 'x+1', input: 3, output: 4 }), 'sd x+1:3 =');
    assert.equal(f.solveInductionPrompt({ program: 'x', shown: [{ input: 1, output: 1 }, { input: 2, output: 2 }], hidden: [], message: '' }), 'si 1:1 2:2 =');
  });

  test('js: fenced blocks and <answer> tags, with named failures', () => {
    const f = jsFormat();
    const proposal = 'Here it is:\n```javascript\nfunction f(x) { return x.length; }\n```\n```json\n"abc"\n```';
    assert.deepEqual(f.parseProposal(proposal), { ok: true, value: { program: 'function f(x) { return x.length; }', input: 'abc' } });
    assert.match((f.parseProposal('```javascript\nfunction f(x) {}\n```') as { reason: string }).reason, /no ```json block/);
    assert.match((f.parseProposal('```javascript\nfunction f(x) {}\n```\n```json\n{oops}\n```') as { reason: string }).reason, /not JSON/);
    assert.deepEqual(f.parseAnswer('deduction', 'thinking… <answer>[1, 2]</answer>'), { ok: true, value: [1, 2] });
    assert.match((f.parseAnswer('abduction', 'the answer is 3') as { reason: string }).reason, /no <answer>/);
    const induction = f.parseInductionProposal('```json\n[1, 2, 3, 4, 5, 6, 7]\n```\n```message\ndoubles x\n```');
    assert.deepEqual(induction, { ok: true, value: { inputs: [1, 2, 3, 4, 5, 6], message: 'doubles x' } });
    assert.match(f.proposePrompt('abduction', [{ program: 'function f(x) { return x; }', input: 1, output: 1 }]), /find an input/);
  });

  test('expr format prior: every kind of prompt, with a completion that parses', () => {
    const f = exprFormat({ maxProgramLength: 5 });
    const rng = new Rng(3);
    for (let i = 0; i < 60; i++) {
      const kind = PROMPT_KINDS[i % PROMPT_KINDS.length];
      const { prompt, completion } = f.formatPriorExample!(kind, rng);
      assert.ok(prompt.length > 0);
      const type = kind.split('-')[1] as 'deduction' | 'abduction' | 'induction';
      const parsed = kind.startsWith('propose') ? (type === 'induction' ? f.parseInductionProposal(completion) : f.parseProposal(completion)) : f.parseAnswer(type, completion);
      assert.ok(parsed.ok, `${kind}: ${completion} → ${JSON.stringify(parsed)}`);
    }
  });
});

describe('executor in the expr language', () => {
  test('values are taken mod 10; strict mode rejects legacy octal; limits name the field', async () => {
    const executor = new Executor(sandbox, exprFormat());
    assert.deepEqual(await executor.validate({ program: 'x*7+5', input: 9 }), { valid: true, output: 8 });
    assert.deepEqual(await executor.validate({ program: 'x-4', input: 2 }), { valid: true, output: 8 });
    assert.equal((await executor.validate({ program: '010+x', input: 1 })).valid, false);
    assert.match(((await executor.validate({ program: 'x%0', input: 3 })) as { reason: string }).reason, /not an integer/);
    assert.match(((await executor.validate({ program: 'x', input: 12 })) as { reason: string }).reason, /the input 12 is not an integer in \[0, 9\]/);
    assert.match(((await executor.validate({ program: 'x)+(x', input: 1 })) as { reason: string }).reason, /unbalanced parentheses/);
    assert.match(((await executor.validate({ program: 'x+*x', input: 1 })) as { reason: string }).reason, /fails: SyntaxError/);
    const before = executor.counts.runs;
    await executor.check('abduction', { program: 'x*7+5', output: 8 }, 9);
    await executor.check('abduction', { program: 'x*7+5', output: 8 }, 9);
    assert.equal(executor.counts.runs, before, 'the runs of validate are memoized');
  });

  test('the built-in held-out programs: every case is what the program computes', async () => {
    const format = exprFormat();
    const executor = new Executor(sandbox, format);
    const programs = loadHeldOutPrograms(builtinHeldOutPath('expr'));
    assert.ok(programs.length >= 30);
    for (const p of programs) {
      for (const [input, output] of p.cases) assert.deepEqual(await executor.validate({ program: p.program, input }), { valid: true, output }, `${p.id}: ${p.program} at ${input}`);
    }
    const tasks = heldOutTasks(programs, format);
    assert.equal(tasks.length, programs.length * 6);
    const verifier = programVerifier(executor);
    const byId = new Map(tasks.map((t) => [t.id, t]));
    // expr/3 is x+1 (mod 10), first case 7 → 8.
    assert.equal(programs[3].program, 'x+1');
    assert.deepEqual(await verifier.verify(byId.get('expr/3/deduction/0')!, '8'), { status: 'scored', reward: 1, pass: true, feedback: 'correct output' });
    assert.deepEqual(await verifier.verify(byId.get('expr/3/deduction/0')!, '7'), { status: 'scored', reward: 0, pass: false, feedback: 'expected 8, got 7' });
    assert.equal(((await verifier.verify(byId.get('expr/3/induction')!, 'x+1')) as { pass: boolean }).pass, true);
    assert.equal(((await verifier.verify(byId.get('expr/3/induction')!, '1+x')) as { pass: boolean }).pass, true, 'any program that gives the held-back outputs');
    assert.equal(((await verifier.verify(byId.get('expr/3/induction')!, 'x+2')) as { pass: boolean }).pass, false);
    assert.equal(((await verifier.verify(byId.get('expr/3/abduction/0')!, String((programs[3].cases[3][0] as number)))) as { pass: boolean }).pass, true);
    assert.match(((await verifier.verify(byId.get('expr/3/abduction/0')!, 'six')) as { feedback: string }).feedback, /format error/);
  });
});

describe('self-play step', () => {
  test('pickTasks: new tasks first, then the rest without replacement, repeats only when short', () => {
    const rng = new Rng(1);
    const items = Array.from({ length: 10 }, (_, i) => i);
    const picked = pickTasks(items, 7, 5, rng);
    assert.deepEqual(picked.slice(0, 3), [7, 8, 9]);
    assert.equal(new Set(picked).size, 5);
    assert.deepEqual(pickTasks([4], 0, 3, rng), [4, 4, 4]);
  });

  test('a scripted policy: rewards, learnability, buffers and per-(role, type) advantages', async () => {
    const format = exprFormat();
    const executor = new Executor(sandbox, format);
    // Proposers: a valid deduction task, an invalid abduction program, an induction proposal with a repeated input.
    // Solvers: right on deduction, wrong on abduction, a format error on induction; half the rollouts right.
    const calls: { prompts: readonly string[]; options: SamplingOptions }[] = [];
    const tokenizer = new ByteTokenizer();
    const completion = (text: string): Completion => {
      const tokens = [...tokenizer.encode(text), tokenizer.eosId];
      return { text, tokens, logprobs: tokens.map(() => -1), finishReason: 'stop' };
    };
    const policy = {
      name: 'scripted',
      version: 'test',
      async sample(prompts: readonly string[], options: SamplingOptions) {
        calls.push({ prompts, options });
        return prompts.map((prompt) =>
          Array.from({ length: options.n }, (_, j) => {
            if (prompt.startsWith('pd')) return completion('x+2:3');
            if (prompt.startsWith('pa')) return completion('x+*x:3');
            if (prompt.startsWith('pi')) return completion('1,1,2,3,4,5');
            if (prompt.startsWith('sd x+2:3')) return completion(j % 2 ? '5' : '4'); // rollouts: half right
            if (prompt.startsWith('sd')) return completion('1');
            if (prompt.startsWith('sa')) return completion('2');
            return completion('?');
          }),
        );
      },
    };
    const settings: SelfPlaySettings = { batch: 2, rollouts: 4, references: 2, rewards: { formatError: -1, invalid: -1, unlearnable: -0.5, wrong: -0.5 }, temperature: { propose: 1, solve: 1 }, epsilon: 1e-6, duplicates: 'keep', trainRollouts: false, inputs: 'proposer', duplicateWindow: Infinity, maxBuffer: 16384, maxTokens: 16 };
    const buffers = seedBuffers(format);
    const result = await selfPlayStep(policy, tokenizer, executor, buffers, settings, 7);
    assert.equal(calls.length, 3, 'propose, rollouts, solve');
    assert.equal(calls[1].options.n, 4);
    const byKind = (kind: string) => result.records.filter((r) => r.kind === kind);
    assert.deepEqual(byKind('propose-deduction').map((r) => [r.reward, r.feedback]), [[0.5, 'valid; solve rate 0.500'], [0.5, 'valid; solve rate 0.500; already in the buffer']]);
    assert.ok(byKind('propose-abduction').every((r) => r.reward === -1 && r.feedback.startsWith('invalid: fails: SyntaxError')), JSON.stringify(byKind('propose-abduction')));
    assert.ok(byKind('propose-induction').every((r) => r.reward === -1 && r.feedback === 'invalid: the inputs repeat'));
    assert.deepEqual(byKind('solve-deduction').map((r) => r.reward), [1, 1], 'the identity seed at 1: the answer 1 is right');
    assert.deepEqual(byKind('solve-abduction').map((r) => r.reward), [-0.5, -0.5]);
    assert.deepEqual(byKind('solve-induction').map((r) => r.reward), [-1, -1]);
    // Buffers: both valid deduction proposals appended (duplicates: keep); the rest unchanged.
    assert.equal(result.buffers.deduction.length, 3);
    assert.deepEqual(result.buffers.deduction[2], { program: 'x+2', input: 3, output: 5 });
    assert.equal(result.buffers.abduction.length, 1);
    assert.deepEqual(result.buffers.before, { deduction: 1, abduction: 1, induction: 1 });
    assert.equal(buffers.deduction.length, 1, 'the input buffers are not modified');
    // TRR++: a bucket whose rewards are all equal has zero advantages; every trained completion has one example.
    assert.equal(result.examples.length, 12);
    assert.ok(result.examples.every((e) => Math.abs(e.advantage) < 1e-9), 'every bucket here has equal rewards');
    assert.equal(result.metrics['propose/deduction/valid'], 1);
    assert.equal(result.metrics['propose/deduction/solve_rate'], 0.5);
    assert.equal(result.metrics['solve/deduction/accuracy'], 1);

    // penalize: the repeat scores as unlearnable and is not appended; advantages then differ within the bucket.
    const penalized = await selfPlayStep(policy, tokenizer, executor, buffers, { ...settings, duplicates: 'penalize' }, 7);
    assert.deepEqual(penalized.records.filter((r) => r.kind === 'propose-deduction').map((r) => r.reward), [0.5, -0.5]);
    assert.equal(penalized.buffers.deduction.length, 2);
    const advantages = penalized.examples.slice(0, 2).map((e) => e.advantage);
    assert.ok(advantages[0] > 0 && advantages[1] < 0 && Math.abs(advantages[0] + advantages[1]) < 1e-9, `whitened within the bucket: ${advantages}`);
    // maxBuffer: the oldest entries after the seed go; the newest stay marked as new.
    const capped = await selfPlayStep(policy, tokenizer, executor, { ...buffers, deduction: [...buffers.deduction, { program: 'x*3', input: 2, output: 6 }], before: { ...buffers.before, deduction: 2 } }, { ...settings, maxBuffer: 3 }, 7);
    assert.deepEqual(capped.buffers.deduction.map((t) => `${t.program}:${t.input}`), ['x:1', 'x+2:3', 'x+2:3']);
    assert.equal(capped.buffers.before.deduction, 1);
    // trainRollouts: the four rollouts of each valid proposal join the solver's batch.
    const withRollouts = await selfPlayStep(policy, tokenizer, executor, buffers, { ...settings, trainRollouts: true }, 7);
    assert.equal(withRollouts.records.filter((r) => r.kind === 'solve-deduction').length, 2 + 2 * 4);
  });

  test('the js format end to end: a scripted real-model policy proposes JavaScript and answers in tags', async () => {
    const format = jsFormat();
    const executor = new Executor(sandbox, format);
    const tokenizer = new ByteTokenizer();
    const completion = (text: string): Completion => {
      const tokens = [...tokenizer.encode(text), tokenizer.eosId];
      return { text, tokens, logprobs: tokens.map(() => -0.5), finishReason: 'stop' };
    };
    const program = 'function f(x) {\n  return x.split("").reverse().join("");\n}';
    const policy = {
      name: 'scripted',
      version: 'test',
      async sample(prompts: readonly string[], options: SamplingOptions) {
        return prompts.map((prompt) =>
          Array.from({ length: options.n }, (_, j) => {
            if (prompt.startsWith('Write a new deduction')) return completion('```javascript\n' + program + '\n```\n```json\n"abc"\n```');
            if (prompt.startsWith('Write a new abduction')) return completion('```javascript\nfunction f(x) { while (true) {} }\n```\n```json\n1\n```');
            if (prompt.startsWith('Here is a program')) return completion('```json\n["a", "b", "c", "d", "e", "f", "g"]\n```\n```message\nreturns its input\n```');
            if (prompt.includes('What does f return') && prompt.includes('reverse')) return completion(j % 2 ? '<answer>"cba"</answer>' : '<answer>"abc"</answer>');
            if (prompt.includes('What does f return')) return completion('<answer>"Hello world"</answer>');
            if (prompt.includes('Find an input')) return completion('I think <answer>"Hello world"</answer>');
            return completion('```javascript\nfunction f(x) { return x; }\n```');
          }),
        );
      },
    };
    const settings: SelfPlaySettings = { batch: 1, rollouts: 2, references: 2, rewards: { formatError: -1, invalid: -1, unlearnable: -0.5, wrong: -0.5 }, temperature: { propose: 1, solve: 1 }, epsilon: 1e-6, duplicates: 'keep', trainRollouts: false, inputs: 'proposer', duplicateWindow: Infinity, maxBuffer: 16384, maxTokens: 256 };
    const result = await selfPlayStep(policy, tokenizer, executor, seedBuffers(format), settings, 3);
    const byKind = Object.fromEntries(result.records.map((r) => [r.kind, r]));
    assert.deepEqual([byKind['propose-deduction'].reward, byKind['propose-deduction'].feedback], [0.5, 'valid; solve rate 0.500']);
    assert.equal(byKind['propose-abduction'].reward, -1);
    assert.match(byKind['propose-abduction'].feedback, /^invalid: does not terminate/);
    assert.equal(byKind['propose-induction'].reward, -0.5, 'the identity: every rollout solves it, so it is unlearnable');
    for (const kind of ['solve-deduction', 'solve-abduction', 'solve-induction']) assert.equal(byKind[kind].reward, 1, `${kind}: ${byKind[kind].feedback}`);
    assert.deepEqual(result.buffers.deduction[1], { program, input: 'abc', output: 'cba' });
    assert.deepEqual(result.buffers.induction[1].hidden.map((e) => e.output), ['d', 'e', 'f']);
    assert.equal(result.buffers.induction[1].message, 'returns its input');
  });
});
