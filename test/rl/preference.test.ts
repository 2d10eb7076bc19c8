/** Preference losses (dpo, ipo, simpo): hand-computed pairs, d(loss)/d(logprob) by finite differences, stability, masking, and the errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../src/engine/random.js';
import { InvalidArgumentError, InvalidConfigError } from '../../src/errors.js';
import { logSigmoid, preferenceLosses, preferenceLossFunction, referenceSequenceLogprobs, sequenceLogprobs, sigmoid, type PreferenceSettings } from '../../src/learn/algorithms/preference.js';
import type { Datum } from '../../src/spec/training-backend.js';

const near = (a: number, b: number, label: string, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${label}: ${a} vs ${b} (diff ${Math.abs(a - b)})`);
const datum = (weights: number[]): Datum => ({ inputTokens: weights.map(() => 1), targetTokens: weights.map(() => 2), weights });
/** Rows in float64: the loss only indexes them, and a finite-difference step of 1e-6 is below float32's resolution. */
const rows = (values: number[][]) => values.map((row) => Float64Array.from(row)) as unknown as Float32Array[];

/**
 * One pair: two prompt tokens (weight 0) then the completion. Chosen: completion
 * logprobs −1, −2 (s_w = −3, |y_w| = 2); rejected: −0.5, −1, −1.5 (s_l = −3, |y_l| = 3).
 * Reference: s_ref,w = −4, s_ref,l = −2.5.
 */
const pairBatch = [datum([0, 0, 1, 1]), datum([0, 0, 1, 1, 1])];
const pairLogprobs = () => rows([[-5, -6, -1, -2], [-5, -6, -0.5, -1, -1.5]]);
const pairReference = [-4, -2.5];

describe('preference losses on one pair, by hand', () => {
  test('dpo: h = (−3 + 4) − (−3 + 2.5) = 1.5; loss −log σ(βh); gradient ∓β·σ(−βh) on completion tokens only', () => {
    const beta = 0.1;
    const result = preferenceLossFunction({ loss: 'dpo', beta }, pairReference)(pairLogprobs(), pairBatch);
    near(result.loss, Math.log1p(Math.exp(-0.15)), 'loss');
    const d = beta * sigmoid(-0.15);
    [0, 0, -d, -d].forEach((g, t) => near(result.grad[0][t], g, `chosen token ${t}`, 1e-8));
    [0, 0, d, d, d].forEach((g, t) => near(result.grad[1][t], g, `rejected token ${t}`, 1e-8));
    const m = result.metrics!;
    near(m['preference/loss'], result.loss, 'metric loss');
    near(m['preference/chosen_reward'], 0.1, 'chosen reward β(s_w − s_ref,w)');
    near(m['preference/rejected_reward'], -0.05, 'rejected reward β(s_l − s_ref,l)');
    near(m['preference/margin'], 0.15, 'margin');
    assert.equal(m['preference/accuracy'], 1);
    assert.equal(m['preference/pairs'], 1);
    near(m['preference/chosen_logprob'], -3, 'chosen logprob');
  });

  test('dpo with label smoothing ε = 0.1 (cDPO): −0.9·log σ(βh) − 0.1·log σ(−βh)', () => {
    const result = preferenceLossFunction({ loss: 'dpo', beta: 0.1, labelSmoothing: 0.1 }, pairReference)(pairLogprobs(), pairBatch);
    near(result.loss, 0.9 * Math.log1p(Math.exp(-0.15)) + 0.1 * Math.log1p(Math.exp(0.15)), 'loss');
    near(result.grad[0][2], 0.1 * (-0.9 * sigmoid(-0.15) + 0.1 * sigmoid(0.15)), 'chosen token gradient', 1e-7);
  });

  test('ipo: h = 1/2 − (−0.5)/3 (length-normalized log-ratios), loss (h − 1/(2τ))² with τ = 0.1', () => {
    const result = preferenceLossFunction({ loss: 'ipo', beta: 0.1 }, pairReference)(pairLogprobs(), pairBatch);
    const h = 0.5 + 0.5 / 3;
    near(result.loss, (h - 5) ** 2, 'loss');
    near(result.grad[0][3], (2 * (h - 5)) / 2, 'chosen token gradient 2(h − 5)/|y_w|', 1e-6);
    near(result.grad[1][4], (-2 * (h - 5)) / 3, 'rejected token gradient −2(h − 5)/|y_l|', 1e-6);
    near(result.metrics!['preference/chosen_reward'], 0.1, 'rewards as TRL logs them: β·(s − s_ref), not normalized');
  });

  test('simpo: z = β·(−3/2) − β·(−3/3) − γ = −1.5 with β = 2, γ = 0.5; reference-free', () => {
    const result = preferenceLossFunction({ loss: 'simpo', beta: 2, gamma: 0.5 })(pairLogprobs(), pairBatch);
    near(result.loss, Math.log1p(Math.exp(1.5)), 'loss');
    near(result.grad[0][2], (2 / 2) * -sigmoid(1.5), 'chosen token gradient', 1e-7);
    near(result.grad[1][2], (-2 / 3) * -sigmoid(1.5), 'rejected token gradient', 1e-7);
    const m = result.metrics!;
    near(m['preference/chosen_reward'], -3, 'chosen reward β·s_w/|y_w|');
    near(m['preference/rejected_reward'], -2, 'rejected reward β·s_l/|y_l|');
    assert.equal(m['preference/accuracy'], 0);
    // γ defaults to 0.5 (TRL's simpo_gamma).
    near(preferenceLossFunction({ loss: 'simpo', beta: 2 })(pairLogprobs(), pairBatch).loss, result.loss, 'default γ');
  });
});

