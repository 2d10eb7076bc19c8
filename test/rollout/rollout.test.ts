/**
 * The rollout engine on scripted multi-turn environments and policies:
 * batching across live episodes, the exact tokens each turn continues, token
 * masks of the learner datum, and behaviour logprobs at T ≠ 1 against a
 * recomputation by the engine.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Environment } from '../../src/spec/environment.js';
import type { Completion, Policy, SamplingOptions } from '../../src/spec/policy.js';
import type { Task } from '../../src/spec/task.js';
import type { Verifier } from '../../src/spec/verifier.js';
import { rollout, turnSeed } from '../../src/rollout/rollout.js';
import { trajectoryDatum, trainsSuffix } from '../../src/rollout/datums.js';
import { singleTurnEnvironment, unscoredEnvironment } from '../../src/environments/single-turn.js';
import { matchVerifier } from '../../src/verifiers/match.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { EngineCore } from '../../src/engine/engine.js';
import { InvalidArgumentError, PolicyCapabilityError } from '../../src/errors.js';
import { assertClose } from '../helpers.js';

const tokenizer = new ByteTokenizer();
const tasks: Task[] = [0, 1, 2].map((i) => ({ id: `t${i}`, family: 'guess', prompt: `guess ${i}:`, answer: String(i + 5) }));

/** Guess the task's number in up to three tries; says "higher" or "lower" after a wrong guess. */
const guessing: Environment = {
  name: 'guess',
  version: '1',
  maxTurns: 3,
  async reset(task) {
    let tries = 0;
    return {
      observation: task.prompt,
      async step(action) {
        tries++;
        const guess = Number(action.trim());
        const right = guess === Number(task.answer);
        const done = right || tries === 3;
        return { observation: done ? '' : guess < Number(task.answer) ? ' higher:' : ' lower:', reward: right ? 1 : 0, done, feedback: right ? 'right' : 'wrong', pass: right };
      },
    };
  },
};

/** Answers from a script keyed by how many turns the context holds; records every call. */
function scriptedPolicy(options: { tokens: boolean; answer: (context: string, index: number) => string }) {
  const calls: { prompts: string[]; options: SamplingOptions; asTokens: boolean }[] = [];
  const complete = (context: string, n: number): Completion[] =>
    Array.from({ length: n }, (_, index) => {
      const text = options.answer(context, index);
      const ids = tokenizer.encode(text);
      return { text, tokens: ids, logprobs: ids.map(() => -0.5), behaviourLogprobs: ids.map(() => -0.25), finishReason: 'stop' };
    });
  const policy: Policy = {
    name: 'scripted',
    version: 'v1',
    async sample(prompts, sampling) {
      calls.push({ prompts: [...prompts], options: sampling, asTokens: false });
      return prompts.map((p) => complete(p, sampling.n));
    },
    ...(options.tokens
      ? {
          async sampleTokens(prompts: readonly (readonly number[])[], sampling: SamplingOptions) {
            const texts = prompts.map((ids) => {
              assert.equal(ids[0], tokenizer.bosId, 'token prompts start with BOS');
              return tokenizer.decode(ids.slice(1));
            });
            calls.push({ prompts: texts, options: sampling, asTokens: true });
            return texts.map((p) => complete(p, sampling.n));
          },
        }
      : {}),
  };
  return { policy, calls };
}

/** Guesses 5 on the first try; then 6, then 7 (so task 0 ends at once, task 1 on the second turn, task 2 on the third). */
const climb = (context: string) => String(5 + (context.match(/higher:/g) ?? []).length);
const sampling: SamplingOptions = { n: 2, temperature: 1, maxTokens: 4, seed: 3 };
const provenance = { round: 1, step: 0 };

