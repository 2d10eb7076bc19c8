/**
 * LLM-as-judge: score parsing (each format, garbage, out-of-range and
 * off-scale scores, several scores, verdicts), averaging and partial parses,
 * the unparseable error, rubric filling, one batched judge call, prompts the
 * judge refuses as per-item errors (a server error still throws), and short
 * loop runs through the recipe path with a scripted judge (the policy itself
 * on a mock backend). A real toy model is no judge: the last test shows a
 * random checkpoint's judgements come back as explicit errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ApiCallError, InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import { openRun } from '../../src/run/open-run.js';
import { rewardVerifier } from '../../src/verifiers/reward.js';
import { runLoop } from '../../src/run/loop.js';
import { validateRecipe } from '../../src/recipe/load.js';
import type { SampleOptions } from '../../src/engine/sampler.js';
import type { Completion, SamplingOptions } from '../../src/spec/policy.js';
import type { Task } from '../../src/spec/task.js';
import { combineJudgements, DEFAULT_RUBRIC, judgePrompt, judgeVerifier, parseJudgement, rubricProblem, type JudgeScale } from '../../src/verifiers/judge.js';
import { MockBackend, tokenizer, type Answerer } from '../loop/mock-backend.js';

const root = mkdtempSync(join(tmpdir(), 'autodidact-judge-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ten: JudgeScale = { min: 1, max: 10 };
const score = (text: string, scale: JudgeScale = ten, pick?: 'last' | 'first') => {
  const parsed = parseJudgement(text, scale, pick);
  return parsed.ok ? parsed.score : parsed.reason;
};

describe('parseJudgement', () => {
  test('reads each score format', () => {
    const cases: [string, number, JudgeScale?][] = [
      ['The sum is right.\nScore: 7/10', 7],
      ['score = 6', 6],
      ['The final score is 8.', 8],
      ['**Score:** 9', 9],
      ['Overall rating: 3 out of 10', 3],
      ['Grade: 5', 5],
      ['I give it 7 out of 10.', 7],
      ['Verdict: [[8]]', 8],
      ['[[ 8/10 ]]', 8],
      ['<score>0.8</score>', 0.8, { min: 0, max: 1 }],
      ['<rating> 4 </rating>', 4, { min: 1, max: 5 }],
      ['Rating: 4/5', 4, { min: 1, max: 5 }],
      ['Score: 7.5', 7.5],
      ['Score: 70', 70, { min: 0, max: 100 }],
    ];
    for (const [text, expected, scale] of cases) assert.equal(score(text, scale), expected, text);
  });

  test('maps the score to [0, 1] over the scale', () => {
    assert.deepEqual(parseJudgement('Score: 7/10', ten), { ok: true, score: 7, reward: 6 / 9, matched: 'Score: 7/10' });
    assert.equal((parseJudgement('Score: 1', ten) as { reward: number }).reward, 0);
    assert.equal((parseJudgement('Score: 10', ten) as { reward: number }).reward, 1);
    assert.equal((parseJudgement('<score>0.8</score>', { min: 0, max: 1 }) as { reward: number }).reward, 0.8);
  });

  test('garbage, out-of-range scores and scores on another scale are unparseable, with the reason', () => {
    assert.equal(score('I cannot tell.'), 'no score found (expected e.g. "Score: N" with N from 1 to 10)');
    assert.equal(score(''), 'no score found (expected e.g. "Score: N" with N from 1 to 10)');
    assert.equal(score('Score: 12'), 'score 12 in "Score: 12" is outside the scale 1–10');
    assert.equal(score('Score: 0'), 'score 0 in "Score: 0" is outside the scale 1–10');
    assert.equal(score('Score: -3'), 'score -3 in "Score: -3" is outside the scale 1–10');
    assert.equal(score('<score>0.8</score>'), 'score 0.8 in "<score>0.8</score>" is outside the scale 1–10');
    assert.equal(score('Rating: 4/5'), '"Rating: 4/5" is out of 5, not on the scale 1–10');
    assert.equal(score('[[9/100]]'), '"[[9/100]]" is out of 100, not on the scale 1–10');
  });

  test('several scores: the last wins by default, the first with pick: first; explicit forms beat bare fractions', () => {
    assert.equal(score('Score: 3. On reflection, Score: 5'), 5);
    assert.equal(score('Score: 3. On reflection, Score: 5', ten, 'first'), 3);
    assert.equal(score('[[4]] then Rating: 6 then <score>2</score>'), 2);
    assert.equal(score('[[4]] then Rating: 6 then <score>2</score>', ten, 'first'), 4);
    assert.equal(score('7/10 at first, 8/10 now'), 8);
    assert.equal(score('Score: 6, though 9/10 digits are right'), 6, 'a bare fraction does not count beside an explicit score');
    assert.equal(score('2/3 of the digits are right; 1/2 of the carries'), 'no score found (expected e.g. "Score: N" with N from 1 to 10)', 'bare fractions over another denominator are not scores');
    assert.equal(score('version 1.7/10.2 build'), 'no score found (expected e.g. "Score: N" with N from 1 to 10)');
  });

  test('verdicts: explicit forms in any case, bare upper-case words, or an output that is only yes/no', () => {
    const verdict = (text: string, pick?: 'last' | 'first') => {
      const parsed = parseJudgement(text, 'yes-no', pick);
      return parsed.ok ? parsed.score : parsed.reason;
    };
    assert.equal(verdict('The digits match. Verdict: YES'), 1);
    assert.equal(verdict('verdict: no'), 0);
    assert.equal(verdict('**Judgement:** Yes'), 1);
    assert.equal(verdict('Correct: no'), 0);
    assert.equal(verdict('[[NO]]'), 0);
    assert.equal(verdict('<verdict> yes </verdict>'), 1);
    assert.equal(verdict('YES'), 1);
    assert.equal(verdict('  no.  '), 0);
    assert.equal(verdict('There is no error, so YES'), 1, 'lower-case "no" in prose is not a verdict');
    assert.equal(verdict('YES at first glance, but NO'), 0);
    assert.equal(verdict('YES at first glance, but NO', 'first'), 1);
    assert.equal(verdict('Verdict: YES, though NO one would check'), 1, 'an explicit verdict beats bare words');
    assert.equal(verdict('there is no way to know'), 'no verdict found (expected "Verdict: YES" or "Verdict: NO")');
  });
});

describe('combineJudgements', () => {
  test('averages the parsed samples and passes at the threshold; the feedback carries the first rationale, trimmed', () => {
    const v = combineJudgements(['The sum is right,\n  every   digit.\nScore: 8', 'Score: 10'], ten, { threshold: 0.8 });
    assert.deepEqual(v, { status: 'scored', reward: (9 - 1) / 9, pass: true, feedback: 'judge: score 9 on 1–10. The sum is right, every digit. Score: 8' });
    const low = combineJudgements(['Score: 8', 'Score: 6'], ten, { threshold: 0.8 });
    assert.equal(low.status === 'scored' && low.pass, false, 'mean 7 → reward 0.667 < 0.8');
    const long = combineJudgements([`${'x'.repeat(50)} Score: 9`], ten, { feedbackChars: 20 });
    assert.equal(long.status === 'scored' && long.feedback, `judge: score 9 on 1–10. ${'x'.repeat(19)}…`);
  });

  test('partial parses: the mean is over the samples that parsed, and the feedback says how many', () => {
    const v = combineJudgements(['no idea', 'Score: 4', 'Score: 13', 'Score: 10'], ten);
    assert.equal(v.status, 'scored');
    assert.equal(v.status === 'scored' && v.reward, ((4 - 1) / 9 + 1) / 2);
    assert.match(v.status === 'scored' ? v.feedback : '', /^judge: score 7 on 1–10, 2 of 4 judge samples parsed\. Score: 4$/);
    const verdicts = combineJudgements(['YES', 'NO', 'YES', '?'], 'yes-no');
    assert.deepEqual(verdicts.status === 'scored' && [verdicts.reward, verdicts.pass, verdicts.feedback], [2 / 3, true, 'judge: 2 of 3 YES, 3 of 4 judge samples parsed. YES']);
  });

  test('no sample parses: an explicit error with the reason and the output, never a silent 0', () => {
    assert.deepEqual(combineJudgements(['I would rather not say.'], ten), { status: 'error', error: 'judge output unparseable: no score found (expected e.g. "Score: N" with N from 1 to 10); output: "I would rather not say."' });
    const many = combineJudgements(['Score: 11', 'hmm'], ten);
    assert.equal(many.status === 'error' && many.error, 'judge output unparseable (0 of 2 judge samples parsed; the first:): score 11 in "Score: 11" is outside the scale 1–10; output: "Score: 11"');
  });
});

describe('rubrics', () => {
  const labeled: Task = { id: 't', prompt: '12+34=', family: 'addition', answer: '46' };
  test('fills the task, the reference, the completion and the scale; drops the reference line for tasks without an answer', () => {
    const filled = judgePrompt(DEFAULT_RUBRIC, labeled, '46', ten);
    assert.ok(filled.includes('Task: 12+34=\nReference answer: 46\nResponse: 46\n'), filled);
    assert.ok(filled.endsWith('give a score from 1 to 10 on the last line, in the form "Score: N".'));
    const { answer: _answer, ...unlabeled } = labeled;
    assert.equal(judgePrompt(DEFAULT_RUBRIC, unlabeled, '46', ten).includes('Reference'), false);
    assert.equal(judgePrompt(DEFAULT_RUBRIC, labeled, '46', ten, false).includes('Reference'), false, 'reference: false hides it');
    assert.equal(judgePrompt('{prompt}{completion} [{min}..{max}]', labeled, '46', 'yes-no'), '12+34=46 [NO..YES]');
    // Text filled in is not scanned again for placeholders.
    assert.equal(judgePrompt('{prompt}|{completion}', { ...labeled, prompt: 'say {max}' }, '{reference}', ten), 'say {max}|{reference}');
  });

  test('a rubric with an unknown placeholder or without {completion} is refused', () => {
    assert.equal(rubricProblem(DEFAULT_RUBRIC), null);
    assert.equal(rubricProblem('{prompt} {answer}'), 'unknown placeholder {answer} (known: {prompt}, {completion}, {reference}, {min}, {max})');
    assert.equal(rubricProblem('{prompt}'), 'has no {completion}: the judge would never see the answer it scores');
    assert.throws(() => judgeVerifier({ policy: { name: 'p', sample: async () => [] }, rubric: '{prompt}' }), /the rubric has no \{completion\}/);
    assert.throws(() => judgeVerifier({ policy: { name: 'p', sample: async () => [] }, scale: { min: 5, max: 5 } }), /scale.max must be above scale.min/);
  });
});

const completion = (text: string): Completion => ({ text, tokens: [], logprobs: [], finishReason: 'stop' });

describe('judgeVerifier', () => {
  test('judges every completion of every group in one batched call, n = samples, and keeps the order', async () => {
    const calls: { prompts: readonly string[]; options: SamplingOptions }[] = [];
    const policy = {
      name: 'scripted',
      async sample(prompts: readonly string[], options: SamplingOptions) {
        calls.push({ prompts, options });
        return prompts.map((p) => {
          const response = /Response: (.*)/.exec(p)![1];
          return Array.from({ length: options.n }, (_, j) => completion(response === 'good' ? `Score: ${9 + j}` : j === 0 ? 'Score: 2' : 'unsure'));
        });
      },
    };
    const judge = judgeVerifier({ policy, samples: 2, temperature: 0.7, maxTokens: 64, seed: 9 });
    assert.equal(judge.name, 'judge(scripted)');
    assert.match(judge.version, /^1\+[0-9a-f]{10}$/);
    const task: Task = { id: 'a', prompt: '1+1=', family: 'addition', answer: '2' };
    const verdicts = await judge.verifyGroups!([
      { task, completions: ['good', 'bad'] },
      { task: { ...task, id: 'b' }, completions: ['bad'] },
    ]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].prompts.length, 3);
    const { seed, ...options } = calls[0].options;
    assert.deepEqual(options, { n: 2, temperature: 0.7, topP: 1, maxTokens: 64, stop: [] });
    assert.deepEqual(verdicts.map((g) => g.map((v) => (v.status === 'scored' ? [v.reward, v.pass] : v.status))), [[[(9.5 - 1) / 9, true], [1 / 9, false]], [[1 / 9, false]]]);
    assert.equal((await judge.verify(task, 'good')).status, 'scored');
    assert.equal(calls.length, 2);
    // The seed depends on the base seed and the batch's prompts: the same batch is judged alike (a resumed run), another batch differently.
    await judge.verifyGroups!([{ task, completions: ['good', 'bad'] }, { task: { ...task, id: 'b' }, completions: ['bad'] }]);
    assert.equal(calls[2].options.seed, seed);
    assert.notEqual(calls[1].options.seed, seed);
    const reseeded = judgeVerifier({ policy, samples: 2, temperature: 0.7, maxTokens: 64, seed: 10 });
    await reseeded.verifyGroups!([{ task, completions: ['good', 'bad'] }, { task: { ...task, id: 'b' }, completions: ['bad'] }]);
    assert.notEqual(calls[3].options.seed, seed);
    // Another rubric or scale is another verifier version (provenance).
    assert.notEqual(judgeVerifier({ policy, scale: 'yes-no' }).version, judgeVerifier({ policy }).version);
  });

  test('a judge that fails or answers with the wrong shape is an error naming the judge, not a verdict', async () => {
    const task: Task = { id: 'a', prompt: '1+1=', family: 'addition' };
    const failing = judgeVerifier({ policy: { name: 'down', sample: async () => Promise.reject(new Error('connection refused')) } });
    await assert.rejects(Promise.resolve(failing.verify(task, '2')), /judge down: sampling 1 judgements failed: connection refused/);
    const short = judgeVerifier({ policy: { name: 'short', sample: async () => [[]] }, samples: 1 });
    await assert.rejects(Promise.resolve(short.verify(task, '2')), /judge short: asked for 1 sample\(s\) of 1 prompts, got 0/);
  });

  test('prompts the judge refuses (longer than its context) are per-item errors; the rest of the batch is judged; a server error still throws', async () => {
    const calls: number[] = [];
    // A judge whose context holds 60 characters: like the engine, it refuses the whole call when one prompt is too long.
    const policy = {
      name: 'short-context',
      async sample(prompts: readonly string[], options: SamplingOptions) {
        calls.push(prompts.length);
        const long = prompts.findIndex((p) => p.length > 60);
        if (long >= 0) throw new InvalidArgumentError(`prompts[${long}]`, `has ${prompts[long].length} tokens; maxSeqLen is 60`);
        return prompts.map(() => Array.from({ length: options.n }, () => completion('Score: 10')));
      },
    };
    const judge = judgeVerifier({ policy, rubric: '{prompt} {completion}' });
    const task: Task = { id: 'a', prompt: '1+1=', family: 'addition' };
    const long = 'x'.repeat(80);
    const verdicts = await judge.verifyGroups!([
      { task, completions: ['2', long, '3', '4'] },
      { task, completions: ['5', '6', long] },
    ]);
    assert.deepEqual(
      verdicts.map((g) => g.map((v) => (v.status === 'scored' ? v.reward : v.status === 'error' ? v.error : v.status))),
      [
        [1, 'judge short-context cannot judge this completion: Invalid argument `prompts[0]`: has 85 tokens; maxSeqLen is 60', 1, 1],
        [1, 1, 'judge short-context cannot judge this completion: Invalid argument `prompts[0]`: has 85 tokens; maxSeqLen is 60'],
      ],
    );
    assert.equal(calls[0], 7, 'one batched call first');
    assert.ok(calls.length <= 12, `the refused batch is split in halves, not judged one by one: ${calls.join(', ')}`);
    // Nothing refused: one call, as before.
    calls.length = 0;
    await judge.verifyGroups!([{ task, completions: ['2', '3'] }]);
    assert.deepEqual(calls, [2]);
    // A dead judge server stops the run instead of turning every reward into an error.
    const down = judgeVerifier({ policy: { name: 'served', sample: async () => Promise.reject(new ApiCallError('http://judge/v1/completions', 'HTTP 503', { status: 503, isRetryable: true })) } });
    await assert.rejects(down.verifyGroups!([{ task, completions: ['2', long] }]), (e: Error) => /judge served: sampling 2 judgements failed: http:\/\/judge\/v1\/completions: HTTP 503/.test(e.message) && e.cause instanceof ApiCallError);
  });
});

/** The mock policy, which also judges: judge prompts (the default rubric) get scripted judgements, task prompts the mock's answers. */
class JudgingBackend extends MockBackend {
  readonly judgeCalls: { prompts: string[]; options: SampleOptions; weights: string }[] = [];
  constructor(answer: Answerer, private readonly judgement: (a: number, b: number, response: string, index: number) => string) {
    super(answer);
  }

