/** The CLI as a user runs it: --help, info (kernels and threads from the environment), demo --json, user errors without stacks (--debug prints them). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

describe('autodidact CLI', () => {
  test('--help lists the commands', () => {
    const out = run(['--help']);
    assert.equal(out.status, 0);
    assert.match(out.stdout, /demo/);
    assert.match(out.stdout, /info/);
    assert.match(out.stdout, /--debug .*print the stack/);
    assert.match(run(['train-demo', '--help']).stdout, /--steps <n>/);
    assert.match(run(['demo', '--help']).stdout, /--rounds <n>/);
  });

  test('info respects AUTODIDACT_THREADS and AUTODIDACT_KERNELS', () => {
    const one = JSON.parse(run(['info', '--json'], { AUTODIDACT_THREADS: '1' }).stdout);
    if (one.kernels === 'native') assert.equal(one.threads, 1);
    const ts = JSON.parse(run(['info', '--json'], { AUTODIDACT_KERNELS: 'ts' }).stdout);
    assert.equal(ts.kernels, 'ts');
    const bad = run(['info'], { AUTODIDACT_KERNELS: 'gpu' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /AUTODIDACT_KERNELS must be "native", "ts" or "auto"/);
  });

  test('without the addon the engine falls back to TypeScript kernels, with a warning', () => {
    const fallback = run(['info', '--json'], { AUTODIDACT_ADDON: '/nonexistent/addon.node' });
    assert.equal(fallback.status, 0);
    assert.equal(JSON.parse(fallback.stdout).kernels, 'ts');
    assert.match(fallback.stderr, /native kernels unavailable.*TypeScript kernels/);
    const required = run(['info'], { AUTODIDACT_ADDON: '/nonexistent/addon.node', AUTODIDACT_KERNELS: 'native' });
    assert.notEqual(required.status, 0);
    assert.match(required.stderr, /AUTODIDACT_KERNELS=native but AUTODIDACT_ADDON=\/nonexistent\/addon.node does not exist/);
  });

  test('train-demo --json trains and ends with a machine-readable summary', () => {
    const out = run(['train-demo', '--steps', '20', '--batch-size', '8', '--json']);
    assert.equal(out.status, 0, out.stderr);
    const summary = JSON.parse(out.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.steps, 20);
    assert.ok(Number.isFinite(summary.finalLoss) && summary.finalLoss < 3, `loss ${summary.finalLoss}`);
    assert.equal(summary.samples.length, 64);
    assert.ok(summary.heldOutAccuracyAfter >= 0 && summary.heldOutAccuracyAfter <= 1);
  });

  test('a user error prints its message and no stack; --debug and AUTODIDACT_DEBUG=1 print the stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'autodidact-cli-'));
    try {
      const recipe = join(dir, 'typo.yaml');
      writeFileSync(recipe, 'name: typo\nrounds: 1\ntasks: { family: addition }\nrationalize: { enabled: true, template: "{answr}|{prompt}" }\n');
      const plain = run(['run', recipe, '--dry-run']);
      assert.equal(plain.status, 2, plain.stderr);
      assert.equal(plain.stderr, 'autodidact: Invalid config field `rationalize.template`: unknown placeholder {answr} — did you mean {answer}? (known: {prompt}, {answer})\n');
      for (const debug of [run(['run', recipe, '--dry-run', '--debug']), run(['--debug', 'run', recipe, '--dry-run']), run(['run', recipe, '--dry-run'], { AUTODIDACT_DEBUG: '1' })]) {
        assert.equal(debug.status, 2, debug.stderr);
        assert.match(debug.stderr, /^InvalidConfigError: Invalid config field `rationalize\.template`: unknown placeholder \{answr\}/);
        assert.match(debug.stderr, /\n {4}at .*recipe\/load\.js/);
      }
      const kernels = run(['info'], { AUTODIDACT_KERNELS: 'gpu' });
      assert.doesNotMatch(kernels.stderr, /\n {4}at /);
      assert.doesNotMatch(kernels.stderr, /this is a bug/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unexpected error (a bug) prints its message and the hint to rerun with --debug, which prints the stack', () => {
    // A preloaded module makes `info --json` fail with a plain TypeError, as a bug would.
    const bug = "const s = JSON.stringify; JSON.stringify = (v, ...r) => { if (v && typeof v === 'object' && 'kernels' in v) throw new TypeError('simulated bug'); return s(v, ...r); };";
    const withBug = (args: string[]) => spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(bug)}`, cli, ...args], { encoding: 'utf8' });
    const plain = withBug(['info', '--json']);
    assert.equal(plain.status, 1);
    assert.equal(plain.stderr, 'autodidact: simulated bug\nthis is a bug in autodidact; rerun with --debug for the stack\n');
    const debug = withBug(['info', '--json', '--debug']);
    assert.equal(debug.status, 1);
    assert.match(debug.stderr, /^TypeError: simulated bug\n {4}at /);
  });

  test('bad arguments are refused with a message', () => {
    const out = run(['train-demo', '--steps', 'many']);
    assert.notEqual(out.status, 0);
    assert.match(out.stderr, /--steps.*positive integer/);
  });
});
