import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../../src/engine/checkpoint.js';
import { tsKernels } from '../../src/engine/kernels-ts.js';
import { exportGguf, ggufMetadata, ggufName, ggufTensors } from '../../src/export/gguf.js';
import { writeGguf } from '../../src/export/gguf-format.js';
import { trainedCheckpoint } from './fixture.js';

/**
 * scripts/check_gguf.py reads our GGUF with llama.cpp's own Python reader (the
 * `gguf` package) and compares it with the checkpoint's safetensors. It runs
 * with the Python named by AUTODIDACT_PYTHON (needs gguf, numpy, safetensors);
 * without one the tests are skipped with the reason.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = join(root, 'scripts', 'check_gguf.py');
const python = process.env.AUTODIDACT_PYTHON;

function unavailable(): string | false {
  if (!python) return 'AUTODIDACT_PYTHON is not set (point it at a Python with the gguf, numpy and safetensors packages)';
  const probe = spawnSync(python, ['-c', 'import gguf, numpy, safetensors'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${python} cannot import gguf, numpy and safetensors: ${(probe.stderr || String(probe.error)).trim().split('\n').pop()}`;
  return false;
}

const work = mkdtempSync(join(tmpdir(), 'autodidact-check-gguf-'));
after(() => rmSync(work, { recursive: true, force: true }));

function runScript(ggufPath: string, checkpoint: string) {
  return spawnSync(python!, [script, ggufPath, checkpoint], { encoding: 'utf8' });
}

test("llama.cpp's gguf reader finds our metadata and every tensor equal to the checkpoint's (untied and tied)", async (t) => {
  const reason = unavailable();
  if (reason) return t.skip(reason);
  for (const model of [{}, { tieEmbeddings: true, vocabSize: 300, dModel: 32 }]) {
    const checkpoint = await trainedCheckpoint({ steps: 5, model });
    try {
      const path = join(work, 'model.gguf');
      exportGguf(checkpoint, path);
      const run = runScript(path, checkpoint);
      assert.equal(run.status, 0, `check_gguf.py failed:\n${run.stdout}${run.stderr}`);
      assert.match(run.stdout, /^ok: /);
    } finally {
      rmSync(dirname(checkpoint), { recursive: true, force: true });
    }
  }
});

test('check_gguf.py reports a file whose Wq/Wk rows are not permuted', async (t) => {
  const reason = unavailable();
  if (reason) return t.skip(reason);
  const checkpoint = await trainedCheckpoint({ steps: 2 });
  try {
    const { model, tokenizer } = loadCheckpoint(checkpoint, tsKernels);
    const named = model.namedTensors('params');
    const tensors = ggufTensors(model.config, named).map((tensor) => ({ ...tensor, data: named.find((n) => ggufName(n.name) === tensor.name)!.data }));
    const path = join(work, 'unpermuted.gguf');
    writeGguf(path, ggufMetadata(model.config, tokenizer, 'unpermuted'), tensors);
    const run = runScript(path, checkpoint);
    assert.equal(run.status, 1, `expected a mismatch:\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /MISMATCH tensor blk\.0\.attn_q\.weight/);
  } finally {
    rmSync(dirname(checkpoint), { recursive: true, force: true });
  }
});