  override async sample(prompts: readonly (string | readonly number[])[], options: SampleOptions = {}): Promise<Completion[][]> {
    const texts = prompts.map((p) => (typeof p === 'string' ? p : tokenizer.decode(p)));
    if (!texts.some((t) => t.includes('\nResponse: '))) return super.sample(prompts, options);
    this.judgeCalls.push({ prompts: texts, options: structuredClone(options), weights: this.weights });
    return texts.map((prompt) => {
      const [, a, b] = /Task: (\d+)\+(\d+)=/.exec(prompt)!;
      const response = /\nResponse: (.*)\n/.exec(prompt)![1];
      return Array.from({ length: options.n ?? 1 }, (_, index) => {
        const text = this.judgement(Number(a), Number(b), response, index);
        const tokens = tokenizer.encode(text);
        return { text, tokens, logprobs: tokens.map(() => -1), finishReason: 'stop' as const };
      });
    });
  }
}

/** Samples 0 and 1 right, 2 and 3 one too high. */
const halfRight: Answerer = ({ sum, index }) => String(index < 2 ? sum : sum + 1);
/** Tasks with a % 4 = 3 get unparseable judgements; otherwise the judge is right, and its second sample is garbage for wrong answers. */
const scripted = (a: number, b: number, response: string, index: number) => {
  if (a % 4 === 3) return 'I cannot judge this one.';
  if (Number(response) === a + b) return index === 0 ? 'Every column adds up. Score: 9/10' : 'Score: 8';
  return index === 0 ? 'The last digit is wrong. Score: 2/10' : '???';
};

