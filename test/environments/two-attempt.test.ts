/** The two-attempt environment (SCoRe) on scripted actions: observations, per-step rewards and verdicts, done flags, the instruction template, and the end of the episode. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CORRECTION_INSTRUCTION, secondAttemptContext, twoAttemptEnvironment } from '../../src/environments/two-attempt.js';
import { labeledExamples } from '../../src/learn/curate.js';
import { validateRecipe } from '../../src/recipe/load.js';
import { InvalidConfigError } from '../../src/errors.js';
import { InvalidArgumentError } from '../../src/errors.js';
import type { Task } from '../../src/spec/task.js';
import type { Verifier } from '../../src/spec/verifier.js';
import { matchVerifier } from '../../src/verifiers/match.js';

const task: Task = { id: 't1', family: 'addition', prompt: '12+34=', answer: '46' };
const verifier = matchVerifier({ answerEnd: [';', '\n'] });
const instructionFor = (prompt: string) => `\nThere might be an error above. Correct it, if any, and rewrite the answer.\n${prompt}`;

describe('twoAttemptEnvironment', () => {
  test('wrong then right: r1 = 0 with the instruction as the next observation (no feedback shown), r2 = 1, done, passes', async () => {
    const environment = twoAttemptEnvironment(verifier);
    assert.equal(environment.name, 'two-attempt(exact-match)');
    assert.equal(environment.version, verifier.version);
    assert.equal(environment.maxTurns, 2);
    const episode = await environment.reset(task);
    assert.equal(episode.observation, '12+34=');
    const first = await episode.step('45;');
    assert.equal(first.observation, instructionFor('12+34='));
    assert.equal(DEFAULT_CORRECTION_INSTRUCTION.replace('{prompt}', '12+34='), first.observation);
    assert.equal(first.reward, 0);
    assert.equal(first.done, false);
    assert.equal(first.pass, undefined, 'pass is the episode’s, given once done');
    assert.equal(first.feedback, 'character 2 is wrong', 'the feedback is recorded on the step, not shown');
    assert.ok(!first.observation.includes('character'), 'intrinsic self-correction: the observation carries no feedback');
    assert.equal(first.verification?.status, 'scored');
    assert.equal(first.verification?.status === 'scored' && first.verification.pass, false);
    const second = await episode.step('46;');
    assert.deepEqual({ observation: second.observation, reward: second.reward, done: second.done, pass: second.pass }, { observation: '', reward: 1, done: true, pass: true });
    await assert.rejects(episode.step('46;'), (e: Error) => e instanceof InvalidArgumentError && e.argument === 'action' && /task "t1" has ended after its second attempt; start another with reset\(\)/.test(e.message));
  });

  test('right then wrong: the episode’s pass is attempt 2’s', async () => {
    const episode = await twoAttemptEnvironment(verifier).reset(task);
    const first = await episode.step('46;');
    assert.deepEqual([first.reward, first.done], [1, false]);
    const second = await episode.step('47;');
    assert.deepEqual([second.reward, second.done, second.pass], [0, true, false]);
  });

  test('showFeedback shows attempt 1’s feedback; a custom template may repeat the attempt', async () => {
    const shown = await (await twoAttemptEnvironment(verifier, { showFeedback: true }).reset(task)).step('45;');
    assert.equal(shown.observation, '\nFeedback: character 2 is wrong\nCorrect the answer, if needed, and rewrite it.\n12+34=');
    assert.equal(twoAttemptEnvironment(verifier, { showFeedback: true }).name, 'two-attempt(exact-match, feedback)');
    const custom = await (await twoAttemptEnvironment(verifier, { instruction: ' You wrote {attempt} Again: {prompt}' }).reset(task)).step('45;');
    assert.equal(custom.observation, ' You wrote 45; Again: 12+34=');
  });

  test('templates that do not match showFeedback, or use unknown placeholders, are errors naming the fix', () => {
    const isInstruction = (pattern: RegExp) => (e: Error) => e instanceof InvalidArgumentError && e.argument === 'instruction' && pattern.test(e.message);
    assert.throws(() => twoAttemptEnvironment(verifier, { instruction: '{feedback} {prompt}' }), isInstruction(/showFeedback is false; set showFeedback: true/));
    assert.throws(() => twoAttemptEnvironment(verifier, { instruction: 'Again: {prompt}', showFeedback: true }), isInstruction(/no \{feedback\} placeholder/));
    assert.throws(() => twoAttemptEnvironment(verifier, { instruction: 'Again: {question}' }), isInstruction(/unknown placeholder \{question\}; known: \{prompt\}, \{attempt\}, \{feedback\}/));
  });

  test('an unscored attempt 1 has a null reward and the reason as feedback; the episode goes on', async () => {
    let calls = 0;
    const flaky: Verifier = { name: 'flaky', version: '2', verify: (t, completion) => (calls++ === 0 ? { status: 'error', error: 'timeout' } : verifier.verify(t, completion)) };
    const episode = await twoAttemptEnvironment(flaky).reset(task);
    const first = await episode.step('46;');
    assert.deepEqual([first.reward, first.done, first.feedback, first.verification?.status], [null, false, 'verifier error: timeout', 'error']);
    const second = await episode.step('46;');
    assert.deepEqual([second.reward, second.done, second.pass], [1, true, true]);
  });

  test('concurrent steps take one turn each: a third is refused even while the verifier is still running', async () => {
    const slow: Verifier = { name: 'slow', version: '1', verify: async (t, completion) => { await new Promise((resolve) => setTimeout(resolve, 5)); return verifier.verify(t, completion); } };
    const episode = await twoAttemptEnvironment(slow).reset(task);
    const results = await Promise.allSettled([episode.step('45;'), episode.step('46;'), episode.step('46;')]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
    assert.equal(results[1].status === 'fulfilled' && results[1].value.done, true);
  });
});

describe('warmup.correctionShare: the two-attempt format taught in the warm-up', () => {
  const base = { name: 'c', rounds: 1, tasks: { family: 'addition' }, sample: { stop: [';'] }, warmup: { count: 40, difficulties: [2], steps: 1, correctionShare: 1 } };
  const tasks: Task[] = Array.from({ length: 40 }, (_, i) => ({ id: `t${i}`, family: 'addition', prompt: `${10 + i}+${20 + i}=`, answer: String(30 + 2 * i) }));

  test('each example reads exactly what a two-attempt episode shows before attempt 2 and trains the right answer; half the first attempts are wrong', async () => {
    const recipe = validateRecipe({ ...base, rl: { steps: 1, selfCorrection: {} } });
    const examples = labeledExamples(recipe, tasks, verifier, 7);
    const corrections = examples.filter((e) => e.group === 'correction');
    assert.equal(corrections.length, tasks.length, 'correctionShare 1: one per labeled task');
    let wrong = 0;
    for (const [i, example] of corrections.entries()) {
      const task = tasks[i];
      assert.equal(example.completion, `${task.answer};`);
      const attempt = example.prompt.slice(task.prompt.length, example.prompt.indexOf('\nThere might'));
      // The environment's own context: prompt, attempt 1 as sampled (no stop string), the observation after it.
      const episode = await twoAttemptEnvironment(verifier).reset(task);
      const first = await episode.step(attempt);
      assert.equal(example.prompt, task.prompt + attempt + first.observation);
      assert.equal(example.prompt, secondAttemptContext(task, attempt, ''));
      if (first.reward === 0) wrong++;
    }
    assert.ok(wrong > 10 && wrong < 30, `about half wrong, got ${wrong}/40`);
  });

  test('without a two-attempt episode to serve, it is refused naming the field', () => {
    assert.throws(() => validateRecipe(base), (e: Error) => e instanceof InvalidConfigError && e.message === 'Invalid config field `warmup.correctionShare`: teaches the two-attempt format, which only SCoRe (rl.selfCorrection) and eval.twoAttempt use; set one of them, or remove warmup.correctionShare');
    assert.equal(validateRecipe({ ...base, eval: { twoAttempt: true } }).warmup?.correctionShare, 1);
  });
});