describe('preference losses: gradients, stability, masking, batches', () => {
  const variants: PreferenceSettings[] = [
    { loss: 'dpo', beta: 0.5 },
    { loss: 'dpo', beta: 0.5, labelSmoothing: 0.2 },
    { loss: 'ipo', beta: 0.3 },
    { loss: 'simpo', beta: 2, gamma: 0.7 },
    { loss: 'simpo', beta: 2, gamma: 0.7, labelSmoothing: 0.1 },
  ];

  test('d(loss)/d(logprob) matches central finite differences for every loss; masked tokens get exactly 0', () => {
    const rng = new Rng(11, 3);
    const h = 1e-6;
    for (const settings of variants) {
      let maxDiff = 0;
      for (let trial = 0; trial < 10; trial++) {
        const batch = Array.from({ length: 6 }, () => {
          const prompt = 1 + Math.floor(rng.next() * 3);
          const completion = 1 + Math.floor(rng.next() * 4);
          return datum([...Array(prompt).fill(0), ...Array(completion).fill(1)]);
        });
        const values = batch.map((d) => Array.from(d.targetTokens, () => -0.05 - rng.next() * 3));
        const reference = preferenceLosses.get(settings.loss).needsReference ? batch.map(() => -1 - rng.next() * 6) : undefined;
        const fn = preferenceLossFunction(settings, reference);
        const { grad } = fn(rows(values), batch);
        values.forEach((row, i) =>
          row.forEach((_, t) => {
            const shifted = (delta: number) => fn(rows(values.map((r, k) => (k === i ? r.map((v, s) => (s === t ? v + delta : v)) : r))), batch).loss;
            const numeric = (shifted(h) - shifted(-h)) / (2 * h);
            // Relative above 1: the gradients are stored as float32.
            maxDiff = Math.max(maxDiff, Math.abs(numeric - grad[i][t]) / Math.max(1, Math.abs(numeric)));
            if (!(batch[i].weights![t] > 0)) {
              assert.equal(grad[i][t], 0, `${settings.loss}: prompt token ${t} of datum ${i} has gradient`);
              assert.equal(numeric, 0, `${settings.loss}: the loss moves with prompt token ${t} of datum ${i}`);
            }
          }),
        );
      }
      console.log(`  ${JSON.stringify(settings)}: max |analytic − numeric| / max(1, |numeric|) = ${maxDiff.toExponential(2)}`);
      assert.ok(maxDiff < 1e-6, `${JSON.stringify(settings)}: max relative difference ${maxDiff}`);
    }
  });

  test('log σ and σ are stable: no NaN or Inf at |margin| = 1000', () => {
    near(logSigmoid(1000), 0, 'log σ(1000)', 0);
    assert.equal(logSigmoid(-1000), -1000);
    near(sigmoid(-1000), 0, 'σ(−1000)', 0);
    assert.equal(sigmoid(1000), 1);
    for (const sign of [1, -1]) {
      // β = 1 and h = ±1000: the chosen log-ratio is ±1000 and the rejected one 0.
      const batch = [datum([0, 1]), datum([0, 1])];
      const logprobs = rows([[-1, sign * 1000 - 1], [-1, -1]]);
      for (const settings of [{ loss: 'dpo', beta: 1 }, { loss: 'dpo', beta: 1, labelSmoothing: 0.1 }, { loss: 'ipo', beta: 1 }] as PreferenceSettings[]) {
        const result = preferenceLossFunction(settings, [-1, -1])(logprobs, batch);
        assert.ok(Number.isFinite(result.loss) && result.grad.flatMap((g) => Array.from(g)).every(Number.isFinite), `${settings.loss} ε=${settings.labelSmoothing ?? 0} margin ${sign * 1000}`);
        assert.ok(Object.values(result.metrics!).every(Number.isFinite));
      }
      const dpo = preferenceLossFunction({ loss: 'dpo', beta: 1 }, [-1, -1])(logprobs, batch);
      if (sign > 0) {
        near(dpo.loss, 0, 'loss at margin 1000', 0);
        near(dpo.grad[0][1], 0, 'no gradient at margin 1000', 0);
      } else {
        near(dpo.loss, 1000, 'loss at margin −1000');
        near(dpo.grad[0][1], -1, 'gradient saturates at −β');
      }
      const simpo = preferenceLossFunction({ loss: 'simpo', beta: 1, gamma: 0 })(logprobs, batch);
      assert.ok(Number.isFinite(simpo.loss) && simpo.grad.flatMap((g) => Array.from(g)).every(Number.isFinite), `simpo margin ${sign * 1000}`);
    }
  });

  test('several pairs: the mean loss, accuracy over pairs, and totalPairs for a batch split over backward calls', () => {
    // Pair 0 as above (h = 1.5), pair 1 its mirror (chosen and rejected swapped: h = −1.5).
    const batch = [...pairBatch, pairBatch[1], pairBatch[0]];
    const [chosen, rejected] = pairLogprobs();
    const logprobs = rows([[...chosen], [...rejected], [...rejected], [...chosen]]);
    const reference = [...pairReference, pairReference[1], pairReference[0]];
    const result = preferenceLossFunction({ loss: 'dpo', beta: 0.1 }, reference)(logprobs, batch);
    near(result.loss, (Math.log1p(Math.exp(-0.15)) + Math.log1p(Math.exp(0.15))) / 2, 'mean loss');
    assert.equal(result.metrics!['preference/accuracy'], 0.5);
    near(result.metrics!['preference/margin'], 0, 'mean margin');
    const split = preferenceLossFunction({ loss: 'dpo', beta: 0.1, totalPairs: 4 }, reference)(logprobs, batch);
    near(split.loss, result.loss / 2, 'loss over 4 pairs');
    near(split.grad[0][2], result.grad[0][2] / 2, 'gradient over 4 pairs', 1e-9);
    near(split.metrics!['preference/loss'], result.metrics!['preference/loss'], 'the metric stays this call’s mean');
  });

  test('sequence logprobs sum trained tokens; the reference ones come from one forward of a frozen backend', async () => {
    const { sums, lengths } = sequenceLogprobs(pairLogprobs(), pairBatch);
    assert.deepEqual(sums, [-3, -3]);
    assert.deepEqual(lengths, [2, 3]);
    // Absent weights: every target token counts (Datum's default).
    assert.deepEqual(sequenceLogprobs(rows([[-1, -2]]), [{ inputTokens: [1, 2], targetTokens: [2, 3] }]), { sums: [-3], lengths: [2] });
    const calls: number[] = [];
    const reference = {
      async forward(batch: readonly Datum[]) {
        calls.push(batch.length);
        return { logprobs: batch.map((d) => Float32Array.from(d.targetTokens, () => -0.5)) };
      },
    };
    assert.deepEqual(await referenceSequenceLogprobs(reference, pairBatch), [-1, -1.5]);
    assert.deepEqual(calls, [2]);
  });

  test('errors name the field and the fix', () => {
    const isArg = (name: string, pattern: RegExp) => (e: Error) => e instanceof InvalidArgumentError && e.argument === name && pattern.test(e.message);
    const isConfig = (field: string, pattern: RegExp) => (e: Error) => e instanceof InvalidConfigError && e.field === field && pattern.test(e.message);
    assert.throws(() => preferenceLossFunction({ loss: 'kto', beta: 0.1 }), isConfig('preference.loss', /unknown preference loss "kto"; valid: dpo, ipo, simpo/));
    assert.throws(() => preferenceLossFunction({ loss: 'dpo', beta: 0 }, [0, 0]), isConfig('preference.beta', /positive/));
    assert.throws(() => preferenceLossFunction({ loss: 'dpo', beta: 0.1 }), isArg('referenceLogprobs', /referenceSequenceLogprobs/));
    assert.throws(() => preferenceLossFunction({ loss: 'simpo', beta: 2 }, [0, 0]), isArg('referenceLogprobs', /reference-free/));
    assert.throws(() => preferenceLossFunction({ loss: 'dpo', beta: 0.1, gamma: 1 }, [0, 0]), isConfig('preference.gamma', /does not use it.*simpo/));
    assert.throws(() => preferenceLossFunction({ loss: 'ipo', beta: 0.1, labelSmoothing: 0.1 }, [0, 0]), isConfig('preference.labelSmoothing', /does not use it; remove it \(read by: dpo, simpo\)/));
    assert.throws(() => preferenceLossFunction({ loss: 'dpo', beta: 0.1, labelSmoothing: 0.5 }, [0, 0]), isConfig('preference.labelSmoothing', /\[0, 0\.5\)/));
    const dpo = preferenceLossFunction({ loss: 'dpo', beta: 0.1 }, [0, 0, 0]);
    assert.throws(() => dpo(rows([[-1], [-1], [-1]]), [datum([1]), datum([1]), datum([1])]), isArg('batch', /pairs \(chosen, rejected\) as consecutive datums; got 3/));
    assert.throws(() => preferenceLossFunction({ loss: 'dpo', beta: 0.1 }, [0, 0, 0])(rows([[-1], [-1]]), [datum([1]), datum([1])]), isArg('referenceLogprobs', /3 values for 2 datums/));
    assert.throws(() => preferenceLossFunction({ loss: 'dpo', beta: 0.1 }, [0, 0])(rows([[-1, -1], [-1]]), [datum([1, 0]), datum([0])]), isArg('batch', /datum 1 has no completion tokens/));
  });
});