const judgeRecipe = (over: Record<string, unknown> = {}) =>
  validateRecipe({
    name: 'judge-loop',
    seed: 7,
    rounds: 1,
    tasks: { family: 'addition', perRound: 12 },
    warmup: { count: 6, difficulties: [1], steps: 2, batchSize: 4 },
    curriculum: { kind: 'fixed', difficulty: 2 },
    sample: { n: 4, temperature: 0.7, maxTokens: 8, stop: [';'], chunk: 5 },
    accept: { capPerTask: 2 },
    train: { steps: 2, batchSize: 8, includeLabeled: false },
    verifier: { kind: 'judge', policy: 'self', samples: 2, temperature: 0.5, maxTokens: 32 },
    eval: { count: 6 },
    ...over,
  });

async function runWithJudge(recipe: ReturnType<typeof judgeRecipe>) {
  const out = mkdtempSync(join(root, 'run-'));
  const backend = new JudgingBackend(halfRight, scripted);
  const phases: string[] = [];
  const { parts, close } = await openRun(recipe, { out, baseDir: out, backend });
  try {
    const result = await runLoop(parts, { phaseStart: (round, phase) => phases.push(`${round}:${phase}:${backend.judgeCalls.length}`) });
    return { result, backend, phases, out, store: parts.store, samples: parts.store.loadSamples(1, 'sample'), tasks: new Map((parts.store.loadTasks(1, 'train') ?? []).map((t) => [t.id, t])), metrics: parts.store.metrics(1), accepted: parts.store.samplesById(parts.store.acceptedIds(1, 1)) };
  } finally {
    await close();
  }
}

