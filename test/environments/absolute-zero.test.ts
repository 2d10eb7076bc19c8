/**
 * Absolute Zero's propose and solve environments: episodes run through the
 * rollout with a scripted policy over the `expr` format's executor. A valid
 * proposal's reward is pending (null) until it is settled; invalid and
 * unparsable ones carry their reward; answers are checked by execution; the
 * trajectories' tokens are the observation's encoding and the completion's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import type { Sandbox } from '../../src/sandbox/run-types.js';
import type { Completion, Policy, SamplingOptions } from '../../src/spec/policy.js';
import { Executor } from '../../src/selfplay/executor.js';
import { exprFormat } from '../../src/selfplay/formats.js';
import { rollout } from '../../src/rollout/rollout.js';
import { trajectoryDatum } from '../../src/rollout/datums.js';
import { PENDING_FEEDBACK, proposalTask, proposeEnvironment, settleProposal, solveEnvironment, solveTask } from '../../src/environments/absolute-zero.js';
import { InvalidArgumentError } from '../../src/errors.js';

let sandbox: Sandbox;
before(async () => {
  sandbox = await createSandbox({ timeoutMs: 150, memoryMb: 32 });
});
after(() => sandbox.close());

const rewards = { formatError: -1, invalid: -1, unlearnable: -0.5, wrong: -0.5 };
const tokenizer = new ByteTokenizer();

/** A policy answering each prompt with `answers[prompt]` (recording the calls). */
function scripted(answers: Record<string, string>): Policy & { calls: { prompts: readonly string[]; options: SamplingOptions }[] } {
  const calls: { prompts: readonly string[]; options: SamplingOptions }[] = [];
  const completion = (text: string): Completion => {
    const tokens = [...tokenizer.encode(text), tokenizer.eosId];
    return { text, tokens, logprobs: tokens.map(() => -0.25), behaviourLogprobs: tokens.map(() => -0.5), finishReason: 'stop' };
  };
  return {
    name: 'scripted',
    version: 'v1',
    calls,
    async sample(prompts, options) {
      calls.push({ prompts, options });
      return prompts.map((prompt) => Array.from({ length: options.n }, () => completion(answers[prompt] ?? '?')));
    },
  };
}

const options = (temperature: number, n = 1) => ({ sampling: { n, temperature, maxTokens: 16, seed: 5 }, tokenizer, provenance: { round: 1, step: 0, role: 'propose' }, policyVersion: 'v1' });

