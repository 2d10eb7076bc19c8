/** Match and numeric verifiers: scores, explicit non-scores, and the feedback a reflector reads. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Task } from '../../src/spec/task.js';
import { answerEnds, extractAnswer, matchVerifier, numericVerifier, parseNumber } from '../../src/verifiers/match.js';

const task = (answer?: string): Task => ({ id: 't1', family: 'test', prompt: 'q', answer });

describe('answer extraction', () => {
  test('after the last marker, up to the first end string', () => {
    assert.equal(extractAnswer('7+5=12,4+8=13>132;junk', { answerMarker: '>', answerEnd: [';'] }), '132');
    assert.equal(extractAnswer('a>1>2\nmore', { answerMarker: '>' }), '2');
    assert.equal(extractAnswer('no marker', { answerMarker: '>' }), null);
    assert.equal(extractAnswer('  42 ;', { answerEnd: [';'] }), '42');
  });

  test('answerEnds: a newline, the extra ends and the sampling stop strings; the first one in the text ends the answer', () => {
    assert.deepEqual(answerEnds([';']), ['\n', ';']);
    assert.deepEqual(answerEnds([';'], ['|']), ['\n', '|', ';']);
    assert.equal(extractAnswer('>12|x;y\nz', { answerMarker: '>', answerEnd: answerEnds([';'], ['|']) }), '12');
    assert.equal(extractAnswer('>12;x|y', { answerMarker: '>', answerEnd: answerEnds([';'], ['|']) }), '12');
  });
});

describe('numeric verifier', () => {
  const verifier = numericVerifier({ answerEnd: [';'] });
  test('equivalent forms pass', () => {
    for (const completion of ['42;', '42.0;', '84/2;', ' 42 ;', '4.2e1;']) {
      const result = verifier.verify(task('42'), completion);
      assert.deepEqual(result.status === 'scored' && [result.reward, result.pass], [1, true], completion);
    }
  });
  test('feedback locates wrong digits and wrong lengths without revealing the answer', () => {
    assert.deepEqual(verifier.verify(task('12345'), '12045;'), { status: 'scored', reward: 0, pass: false, feedback: 'digit 3 is wrong', extracted: '12045' });
    const short = verifier.verify(task('123456'), '12345;');
    assert.equal(short.status === 'scored' && short.feedback, 'the answer has 5 digits, expected 6');
    const many = verifier.verify(task('1111'), '2222;');
    assert.equal(many.status === 'scored' && many.feedback, 'digits 1, 2, 3, 4 are wrong');
    const words = verifier.verify(task('42'), 'forty-two;');
    assert.equal(words.status === 'scored' && words.feedback, '"forty-two" is not a number');
  });
  test('revealing the answer is an option', () => {
    const result = numericVerifier({ answerEnd: [';'], revealAnswer: true }).verify(task('12345'), '12045;');
    assert.equal(result.status === 'scored' && result.feedback, 'digit 3 is wrong (expected 12345)');
  });
  test('never a silent 0: unlabeled tasks are not applicable, broken labels are errors', () => {
    assert.equal(verifier.verify(task(undefined), '42;').status, 'not-applicable');
    assert.deepEqual(verifier.verify(task('forty'), '42;'), { status: 'error', error: 'task t1 has a non-numeric answer "forty"' });
  });
  test('parseNumber', () => {
    assert.equal(parseNumber('1,234'), 1234);
    assert.equal(parseNumber('-3/4'), -0.75);
    assert.equal(parseNumber('1/0'), null);
    assert.equal(parseNumber('12abc'), null);
  });
});

describe('match verifiers', () => {
  test('exact match is exact; feedback locates characters', () => {
    const exact = matchVerifier({ answerEnd: [';'] });
    assert.equal(exact.name, 'exact-match');
    const wrong = exact.verify(task('olleh'), 'olxeh;');
    assert.equal(wrong.status === 'scored' && wrong.feedback, 'character 3 is wrong');
    const cased = exact.verify(task('Hello'), 'hello;');
    assert.equal(cased.status === 'scored' && cased.pass, false);
  });
  test('normalized match ignores case and whitespace', () => {
    const normalized = matchVerifier({ normalize: true });
    assert.equal(normalized.name, 'normalized-match');
    const result = normalized.verify(task('New  York'), '  new york ');
    assert.equal(result.status === 'scored' && result.pass, true);
  });
  test('an empty completion is scored 0 with a reason', () => {
    const result = matchVerifier({ answerMarker: '=' }).verify(task('x'), 'no marker here');
    assert.deepEqual(result, { status: 'scored', reward: 0, pass: false, feedback: 'no answer found: the completion has no "="', extracted: undefined });
  });
});