describe('rollout: many episodes at once', () => {
  test('each turn is one sampling call over the live episodes; turn 0 asks n samples per task', async () => {
    const { policy, calls } = scriptedPolicy({ tokens: true, answer: climb });
    const trajectories = await rollout(policy, guessing, tasks, { sampling, tokenizer, provenance, policyVersion: 'v1' });
    assert.deepEqual(calls.map((c) => [c.prompts.length, c.options.n, c.options.seed, c.asTokens]), [
      [3, 2, turnSeed(3, 0), true],
      [4, 1, turnSeed(3, 1), true],
      [2, 1, turnSeed(3, 2), true],
    ]);
    assert.equal(turnSeed(3, 0), 3, 'turn 0 samples with the call seed itself');
    assert.notEqual(turnSeed(3, 1), turnSeed(3, 2));
    assert.deepEqual(calls[1].prompts, ['guess 1:5 higher:', 'guess 1:5 higher:', 'guess 2:5 higher:', 'guess 2:5 higher:']);
    assert.deepEqual(trajectories.map((group) => group.map((t) => t.turns.length)), [[1, 1], [2, 2], [3, 3]]);
    const last = trajectories[2][1];
    assert.deepEqual(last.turns.map((t) => t.action), ['5', '6', '7']);
    assert.deepEqual(last.turns.map((t) => t.reward), [0, 0, 1]);
    assert.deepEqual([last.reward, last.pass, last.policyVersion], [1, true, 'v1']);
    assert.deepEqual(last.provenance, { kind: 'sample', round: 1, step: 0, sampleIndex: 1, environment: { name: 'guess', version: '1' } });
    assert.deepEqual(last.turns[0].observationTokens, tokenizer.encode('guess 2:', { addBos: true }));
    assert.deepEqual(last.turns[1].observationTokens, tokenizer.encode(' higher:'));
  });

  test('a policy without token input gets the decoded context', async () => {
    const { policy, calls } = scriptedPolicy({ tokens: false, answer: climb });
    await rollout(policy, guessing, tasks.slice(1, 2), { sampling: { ...sampling, n: 1 }, tokenizer, provenance, policyVersion: 'v1' });
    assert.deepEqual(calls.map((c) => [c.asTokens, c.prompts]), [[false, ['guess 1:']], [false, ['guess 1:5 higher:']]]);
  });

  test('a single-turn environment: one call, the trajectories of policy.sample', async () => {
    const { policy, calls } = scriptedPolicy({ tokens: false, answer: (_, index) => (index === 0 ? '5' : '4') });
    const environment = singleTurnEnvironment(matchVerifier());
    const [group] = await rollout(policy, environment, tasks.slice(0, 1), { sampling, tokenizer, provenance, policyVersion: 'v1' });
    assert.equal(calls.length, 1);
    assert.deepEqual(group.map((t) => [t.turns.length, t.reward, t.pass, t.turns[0].verification?.status]), [[1, 1, true, 'scored'], [1, 0, false, 'scored']]);
  });
  test('steps taken together are scored together: a group verifier sees each task’s episodes as one group, in one call', async () => {
    const { policy } = scriptedPolicy({ tokens: false, answer: (_, index) => String(5 + (index % 2)) });
    const calls: { task: string; completions: string[] }[][] = [];
    const groupVerifier: Verifier = {
      name: 'grouped',
      version: '1',
      verify: () => assert.fail('verify is not called when verifyGroups exists'),
      async verifyGroups(groups) {
        calls.push(groups.map((g) => ({ task: g.task.id, completions: [...g.completions] })));
        return groups.map((g) => g.completions.map((c) => ({ status: 'scored' as const, reward: c === '5' ? 1 : 0, pass: c === '5', feedback: '' })));
      },
    };
    const groups = await rollout(policy, singleTurnEnvironment(groupVerifier), tasks, { sampling: { ...sampling, n: 3 }, tokenizer, provenance, policyVersion: 'v1' });
    assert.deepEqual(calls, [tasks.map((t) => ({ task: t.id, completions: ['5', '6', '5'] }))]);
    assert.deepEqual(groups.map((g) => g.map((t) => t.reward)), tasks.map(() => [1, 0, 1]));
  });
});

