/** Absolute Zero's executor: proposal validation with reasons, solution checks per task type, the learnability reward. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSandbox } from '../../src/sandbox/sandbox.js';
import type { Sandbox } from '../../src/sandbox/run-types.js';
import { checkSolution, learnabilityReward, validateProposal } from '../../src/selfplay/executor.js';

let sandbox: Sandbox;
before(async () => {
  sandbox = await createSandbox({ timeoutMs: 150, memoryMb: 32 });
});
after(() => sandbox.close());

describe('Absolute Zero executor', () => {
  test('a valid proposal gets its output from the executor', async () => {
    assert.deepEqual(await validateProposal(sandbox, { program: 'function f(x) { return x.split("").reverse().join("") }', input: 'abc' }), { valid: true, output: 'cba' });
    assert.deepEqual(await validateProposal(sandbox, { program: 'const f = (x) => ({ n: x * 2, s: [x] })', input: 3 }), { valid: true, output: { n: 6, s: [3] } });
  });

  test('invalid proposals are rejected with a reason', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['function g(x) { return x }', 1, /must define a function f/],
      ['function f(x) { while (true) {} }', 1, /does not terminate: timed out after 150 ms/],
      ['function f(x) { return x.y.z }', 1, /fails: TypeError/],
      ['function f(x) { return [ }', 1, /fails: SyntaxError/],
      ['function f(x) { }', 1, /returns nothing/],
      ['function f(x) { return 1n }', 1, /the output is not a JSON value/],
    ];
    for (const [program, input, reason] of cases) {
      const v = await validateProposal(sandbox, { program, input });
      assert.ok(!v.valid && reason.test(v.reason), `${program} → ${JSON.stringify(v)}`);
    }
  });

  test('solutions are checked by execution for each task type', async () => {
    const program = 'function f(x) { return x % 7 }';
    assert.equal((await checkSolution(sandbox, 'deduction', { program, input: 10, output: 3 }, 3)).pass, true);
    assert.deepEqual(await checkSolution(sandbox, 'deduction', { program, input: 10, output: 3 }, 4), { pass: false, feedback: 'expected 3, got 4' });
    // Abduction: any input that gives the output counts, not only the proposer's.
    assert.equal((await checkSolution(sandbox, 'abduction', { program, input: 10, output: 3 }, 17)).pass, true);
    assert.deepEqual(await checkSolution(sandbox, 'abduction', { program, input: 10, output: 3 }, 11), { pass: false, feedback: 'f(11) = 4, not 3' });
    const examples = [{ input: 2, output: 4 }, { input: -3, output: 9 }];
    assert.equal((await checkSolution(sandbox, 'induction', { program: 'function f(x) { return x * x }', examples }, 'function f(x) { return x ** 2 }')).pass, true);
    assert.deepEqual(await checkSolution(sandbox, 'induction', { program: '', examples }, 'function f(x) { return 2 * x }'), { pass: false, feedback: 'f(-3) = -6, expected 9' });
    assert.equal((await checkSolution(sandbox, 'induction', { program: '', examples }, 'function f(x) { for (;;); }')).pass, false);
  });

  test('learnability: 1 − solve rate strictly between 0 and 1, else 0', () => {
    const cases: [number, number][] = [[0, 0], [1, 0], [0.25, 0.75], [0.5, 0.5], [0.875, 0.125]];
    for (const [rate, reward] of cases) assert.equal(learnabilityReward(rate), reward, `rate ${rate}`);
    assert.throws(() => learnabilityReward(1.5), /solve rate must be in \[0, 1\]/);
  });
});
