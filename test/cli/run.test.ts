/** `autodidact run` as a user runs it: help, --dry-run with --set, config errors, --json, resuming and refusing another recipe's directory. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'autodidact-cli-run-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, AUTODIDACT_THREADS: '1' }, timeout: 120_000 });
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const tiny = file(
  'tiny.yaml',
  `name: tiny
seed: 1
rounds: 1
model:
  config: { dModel: 32, nLayers: 1, nHeads: 2, maxSeqLen: 32 }
tasks: { family: addition, options: { format: plain }, perRound: 16 }
warmup: { count: 20, difficulties: [1], steps: 5, batchSize: 8 }
sample: { n: 2, maxTokens: 6, stop: [";"], chunk: 8 }
train: { steps: 3, batchSize: 8 }
eval: { count: 8, n: 2, k: [1, 2] }
`,
);

describe('autodidact run', () => {
  test('--help lists the options', () => {
    const out = run(['run', '--help']);
    assert.equal(out.status, 0, out.stderr);
    for (const option of ['--set <path=value>', '--dry-run', '--json', '--out <dir>', '--fresh']) assert.ok(out.stdout.includes(option), `run --help lacks ${option}:\n${out.stdout}`);
  });

  test('--dry-run prints the resolved recipe with the overrides and runs nothing', () => {
    const out = run(['run', tiny, '--dry-run', '--set', 'train.steps=7', '--set', 'reflect.enabled=true', '--out', join(dir, 'never')]);
    assert.equal(out.status, 0, out.stderr);
    const resolved = parse(out.stdout) as { train: { steps: number; from: string }; reflect: { enabled: boolean }; sample: { n: number; topP: number } };
    assert.equal(resolved.train.steps, 7);
    assert.equal(resolved.reflect.enabled, true);
    assert.deepEqual([resolved.train.from, resolved.sample.n, resolved.sample.topP], ['previous', 2, 1], 'defaults are filled in');
    assert.ok(!existsSync(join(dir, 'never')), 'no run directory');
    assert.ok(!existsSync(join(dir, 'runs')), 'no default run directory either');
  });

  test('a bad recipe or override exits with code 2 and names the field', () => {
    const typo = file('typo.yaml', 'name: typo\nrounds: 1\ntasks: { family: addition }\ntrain: { stpes: 10 }\n');
    const bad = run(['run', typo, '--out', join(dir, 'never')]);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'autodidact: Invalid config field `train.stpes`: unknown key — did you mean `steps`?\n');
    assert.equal(bad.stdout, '');
    const override = run(['run', tiny, '--set', 'rounds=three', '--dry-run']);
    assert.equal(override.status, 2);
    assert.equal(override.stderr, 'autodidact: Invalid config field `rounds`: expected number, got string "three"\n');
    const malformed = run(['run', tiny, '--set', 'foo', '--dry-run']);
    assert.equal(malformed.status, 2);
    assert.equal(malformed.stderr, 'autodidact: Invalid config field `foo`: a --set override is path.to.key=value, e.g. --set train.steps=200\n');
    const family = run(['run', tiny, '--set', 'tasks.family=multiplication', '--dry-run']);
    assert.equal(family.status, 2);
    assert.match(family.stderr, /^autodidact: Invalid config field `tasks.family`: unknown family "multiplication"/);
    assert.ok(!existsSync(join(dir, 'never')));
  });

  test('--json ends with a summary; a rerun resumes; another recipe in the same directory is refused', () => {
    const out = join(dir, 'tiny-run');
    const first = run(['run', tiny, '--out', out, '--json']);
    assert.equal(first.status, 0, first.stderr);
    const summary = JSON.parse(first.stdout.trim().split('\n').at(-1)!);
    assert.deepEqual(Object.keys(summary), ['recipe', 'runDir', 'stopped', 'rounds', 'final', 'checkpoint']);
    assert.deepEqual([summary.recipe, summary.runDir, summary.stopped], ['tiny', out, false]);
    assert.deepEqual(summary.rounds.map((r: { round: number }) => r.round), [0, 1]);
    assert.equal(summary.checkpoint, join(out, 'checkpoints', 'round-1'));
    assert.ok(readdirSync(summary.checkpoint).length > 0, 'the checkpoint is on disk');
    for (const key of ['eval/accuracy', 'reward/mean', 'accept/count', 'explore/pass@1', 'timing_ms/sample']) assert.ok(Number.isFinite(summary.final[key]), `final lacks ${key}`);
    assert.match(first.stderr, /^tiny: 1 rounds → /, 'progress lines go to stderr with --json');
    assert.match(first.stderr, /\n {2}round 1 sample: 0\/\d+\n[\s\S]*\n {2}round 1 sample: done in \d+\.\d s\n/, 'without a terminal, each phase prints plain progress lines');

    const again = run(['run', tiny, '--out', out, '--json']);
    assert.equal(again.status, 0, again.stderr);
    const resumed = JSON.parse(again.stdout.trim().split('\n').at(-1)!);
    const strip = (s: { rounds: { seconds: number }[]; final: Record<string, number> }) => ({
      rounds: s.rounds.map(({ seconds: _, ...r }) => r),
      final: Object.fromEntries(Object.entries(s.final).filter(([k]) => !k.startsWith('timing_ms/'))),
    });
    assert.deepEqual(strip(resumed), strip(summary), 'a finished run reruns to the same summary');

    const changed = run(['run', tiny, '--out', out, '--set', 'train.steps=4']);
    assert.equal(changed.status, 2);
    assert.equal(changed.stderr, `autodidact: ${out} holds a run of a different recipe (train.steps: 3 → 4); rerun with --fresh to start over there, or --out <dir> to run elsewhere\n`);
    const fresh = run(['run', tiny, '--out', out, '--set', 'train.steps=4', '--fresh', '--json']);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.equal(JSON.parse(fresh.stdout.trim().split('\n').at(-1)!).stopped, false);
  });
});

describe('Ctrl-C', () => {
  test('SIGINT stops between phases with exit code 130; rerunning finishes the run', async () => {
    const { spawn } = await import('node:child_process');
    const out = join(dir, 'interrupted');
    // Many rounds, so the run is still going when the first round line appears.
    const child = spawn(process.execPath, [cli, 'run', tiny, '--out', out, '--set', 'rounds=40'], { cwd: dir, env: { ...process.env, AUTODIDACT_THREADS: '1' } });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (/round 1 /.test(stdout) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (status) => resolve(status));
    });
    assert.equal(code, 130, `exit ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /stopping after the current phase/);
    assert.match(stdout, /stopped; rerun the same command to resume from /);
    assert.doesNotMatch(stdout, /round 40 /);
    const resumed = run(['run', tiny, '--out', out, '--set', 'rounds=40', '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.stopped, false);
    assert.equal(summary.rounds.length, 41);
  });
});

describe('run directories (issue 13)', () => {
  test('--fresh --out <a directory that is not a run> deletes nothing and exits 2 naming what it holds; so does --out .', () => {
    const p = join(dir, 'p');
    mkdirSync(p);
    writeFileSync(join(p, 'thesis.txt'), 'x');
    const out = run(['run', tiny, '--fresh', '--out', p]);
    assert.equal(out.status, 2, out.stderr);
    assert.equal(out.stderr, `autodidact: ${p}: is not empty and not a run directory (it holds thesis.txt); autodidact starts a run only in a new or empty directory: pass another --out\n`);
    assert.equal(readFileSync(join(p, 'thesis.txt'), 'utf8'), 'x');
    assert.deepEqual(readdirSync(p), ['thesis.txt']);
    const here = spawnSync(process.execPath, [cli, 'run', tiny, '--fresh', '--out', '.'], { cwd: p, encoding: 'utf8', env: { ...process.env, AUTODIDACT_THREADS: '1' } });
    assert.equal(here.status, 2, here.stderr);
    assert.match(here.stderr, /^autodidact: .*p: is not empty and not a run directory \(it holds thesis\.txt\)/);
    assert.equal(readFileSync(join(p, 'thesis.txt'), 'utf8'), 'x');
  });

  test('--out <a regular file> and a garbage run.sqlite are messages, not stack traces (a truncated one: test/store/run-store.test.ts)', () => {
    const file = join(dir, 'regular-file');
    writeFileSync(file, 'x');
    const onFile = run(['run', tiny, '--out', file]);
    assert.equal(onFile.status, 2);
    assert.equal(onFile.stderr, `autodidact: ${file}: is a file, not a directory: --out names a run directory (a new or empty one, or an existing run)\n`);
    const garbage = join(dir, 'garbage-run');
    mkdirSync(garbage);
    writeFileSync(join(garbage, 'run.sqlite'), 'not a database at all\n'.repeat(100));
    for (const args of [['run', tiny, '--out', garbage], ['export', garbage, '--format', 'trl-sft'], ['export', garbage, '--format', 'gguf', '--out', join(dir, 'm.gguf')]]) {
      const out = run(args);
      assert.equal(out.status, 2, `${args.join(' ')}: ${out.stderr}`);
      assert.equal(out.stderr, `autodidact: ${join(garbage, 'run.sqlite')}: cannot be read as a run store (file is not a database): it is damaged or not a run store. Restore it from a copy, or move it away to start a new run there\n`);
    }
  });

  test('a moved run resumes, and a copied run trains and exports from its own weights, never the original\'s', () => {
    const original = join(dir, 'orig');
    const first = run(['run', tiny, '--out', original]);
    assert.equal(first.status, 0, first.stderr);
    const copy = join(dir, 'copy');
    cpSync(original, copy, { recursive: true });

    // Moved: extending it to a second round reads its round-1 checkpoint where it is now.
    const moved = join(dir, 'moved');
    renameSync(original, moved);
    const resumed = run(['run', tiny, '--out', moved, '--set', 'rounds=2', '--json']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!).checkpoint, join(moved, 'checkpoints', 'round-2'));
    renameSync(moved, original); // the original is back where the copy was made from

    // Copied: the copy's own weights, truncated, make it fail, naming the copy's files.
    for (const round of [0, 1]) truncateSync(join(copy, 'checkpoints', `round-${round}`, 'model.safetensors'), 100);
    const extended = run(['run', tiny, '--out', copy, '--set', 'rounds=2']);
    assert.equal(extended.status, 2, `the copy trained from the original's weights:\n${extended.stdout}${extended.stderr}`);
    assert.match(extended.stderr, new RegExp(`^autodidact: Bad [^\\n]*${join(copy, 'checkpoints', 'round-1')}`, 'm'));
    const exported = run(['export', copy, '--format', 'gguf', '--round', '0', '--out', join(dir, 'copy.gguf')]);
    assert.equal(exported.status, 2, `export read the original's weights:\n${exported.stdout}${exported.stderr}`);
    assert.match(exported.stderr, new RegExp(`^autodidact: Bad [^\\n]*${join(copy, 'checkpoints', 'round-0')}`));
    assert.ok(!existsSync(join(dir, 'copy.gguf')));
  });
});

