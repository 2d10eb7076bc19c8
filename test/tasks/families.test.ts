/** Procedural task families: seeded, difficulty-true, and verified by their own verifiers. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { additionFamily, indexed, indexedColumns, scratchpad } from '../../src/tasks/addition.js';
import { countdownFamily, countdownVerifier, parseExpression } from '../../src/tasks/countdown.js';
import { loadTaskFile } from '../../src/tasks/jsonl.js';
import { stringFamily } from '../../src/tasks/strings.js';
import { TaskFileError } from '../../src/errors.js';
import type { TaskFamily } from '../../src/spec/task-source.js';

const families: TaskFamily[] = [
  additionFamily({ format: 'plain' }),
  additionFamily({ format: 'reversed' }),
  additionFamily({ format: 'scratchpad' }),
  additionFamily({ format: 'indexed' }),
  additionFamily({ format: 'scratchpad', padTo: 6 }),
  countdownFamily(),
  stringFamily({ operation: 'reverse' }),
  stringFamily({ operation: 'sort' }),
];

describe('task families', () => {
  for (const family of families) {
    test(`${family.name}: seeded, unique ids, and every solution passes its verifier`, async () => {
      for (let difficulty = family.difficulty.min; difficulty <= Math.min(family.difficulty.max, family.difficulty.min + 3); difficulty++) {
        const tasks = family.generate({ count: 20, difficulty, seed: 7, split: 'train' });
        assert.deepEqual(family.generate({ count: 20, difficulty, seed: 7, split: 'train' }), tasks, 'same options, same tasks');
        assert.notDeepEqual(family.generate({ count: 20, difficulty, seed: 8, split: 'train' }), tasks, 'another seed, other tasks');
        assert.notDeepEqual(family.generate({ count: 20, difficulty, seed: 7, split: 'heldout' }), tasks, 'another split, other tasks');
        assert.equal(new Set(tasks.map((t) => t.id)).size, 20);
        for (const task of tasks) {
          assert.equal(task.difficulty, difficulty);
          const verdict = await family.verifier.verify(task, task.solution!);
          assert.deepEqual(verdict.status === 'scored' && [verdict.pass, verdict.reward], [true, 1], `${task.prompt}${task.solution}`);
        }
      }
      assert.throws(() => family.generate({ count: 1, difficulty: family.difficulty.max + 1, seed: 0 }), /difficulty must be an integer in/);
    });
  }

  test('addition: operands have `difficulty` digits; each format writes the sum its way', async () => {
    const [plain] = additionFamily({ format: 'plain' }).generate({ count: 1, difficulty: 4, seed: 1 });
    const { a, b, sum } = plain.meta as { a: number; b: number; sum: number };
    assert.equal(String(a).length, 4);
    assert.equal(String(b).length, 4);
    assert.equal(plain.prompt, `${a}+${b}=`);
    assert.equal(plain.answer, String(sum));
    const [reversed] = additionFamily({ format: 'reversed' }).generate({ count: 1, difficulty: 4, seed: 1 });
    assert.equal(reversed.answer, [...String((reversed.meta as { sum: number }).sum)].reverse().join(''));
    assert.equal(scratchpad(47, 85), '7+5+0=12,4+8+1=13');
    assert.equal(indexed(417, 0), 'c4b1a7');
    const [padded] = additionFamily({ format: 'plain', padTo: 5 }).generate({ count: 1, difficulty: 2, seed: 3 });
    assert.match(padded.prompt, /^000\d\d\+000\d\d=$/);
    assert.match(padded.answer!, /^000\d{3}$/);
    assert.throws(() => additionFamily({ format: 'reversed', padTo: 5 }), /padTo works with the plain and scratchpad formats/);
    assert.equal(indexedColumns(47, 85, 0), 'a21b31c10');
    const indexedFamily = additionFamily({ format: 'indexed' });
    const sample = { id: 'i', family: 'addition-indexed', prompt: 'b4a7+b8a5=', answer: '132', meta: { offset: 0 } };
    assert.deepEqual(indexedFamily.verifier.verify(sample, 'a21b31c10;'), { status: 'scored', reward: 1, pass: true, feedback: 'correct', extracted: 'a21b31c10' });
    const offByOne = await indexedFamily.verifier.verify(sample, 'a21b21c10;');
    assert.equal('feedback' in offByOne && offByOne.feedback, 'digit 2 is wrong');
    const badLetter = await indexedFamily.verifier.verify(sample, 'a21c31;');
    assert.equal('feedback' in badLetter && badLetter.feedback, 'column 2 has letter c, expected b');
    const verifier = additionFamily({ format: 'scratchpad' }).verifier;
    const wrong = await verifier.verify({ ...plain, answer: '132' }, '7+5+0=12,4+8+1=13>122;');
    assert.equal('feedback' in wrong && wrong.feedback, 'digit 2 is wrong');
  });

  test('countdown: the verifier checks numbers, multiplicity, value and syntax', () => {
    const family = { verifier: countdownVerifier() };
    const task = { id: 'c', family: 'countdown', prompt: '3 7 25 -> 46:', answer: '46', meta: { numbers: [3, 7, 25], target: 46 } };
    const feedback = (completion: string) => {
      const verdict = family.verifier.verify(task, completion) as { pass?: boolean; feedback?: string };
      return [verdict.pass, verdict.feedback];
    };
    assert.deepEqual(feedback('25+3*7;'), [true, 'correct']);
    assert.deepEqual(feedback('(25 + 3) × 7 ;'), [false, 'the expression equals 196, not 46']);
    assert.deepEqual(feedback('25+25;'), [false, '25 is used more often than it is given']);
    assert.deepEqual(feedback('9+37;'), [false, '9 is not among the numbers']);
    assert.deepEqual(feedback('25+(3;'), [false, 'could not read the expression: expected ")" at position 6']);
    assert.deepEqual(feedback('process.exit();'), [false, 'could not read the expression: unexpected "p" at position 1']);
    assert.deepEqual(feedback('7/(3-3);'), [false, '3 is used more often than it is given']);
    assert.deepEqual(parseExpression('7/2*2'), { value: { n: 7, d: 1 }, numbers: [7, 2, 2] });
    assert.deepEqual(family.verifier.verify({ ...task, meta: undefined, answer: undefined }, '1;').status, 'error');
  });
});

describe('JSONL task files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'autodidact-tasks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, lines: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, lines.join('\n'));
    return path;
  };

  test('loads tasks, skips blanks and comments, numbers become strings', () => {
    const path = file('sums.jsonl', ['// a comment', '{"id": "a", "prompt": "1+1=", "answer": 2, "difficulty": 1}', '', '{"id": "b", "prompt": "2+2=", "meta": {"k": 1}}']);
    assert.deepEqual(loadTaskFile(path), [
      { id: 'a', family: 'sums', prompt: '1+1=', answer: '2', solution: undefined, difficulty: 1, meta: undefined },
      { id: 'b', family: 'sums', prompt: '2+2=', answer: undefined, solution: undefined, difficulty: undefined, meta: { k: 1 } },
    ]);
  });

  test('bad lines name the file, the line and the field', () => {
    const expectError = (lines: string[], pattern: RegExp) =>
      assert.throws(() => loadTaskFile(file('bad.jsonl', lines)), (error: unknown) => error instanceof TaskFileError && pattern.test(error.message));
    expectError(['{"id": "a", "prompt": "x"}', '{oops'], /bad.jsonl:2: not valid JSON/);
    expectError(['{"id": "a"}'], /bad.jsonl:1: field `prompt`: is required \(expected string\)/);
    expectError(['{"id": "a", "prompt": "x", "anwser": "1"}'], /bad.jsonl:1: field `anwser`: unknown key — did you mean `answer`\?/);
    expectError(['{"id": "a", "prompt": "x"}', '{"id": "a", "prompt": "y"}'], /bad.jsonl:2: id "a" already used on line 1/);
    expectError(['{"id": "a", "prompt": "x", "difficulty": "hard"}'], /field `difficulty`: expected number, got string "hard"/);
    assert.throws(() => loadTaskFile(join(dir, 'missing.jsonl')), /missing.jsonl:0: cannot read the task file \(ENOENT\)/);
  });
});
