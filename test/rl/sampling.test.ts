/** Adaptive sampling: fixed groups, DAPO's dynamic sampling and Reinforce-Ada, with a scripted draw. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { balancedGroup, collectGroups, type Draw, type ScoredCompletion } from '../../src/learn/algorithms/collection.js';
import type { Task } from '../../src/spec/task.js';

const task = (id: string): Task => ({ id, family: 'test', prompt: `${id}=` });
const completion = (t: Task, pass: boolean, i: number): ScoredCompletion => ({
  task: t,
  trajectory: { task: t, turns: [], reward: pass ? 1 : 0, pass, policyVersion: 'v', sampling: { n: 1, temperature: 1, maxTokens: 1, seed: 0 }, provenance: { round: 1, kind: 'sample', sampleIndex: i, environment: { name: 'e', version: '1' } } },
  reward: pass ? 1 : 0,
  pass,
});

/** A draw where task `id` passes with the pattern `patterns[id]` (cycled over its completions); records its calls. */
function scripted(patterns: Record<string, boolean[]>) {
  const calls: { tasks: string[]; n: number; call: number }[] = [];
  const seen = new Map<string, number>();
  const draw: Draw = async (tasks, n, call) => {
    calls.push({ tasks: tasks.map((t) => t.id), n, call });
    return tasks.map((t) =>
      Array.from({ length: n }, () => {
        const k = seen.get(t.id) ?? 0;
        seen.set(t.id, k + 1);
        const pattern = patterns[t.id];
        return completion(t, pattern[k % pattern.length], k);
      }),
    );
  };
  return { draw, calls };
}

/** Hands out tasks t0, t1, … in order. */
function counter() {
  let i = 0;
  return (count: number) => Array.from({ length: count }, () => task(`t${i++}`));
}

describe('collecting groups', () => {
  test('fixed: one call, n per prompt', async () => {
    const { draw, calls } = scripted({ t0: [true, false], t1: [false] });
    const c = await collectGroups({ kind: 'fixed' }, { prompts: 2, n: 4 }, counter(), draw);
    assert.deepEqual(calls, [{ tasks: ['t0', 't1'], n: 4, call: 0 }]);
    assert.equal(c.groups.length, 2);
    assert.equal(c.sampled, 8);
    assert.equal(c.zeroVariancePrompts, 1);
    assert.deepEqual(c.groups.map((g) => g.passRate), [0.5, 0]);
  });

  test('dapo: drops all-same-reward groups and samples more prompts until the step is full', async () => {
    const { draw, calls } = scripted({ t0: [true], t1: [true, false], t2: [false], t3: [false], t4: [false, true], t5: [true, false] });
    const c = await collectGroups({ kind: 'dapo', maxBatches: 5 }, { prompts: 2, n: 2 }, counter(), draw);
    assert.deepEqual(c.groups.map((g) => g.task.id), ['t1', 't4']);
    assert.deepEqual(calls.map((x) => x.tasks), [['t0', 't1'], ['t2', 't3'], ['t4', 't5']]);
    assert.equal(c.zeroVariancePrompts, 3);
    assert.equal(c.sampled, 12);
    assert.equal(c.calls, 3);
  });

  test('dapo: stops at maxBatches with the groups it has', async () => {
    const { draw } = scripted({ t0: [true], t1: [false], t2: [true, false], t3: [false] });
    const c = await collectGroups({ kind: 'dapo', maxBatches: 2 }, { prompts: 2, n: 2 }, counter(), draw);
    assert.deepEqual(c.groups.map((g) => g.task.id), ['t2']);
    assert.equal(c.calls, 2);
  });

  test('reinforce-ada (balance): prompts are resampled in rounds until they have ⌊n/2⌋ passes and n − ⌊n/2⌋ fails', async () => {
    // t0 passes 1 in 4: after round 1 (4 samples) one pass, one short → round 2. t1 always fails: all rounds. t2 alternates: done after round 1.
    const { draw, calls } = scripted({ t0: [false, false, false, true], t1: [false], t2: [true, false] });
    const c = await collectGroups({ kind: 'reinforce-ada', exit: 'balance', perRound: 4, maxRounds: 3 }, { prompts: 3, n: 4 }, counter(), draw);
    assert.deepEqual(calls.map((x) => x.tasks), [['t0', 't1', 't2'], ['t0', 't1'], ['t1']]);
    const [g0, g1, g2] = c.groups;
    assert.deepEqual(g0.members.map((m) => m.pass), [true, true, false, false]); // first-collected passes, then fails
    assert.equal(g0.statistics!.count, 8);
    assert.equal(g0.statistics!.mean, 2 / 8); // baseline over everything sampled, not the balanced group
    assert.equal(g0.passRate, 0.25);
    assert.deepEqual(g1.members.map((m) => m.pass), [false, false, false, false]);
    assert.equal(g1.statistics!.count, 12);
    assert.equal(g2.statistics!.count, 4);
    assert.equal(c.sampled, 24);
    assert.equal(c.zeroVariancePrompts, 1);
  });

  test('reinforce-ada (positive): a prompt stops at its first pass', async () => {
    const { draw, calls } = scripted({ t0: [false, false, false, false, true], t1: [true] });
    await collectGroups({ kind: 'reinforce-ada', exit: 'positive', perRound: 4, maxRounds: 4 }, { prompts: 2, n: 4 }, counter(), draw);
    assert.deepEqual(calls.map((x) => x.tasks), [['t0', 't1'], ['t0']]);
  });

  test('reinforce-ada (mixed): a prompt stops once it has a pass and a fail', async () => {
    // t0 has a pass and fails after round 1; t1 passes 8 times before its first fail (round 3).
    const { draw, calls } = scripted({ t0: [false, false, false, true], t1: [true, true, true, true, true, true, true, true, false] });
    await collectGroups({ kind: 'reinforce-ada', exit: 'mixed', perRound: 4, maxRounds: 4 }, { prompts: 2, n: 4 }, counter(), draw);
    assert.deepEqual(calls.map((x) => x.tasks), [['t0', 't1'], ['t1'], ['t1']]);
  });

  test('balanced groups: half passes, fails to fill, passes to top up', () => {
    const t = task('x');
    const pool = (passes: number, fails: number) => [...Array.from({ length: passes }, (_, i) => completion(t, true, i)), ...Array.from({ length: fails }, (_, i) => completion(t, false, 100 + i))];
    const count = (g: ScoredCompletion[]) => [g.filter((c) => c.pass).length, g.filter((c) => !c.pass).length];
    assert.deepEqual(count(balancedGroup(pool(5, 5), 4)), [2, 2]);
    assert.deepEqual(count(balancedGroup(pool(1, 7), 4)), [1, 3]);
    assert.deepEqual(count(balancedGroup(pool(7, 1), 4)), [3, 1]);
    assert.deepEqual(count(balancedGroup(pool(0, 2), 4)), [0, 2]);
    assert.deepEqual(count(balancedGroup(pool(3, 2), 5)), [3, 2]);
  });
});
