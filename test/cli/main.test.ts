/** The CLI as a user runs it: --help, info (kernels and threads from the environment), demo --json. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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

  test('bad arguments are refused with a message', () => {
    const out = run(['train-demo', '--steps', 'many']);
    assert.notEqual(out.status, 0);
    assert.match(out.stderr, /--steps.*positive integer/);
  });
});
