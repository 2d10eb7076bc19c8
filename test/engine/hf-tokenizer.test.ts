/**
 * The Hugging Face tokenizer files of a checkpoint: byte b is id b, the special
 * tokens are 256–258; with AUTODIDACT_PYTHON set, transformers' AutoTokenizer
 * encodes (ASCII and non-ASCII) text to exactly our ids and decodes it back.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EngineCore } from '../../src/engine/engine.js';
import { byteLevelAlphabet, huggingFaceTokenizerFiles } from '../../src/engine/hf-tokenizer.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';

const work = mkdtempSync(join(tmpdir(), 'autodidact-hf-tokenizer-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Texts to round-trip: ASCII, control characters, Latin-1, CJK, emoji, and strings that look like markers. */
const texts = ['12+34=46;', 'a b\tc\nd\r\n', 'héllo wörld ½ ÿ', '日本語のテキスト', 'emoji 🙂👍🏽 ok', ' leading and trailing ', '', '<|bos', 'Ġ Ċ ▁', '\u0000\u007f'];

describe('Hugging Face tokenizer files', () => {
  test("the byte-level alphabet is GPT-2's: 256 distinct symbols, printable bytes as themselves", () => {
    const alphabet = byteLevelAlphabet();
    assert.equal(new Set(alphabet).size, 256);
    assert.equal(alphabet[0x41], 'A');
    assert.equal(alphabet[0x20], '\u0120', 'space is Ġ');
    assert.equal(alphabet[0x0a], '\u010a', 'newline is Ċ');
    assert.equal(alphabet[0xad], '\u0143', 'the soft hyphen is the last remapped byte');
    assert.equal(alphabet[0xff], 'ÿ');
  });

  test('every checkpoint carries tokenizer.json (vocab: the symbol of byte b has id b, specials 256–258, BOS first) and tokenizer_config.json', () => {
    const dir = join(work, 'checkpoint');
    new EngineCore({ kernels: 'ts', model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 48, seed: 2 } }).save(dir);
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const alphabet = byteLevelAlphabet();
    assert.equal(Object.keys(json.model.vocab).length, 256);
    assert.ok(alphabet.every((symbol, byte) => json.model.vocab[symbol] === byte), 'the symbol of byte b has id b');
    assert.deepEqual(json.model.merges, []);
    assert.deepEqual(json.added_tokens.map((t: { id: number; content: string; special: boolean }) => [t.id, t.content, t.special]), [[256, '<|bos|>', true], [257, '<|eos|>', true], [258, '<|pad|>', true]]);
    assert.deepEqual(json.post_processor.single.map((p: Record<string, { id: string }>) => Object.values(p)[0].id), ['<|bos|>', 'A']);
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    assert.deepEqual([config.bos_token, config.eos_token, config.pad_token, config.model_max_length], ['<|bos|>', '<|eos|>', '<|pad|>', 48]);
    assert.match(config.chat_template, /bos_token.*eos_token/s);
    assert.equal(huggingFaceTokenizerFiles({ ...new ByteTokenizer(), toJSON: () => ({ kind: 'bpe' }) } as unknown as ByteTokenizer, { modelMaxLength: 8 }), null, 'a tokenizer kind it cannot describe writes no files');
  });

  test('transformers AutoTokenizer encodes to exactly our ids and decodes back; the chat template renders BOS prompt completion EOS', (t) => {
    const python = process.env.AUTODIDACT_PYTHON;
    if (!python) {
      t.skip('AUTODIDACT_PYTHON is not set: point it at a Python with transformers to compare tokenizations');
      return;
    }
    const dir = join(work, 'checkpoint-python');
    new EngineCore({ kernels: 'ts', model: { dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: 48, seed: 2 } }).save(dir);
    const script = `
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
texts = json.loads(sys.stdin.read())
chat = tok.apply_chat_template([{"role": "user", "content": "1+2="}, {"role": "assistant", "content": "3;"}], tokenize=True, return_dict=True)["input_ids"]
print(json.dumps({"ids": [tok(t)["input_ids"] for t in texts], "decoded": [tok.decode(tok(t)["input_ids"], skip_special_tokens=True) for t in texts], "special": [tok.bos_token_id, tok.eos_token_id, tok.pad_token_id], "chat": chat}))
`;
    const result = spawnSync(python, ['-c', script, dir], { input: JSON.stringify(texts), encoding: 'utf8', timeout: 120_000, env: { ...process.env, HF_HUB_OFFLINE: '1' } });
    assert.equal(result.status, 0, result.stderr.slice(-3000));
    const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { ids: number[][]; decoded: string[]; special: number[]; chat: number[] };
    const ours = new ByteTokenizer();
    assert.deepEqual(out.ids, texts.map((text) => ours.encode(text, { addBos: true })));
    assert.deepEqual(out.decoded, texts);
    assert.deepEqual(out.special, [256, 257, 258]);
    assert.deepEqual(out.chat, [...ours.encode('1+2=3;', { addBos: true }), ours.eosId]);
  });
});