describe('learner data from trajectory tokens', () => {
  test('the datum is every turn’s observation and action tokens; weights mark the trained actions only', async () => {
    const { policy } = scriptedPolicy({ tokens: true, answer: climb });
    const [, , [trajectory]] = await rollout(policy, guessing, tasks, { sampling, tokenizer, provenance, policyVersion: 'v1' });
    const all = trajectoryDatum(trajectory);
    const sequence = trajectory.turns.flatMap((t) => [...t.observationTokens, ...t.actionTokens]);
    assert.deepEqual([...Array.from(all.datum.inputTokens), sequence.at(-1)], sequence);
    assert.deepEqual(all.datum.targetTokens, sequence.slice(1));
    const trainedTargets = Array.from(all.datum.targetTokens).filter((_, k) => all.datum.weights![k] === 1);
    assert.deepEqual(trainedTargets, trajectory.turns.flatMap((t) => t.actionTokens));
    assert.equal(all.behaviourLogprobs.length, trainedTargets.length);
    assert.equal(trainsSuffix(all), false);
    const lastOnly = trajectoryDatum(trajectory, [2]);
    assert.equal(trainsSuffix(lastOnly), true);
    assert.deepEqual(lastOnly.spans, [{ turn: 2, start: sequence.length - 1 - trajectory.turns[2].actionTokens.length, length: trajectory.turns[2].actionTokens.length }]);
    assert.throws(() => trajectoryDatum(trajectory, [3]), /names turn 3, but the trajectory of task "t2" has 3/);
  });

  test('behaviour logprobs at T = 0.7 equal the engine’s tempered recomputation over the datum’s trained tokens', async () => {
    const engine = new EngineCore({ kernels: 'ts', model: { dModel: 32, nLayers: 2, nHeads: 4, maxSeqLen: 64, seed: 5, initStd: 0.2 } });
    const policy: Policy = {
      name: 'embedded',
      version: 'init',
      sample: async (prompts, options) => engine.sample(prompts, options),
      sampleTokens: async (prompts, options) => engine.sample(prompts, options),
    };
    const twoTurns: Environment = { ...guessing, maxTurns: 2 };
    const temperature = 0.7;
    const groups = await rollout(policy, twoTurns, tasks, { sampling: { n: 2, temperature, maxTokens: 5, seed: 1 }, tokenizer, provenance, policyVersion: 'init' });
    let checked = 0;
    for (const trajectory of groups.flat()) {
      const data = trajectoryDatum(trajectory);
      const { logprobs } = engine.forward([data.datum], { temperature });
      const recomputed = data.spans.flatMap((span) => Array.from(logprobs[0].subarray(span.start, span.start + span.length)));
      assertClose(`task ${trajectory.task.id} behaviour logprobs`, data.behaviourLogprobs, recomputed, 1e-4, 1e-4);
      const atOne = engine.forward([data.datum]).logprobs[0];
      assertClose(`task ${trajectory.task.id} temperature-1 logprobs`, data.logprobs, data.spans.flatMap((span) => Array.from(atOne.subarray(span.start, span.start + span.length))), 1e-4, 1e-4);
      checked += data.spans.length;
    }
    assert.ok(checked > tasks.length * 2, `some episodes ran a second turn (${checked} turns checked)`);
  });
});