const aOf = (task: Task) => (task.meta as { a: number }).a;

describe('the policy as its own judge, through the recipe', () => {
  test('self-training: one batched judge call scores the round with the sampling weights; errors are counted; acceptance follows the judge; evaluation uses the labels', async () => {
    const { result, backend, phases, out, samples, tasks, metrics, accepted } = await runWithJudge(judgeRecipe());
    const unjudgeable = [...tasks.values()].filter((t) => aOf(t) % 4 === 3).length;
    assert.ok(unjudgeable > 0 && unjudgeable < tasks.size, `some tasks get unparseable judgements: ${unjudgeable} of ${tasks.size}`);
    // 12 tasks × 4 samples: one judge call, in the score phase, with the weights that sampled them (round 0's), reading the reference answers.
    assert.equal(backend.judgeCalls.length, 1);
    assert.ok(phases.includes('1:score:0') && phases.includes('1:refine:1'), phases.join(' '));
    const [call] = backend.judgeCalls;
    assert.equal(call.prompts.length, 48);
    assert.deepEqual([call.options.n, call.options.temperature, call.options.maxTokens], [2, 0.5, 32]);
    assert.equal(call.weights, (JSON.parse(readFileSync(join(out, 'checkpoints', 'round-0', 'weights.json'), 'utf8')) as { weights: string }).weights);
    for (const prompt of call.prompts) assert.match(prompt, /\nTask: (\d+)\+(\d+)=\nReference answer: \d+\nResponse: \d+\n/);
    for (const s of samples) {
      const task = tasks.get(s.taskId)!;
      const v = s.verification!;
      assert.equal(s.verifier?.name, 'judge(embedded)');
      if (aOf(task) % 4 === 3) {
        assert.deepEqual(v, { status: 'error', error: 'judge output unparseable (0 of 2 judge samples parsed; the first:): no score found (expected e.g. "Score: N" with N from 1 to 10); output: "I cannot judge this one."' });
      } else if (s.sampleIndex < 2) {
        assert.deepEqual(v, { status: 'scored', reward: (8 / 9 + 7 / 9) / 2, pass: true, feedback: 'judge: score 8.5 on 1–10. Every column adds up. Score: 9/10' });
      } else {
        assert.deepEqual(v, { status: 'scored', reward: 1 / 9, pass: false, feedback: 'judge: score 2 on 1–10, 1 of 2 judge samples parsed. The last digit is wrong. Score: 2/10' });
      }
    }
    assert.equal(metrics['verify/error_rate'], unjudgeable / tasks.size);
    assert.equal(accepted.length, tasks.size - unjudgeable, 'the right answer of every judged task (its two right samples are the same text: distinct completions only)');
    assert.ok(accepted.every((s) => s.sampleIndex < 2));
    assert.equal(metrics['reward/label_agreement'], 1, 'where it parses, the scripted judge agrees with the labels');
    // Evaluation: greedy sample 0 is right, scored by the addition verifier without a judge call.
    assert.deepEqual(result.rounds.map((r) => r.evaluation.accuracy), [1, 1]);
    assert.equal(backend.judgeCalls.length, 1);
  });

  test('RL: each step judges its groups in one call; unparseable judgements are counted and left out', async () => {
    const recipe = judgeRecipe({ rl: { steps: 2, promptsPerStep: 6, learningRate: 1e-4, kl: { track: false } }, accept: undefined, train: undefined });
    const { backend, samples, metrics } = await runWithJudge(recipe);
    assert.equal(backend.judgeCalls.length, 2);
    assert.ok(backend.judgeCalls.every((c) => c.prompts.length === 24));
    assert.notEqual(backend.judgeCalls[0].weights, backend.judgeCalls[1].weights, 'step 2 is judged by the weights step 1 trained');
    assert.equal(metrics['sampling/verify_errors'], samples.filter((s) => s.verification?.status === 'error').length);
    assert.ok(samples.some((s) => s.verification?.status === 'scored'));
  });

  test('policy: self is the policy the loop samples from: with a remote sampler, the judge samples it, not the training engine', async () => {
    const out = mkdtempSync(join(root, 'run-'));
    const remote = new JudgingBackend(halfRight, scripted);
    // The training engine cannot read judge prompts (the mock throws on them): every judgement must go to the remote sampler.
    const { parts, close } = await openRun(judgeRecipe(), { out, baseDir: out, backend: new MockBackend(halfRight) });
    try {
      parts.sampler = { policy: { name: 'served', version: 'x', sample: (prompts, options) => remote.sample(prompts, options) } };
      await runLoop(parts);
      assert.equal(remote.judgeCalls.length, 1);
      assert.ok(parts.store.loadSamples(1, 'sample').every((s) => s.verifier?.name === 'judge(served)'));
    } finally {
      await close();
    }
  });

  test('recipe checks name the field and the fix', () => {
    const refused = (verifier: Record<string, unknown>, field: string, message: RegExp) =>
      assert.throws(() => judgeRecipe({ verifier: { kind: 'judge', ...verifier } }), (e: Error) => e instanceof InvalidConfigError && e.field === field && message.test(e.message), JSON.stringify(verifier));
    refused({ samples: 3 }, 'verifier.temperature', /is 0, so the 3 judge samples would be identical; set verifier.temperature > 0 or verifier.samples: 1/);
    refused({ rubric: 'Rate {prompt}' }, 'verifier.rubric', /has no \{completion\}/);
    refused({ rubric: '{prompt}{completion}{answer}' }, 'verifier.rubric', /unknown placeholder \{answer\}/);
    refused({ scale: { min: 10, max: 1 } }, 'verifier.scale', /max must be above min/);
    refused({ scale: 'stars' }, 'verifier.scale', /.+/);
    refused({ policy: 'teacher' }, 'verifier.policy', /.+/);
    refused({ pick: 'middle' }, 'verifier.pick', /expected one of: last, first/);
    assert.deepEqual(judgeRecipe({ verifier: { kind: 'judge' } }).verifier, { kind: 'judge', policy: 'self', scale: { min: 1, max: 10 }, samples: 1, temperature: 0, maxTokens: 256, stop: [], threshold: 0.5, pick: 'last', reference: true });
  });
});

