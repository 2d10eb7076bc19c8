/** Progress without a terminal: plain lines per phase, per tenth and per interval, and one at the end. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lineProgress } from '../../src/cli/run.js';

describe('line progress (stderr is not a TTY)', () => {
  test('a line at the start, one per tenth or per interval, one at the end; nothing in between', () => {
    let clock = 0;
    const lines: string[] = [];
    const progress = lineProgress((line) => lines.push(line), { every: 30_000, now: () => clock });
    progress.start('round 0 warmup', 600);
    for (let done = 1; done < 600; done++) {
      clock += 10;
      progress.update(done);
    }
    clock += 10;
    progress.end();
    assert.equal(lines[0], '  round 0 warmup: 0/600');
    assert.equal(lines.at(-1), '  round 0 warmup: done in 6.0 s');
    // A tenth is 60 steps: lines at 60, 120, …, 540.
    assert.deepEqual(lines.slice(1, -1).map((l) => Number(/: (\d+)\/600/.exec(l)![1])), [60, 120, 180, 240, 300, 360, 420, 480, 540]);
    assert.equal(lines[1], '  round 0 warmup: 60/600 (10%, 0.6 s)');
  });

  test('a slow phase shows a line per interval even between tenths', () => {
    let clock = 0;
    const lines: string[] = [];
    const progress = lineProgress((line) => lines.push(line), { every: 30_000, now: () => clock });
    progress.start('round 1 sample', 1000);
    for (let done = 1; done <= 50; done++) {
      clock += 1000; // 1 s per task: 50 s for 5% of the phase
      progress.update(done);
    }
    assert.deepEqual(lines, ['  round 1 sample: 0/1000', '  round 1 sample: 30/1000 (3%, 30.0 s)']);
  });

  test('a phase without a count says it started and when it ended', () => {
    const lines: string[] = [];
    const progress = lineProgress((line) => lines.push(line), { now: () => 0 });
    progress.start('round 2 evaluate', 0);
    progress.update(5);
    progress.end();
    assert.deepEqual(lines, ['  round 2 evaluate …', '  round 2 evaluate: done in 0.0 s']);
  });
});