describe('what a rollout refuses', () => {
  test('completions without token ids, and tempered samples without behaviour logprobs', async () => {
    const bare: Policy = { name: 'server', version: 'x', sample: async (prompts, o) => prompts.map(() => Array.from({ length: o.n }, () => ({ text: '5', tokens: [], logprobs: [], finishReason: 'stop' as const }))) };
    await assert.rejects(rollout(bare, guessing, tasks, { sampling, tokenizer, provenance, policyVersion: 'x' }), (error: unknown) => error instanceof PolicyCapabilityError && /without token ids and their logprobs/.test(error.message));
    const noBehaviour: Policy = { name: 'server', version: 'x', sample: async (prompts, o) => prompts.map(() => Array.from({ length: o.n }, () => ({ text: '5', tokens: [53], logprobs: [-1], finishReason: 'stop' as const }))) };
    await rollout(noBehaviour, guessing, tasks, { sampling, tokenizer, provenance, policyVersion: 'x' }); // temperature 1, top-p 1: the logprobs are the behaviour's
    await assert.rejects(rollout(noBehaviour, guessing, tasks, { sampling: { ...sampling, temperature: 0.5 }, tokenizer, provenance, policyVersion: 'x' }), (error: unknown) => error instanceof PolicyCapabilityError && /temperature 0.5, top-p 1/.test(error.message));
  });

  test("needs: 'text' takes a text-only policy's completions (a server without ids or logprobs); the default refuses them", async () => {
    const prompts: string[] = [];
    const textOnly: Policy = {
      name: 'server',
      version: 'x',
      async sample(batch, o) {
        prompts.push(...batch);
        return batch.map((p) => Array.from({ length: o.n }, () => ({ text: climb(p), tokens: [], logprobs: [], finishReason: 'stop' as const })));
      },
    };
    const tempered = { ...sampling, temperature: 0.7 };
    await assert.rejects(rollout(textOnly, singleTurnEnvironment(matchVerifier()), tasks, { sampling: tempered, tokenizer, provenance, policyVersion: 'x' }), (error: unknown) => error instanceof PolicyCapabilityError && /server: returned a completion without token ids and their logprobs/.test(error.message) && /sampler\.tokenIds: true/.test(error.message));
    const groups = await rollout(textOnly, singleTurnEnvironment(matchVerifier()), tasks, { sampling: tempered, tokenizer, provenance, policyVersion: 'x', needs: 'text' });
    assert.deepEqual(groups.map((g) => g.map((t) => [t.turns[0].action, t.reward, t.pass, t.turns[0].actionTokens.length, t.turns[0].logprobs.length])), [[['5', 1, true, 0, 0], ['5', 1, true, 0, 0]], [['5', 0, false, 0, 0], ['5', 0, false, 0, 0]], [['5', 0, false, 0, 0], ['5', 0, false, 0, 0]]]);
    // Multi-turn: later turns read the episode's transcript (its actions have no ids to decode).
    prompts.length = 0;
    const [, , [third]] = await rollout(textOnly, guessing, tasks, { sampling: { ...tempered, n: 1 }, tokenizer, provenance, policyVersion: 'x', needs: 'text' });
    assert.deepEqual(prompts, ['guess 0:', 'guess 1:', 'guess 2:', 'guess 1:5 higher:', 'guess 2:5 higher:', 'guess 2:5 higher:6 higher:']);
    assert.deepEqual([third.turns.map((t) => t.action), third.pass], [['5', '6', '7'], true]);
  });

  test('behaviour logprobs a policy did not report are never stood in for: known at temperature 1 (the logprobs) and greedy (zeros), absent otherwise, and then no datum is built', async () => {
    const lp = [-0.5, -1.25];
    const unreported: Policy = { name: 'no-behaviour', version: 'x', sample: async (batch, o) => batch.map(() => Array.from({ length: o.n }, () => ({ text: '5', tokens: [53, 10], logprobs: lp, finishReason: 'stop' as const }))) };
    const one = tasks.slice(0, 1);
    const turnAt = async (temperature: number) => (await rollout(unreported, singleTurnEnvironment(matchVerifier()), one, { sampling: { ...sampling, n: 1, temperature }, tokenizer, provenance, policyVersion: 'x', needs: 'text' }))[0][0];
    assert.deepEqual((await turnAt(1)).turns[0].behaviourLogprobs, lp);
    assert.deepEqual((await turnAt(0)).turns[0].behaviourLogprobs, [0, 0]);
    const tempered = await turnAt(0.7);
    assert.equal(tempered.turns[0].behaviourLogprobs, undefined);
    assert.throws(() => trajectoryDatum(tempered), (error: unknown) => error instanceof InvalidArgumentError && /has no behaviour logprobs at turn 0 \(a text-only rollout at a temperature ≠ 1\)/.test((error as Error).message));
    assert.deepEqual(trajectoryDatum(await turnAt(1)).behaviourLogprobs, lp);
  });
});

describe('single-turn environments', () => {
  test('the observation may be built from the task (a hint prompt); an unscored environment takes the action and gives no reward or verdict', async () => {
    const { policy, calls } = scriptedPolicy({ tokens: false, answer: () => '5' });
    const hinted = { observation: (task: Task) => `${task.answer}|${task.prompt}` };
    const [[scored]] = await rollout(policy, singleTurnEnvironment(matchVerifier(), hinted), tasks.slice(0, 1), { sampling: { ...sampling, n: 1 }, tokenizer, provenance, policyVersion: 'v1' });
    assert.deepEqual([calls[0].prompts, scored.turns[0].observation, scored.reward, scored.turns[0].verification?.status], [['5|guess 0:'], '5|guess 0:', 1, 'scored']);
    const [[unscored]] = await rollout(policy, unscoredEnvironment(hinted), tasks.slice(0, 1), { sampling: { ...sampling, n: 1 }, tokenizer, provenance, policyVersion: 'v1' });
    assert.deepEqual([unscored.turns[0].observation, unscored.turns[0].action, unscored.reward, unscored.pass, unscored.turns[0].verification], ['5|guess 0:', '5', null, false, undefined]);
    const episode = await unscoredEnvironment().reset(tasks[0]);
    await episode.step('5');
    await assert.rejects(episode.step('6'), /the single-turn episode of task "t0" has ended; start another with reset\(\)/);
  });
});