test('recipes/self-judge.yaml validates: the policy judges itself, reference-free, YES/NO', async () => {
  const { loadRecipe } = await import('../../src/recipe/load.js');
  const recipe = loadRecipe(join(import.meta.dirname, '../../../recipes/self-judge.yaml'));
  assert.deepEqual([recipe.verifier.kind, recipe.verifier.kind === 'judge' && [recipe.verifier.policy, recipe.verifier.scale, recipe.verifier.reference]], ['judge', ['self', 'yes-no', false]]);
});

describe('a real toy model is no judge', () => {
  test('a random checkpoint as the judge (policy: { checkpoint }) loads, and its judgements come back as explicit errors; a prompt past its context is an error for that completion alone', { timeout: 60_000 }, async () => {
    const recipe = judgeRecipe({ verifier: { kind: 'judge', policy: { checkpoint: 'test/fixtures/hf-tiny/checkpoint' }, rubric: '{prompt}{completion}|', maxTokens: 8 } });
    const { make, close } = await rewardVerifier(recipe, { baseDir: join(import.meta.dirname, '../../..') });
    try {
      const verifier = make?.({ name: 'unused', sample: async () => assert.fail('the policy being trained is not the judge here') });
      assert.equal(verifier!.name, 'judge(embedded(test/fixtures/hf-tiny/checkpoint))');
      // The third completion makes a judge prompt longer than the checkpoint's 32-token context: that item alone is an error.
      const verdicts = await verifier!.verifyGroups!([{ task: { id: 'x', prompt: '2+3=', family: 'addition', answer: '5' }, completions: ['5', '6', '7'.repeat(40)] }]);
      for (const v of verdicts[0].slice(0, 2)) assert.match(v.status === 'error' ? v.error : JSON.stringify(v), /^judge output unparseable: no score found/);
      const refused = verdicts[0][2];
      assert.match(refused.status === 'error' ? refused.error : JSON.stringify(refused), /^judge embedded\(test\/fixtures\/hf-tiny\/checkpoint\) cannot judge this completion: Invalid argument `prompts\[0\]`: has \d+ tokens; maxSeqLen is 32/);
    } finally {
      await close();
    }
  });
});