describe('the propose environment', () => {
  test('valid proposals are pending until settled; invalid and unparsable ones carry their reward; tokens are the observation and the completion', async () => {
    const format = exprFormat();
    const executor = new Executor(sandbox, format);
    const environment = proposeEnvironment(executor, rewards);
    const tasks = [
      proposalTask({ type: 'deduction' }, 'pd x:1 >', 0),
      proposalTask({ type: 'abduction' }, 'pa x:1 >', 1),
      proposalTask({ type: 'abduction', input: 4 }, 'pa x:2 >', 2),
      proposalTask({ type: 'induction', program: 'x+1' }, 'pi x+1 >', 3),
      proposalTask({ type: 'deduction' }, 'pd x:3 >', 4),
    ];
    const policy = scripted({ 'pd x:1 >': 'x+2:3', 'pa x:1 >': 'x+*x:3', 'pa x:2 >': 'x*2', 'pi x+1 >': '1,2,3,4,5,6', 'pd x:3 >': 'x+2' });
    const trajectories = (await rollout(policy, environment, tasks, options(0.7))).map((group) => group[0]);
    assert.equal(policy.calls.length, 1, 'one batched call for every slot');
    assert.deepEqual(policy.calls[0].options.temperature, 0.7, 'the proposer samples at its own temperature');

    const [deduction, broken, drawnInput, induction, noInput] = trajectories;
    assert.equal(deduction.reward, null, 'valid: the learnability reward needs the solver first');
    assert.equal(deduction.turns[0].feedback, PENDING_FEEDBACK);
    assert.deepEqual(environment.validated(tasks[0]), { program: 'x+2', input: 3, output: 5 });
    assert.equal(broken.reward, -1);
    assert.match(broken.turns[0].feedback, /^invalid: fails: SyntaxError/);
    assert.equal(environment.validated(tasks[1]), undefined);
    assert.deepEqual(environment.validated(tasks[2]), { program: 'x*2', input: 4, output: 8 }, 'a slot with a drawn input takes a program alone');
    assert.deepEqual(environment.validated(tasks[3]), { program: 'x+1', shown: [1, 2, 3].map((x) => ({ input: x, output: x + 1 })), hidden: [4, 5, 6].map((x) => ({ input: x, output: (x + 1) % 10 })), message: '' });
    assert.equal(noInput.reward, -1, 'a deduction proposal without its input is a format error');
    assert.match(noInput.turns[0].feedback, /^format error: a proposal is program:input/);
    assert.ok(environment.executeMs >= 0);

    // The learner's data are the trajectory's tokens: the prompt's encoding (BOS first), then the completion.
    const data = trajectoryDatum(deduction);
    assert.deepEqual([...Array.from(data.datum.inputTokens), Array.from(data.datum.targetTokens).at(-1)], [...tokenizer.encode('pd x:1 >', { addBos: true }), ...tokenizer.encode('x+2:3'), tokenizer.eosId]);
    assert.deepEqual(data.behaviourLogprobs, deduction.turns[0].actionTokens.map(() => -0.5));
    assert.deepEqual(data.logprobs, deduction.turns[0].actionTokens.map(() => -0.25));

    const settled = settleProposal(deduction, 0.5, true, 'valid; solve rate 0.500');
    assert.deepEqual([settled.reward, settled.pass, settled.turns[0].reward, settled.turns[0].feedback], [0.5, true, 0.5, 'valid; solve rate 0.500']);
    assert.equal(deduction.reward, null, 'settling copies the trajectory');
    assert.equal(induction.pass, false);
    assert.equal(drawnInput.reward, null);
  });

  test('an episode steps once, and a task that is not a slot is refused', async () => {
    const environment = proposeEnvironment(new Executor(sandbox, exprFormat()), rewards);
    const episode = await environment.reset(proposalTask({ type: 'deduction' }, 'pd x:1 >', 0));
    await episode.step('x:1');
    await assert.rejects(episode.step('x:2'), InvalidArgumentError);
    await assert.rejects(environment.reset({ id: 't', family: 'addition', prompt: '1+1=' }), /task\.meta\.slot/);
  });
});

describe('the solve environment', () => {
  test('answers of each type are checked by execution, n episodes per question', async () => {
    const format = exprFormat();
    const executor = new Executor(sandbox, format);
    const environment = solveEnvironment(executor, rewards);
    const tasks = [
      solveTask(executor, 'deduction', { program: 'x+2', input: 3, output: 5 }, 0),
      solveTask(executor, 'abduction', { program: 'x*2', input: 4, output: 8 }, 1),
      solveTask(executor, 'induction', { program: 'x+1', shown: [{ input: 1, output: 2 }], hidden: [{ input: 5, output: 6 }], message: '' }, 2),
    ];
    assert.deepEqual(tasks.map((t) => t.prompt), ['sd x+2:3 =', 'sa x*2 8 =', 'si 1:2 =']);
    const policy = scripted({ 'sd x+2:3 =': '5', 'sa x*2 8 =': '3', 'si 1:2 =': 'y' });
    const groups = await rollout(policy, environment, tasks, options(1, 2));
    assert.deepEqual(groups.map((g) => g.map((t) => [t.reward, t.pass])), [
      [[1, true], [1, true]],
      [[-0.5, false], [-0.5, false]],
      [[-1, false], [-1, false]],
    ]);
    assert.equal(groups[1][0].turns[0].feedback, 'f(3) = 6, not 8');
    assert.match(groups[2][0].turns[0].feedback, /^format error/);
    await assert.rejects(environment.reset({ id: 't', family: 'addition', prompt: '1+1=' }), /task\.meta/);
  });
});
