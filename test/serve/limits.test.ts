import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePort, serveCommand } from '../../src/cli/serve.js';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import { ByteTokenizer } from '../../src/engine/tokenizer.js';
import { CheckpointFormatError, InvalidArgumentError } from '../../src/errors.js';
import { completionRequestSchema, limits, parseRequest, RequestError } from '../../src/serve/protocol.js';
import { ModelServer } from '../../src/serve/server.js';

/**
 * Hostile and oversized input: every bound in `limits` (and the model's
 * context and batch) is refused with a 4xx naming the parameter, before the
 * server does work in proportion to the input; bad checkpoints and ports are
 * errors with messages, not stack traces.
 */
describe('autodidact serve: limits and hostile input', () => {
  let dir: string;
  let server: ModelServer;
  let base: string;
  const context = 64;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'autodidact-serve-limits-'));
    const backend = await EmbeddedBackend.create({ model: { vocabSize: 259, dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: context, seed: 1, initStd: 0.3 } });
    await backend.save(join(dir, 'ckpt'));
    await backend.close();
    server = await ModelServer.create({ checkpoint: join(dir, 'ckpt'), modelName: 'tiny' });
    base = (await server.listen(0)).replace(/\/v1$/, '');
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as { error?: { message: string; param: string | null }; message?: string } };
  };

  /** Calls `fn` with ByteTokenizer.encode counting the characters it is given. */
  const countingEncoded = async (fn: () => Promise<void>): Promise<number> => {
    const encode = ByteTokenizer.prototype.encode;
    let characters = 0;
    ByteTokenizer.prototype.encode = function (this: ByteTokenizer, text: string, options?: { addBos?: boolean }) {
      characters += text.length;
      return encode.call(this, text, options);
    };
    try {
      await fn();
    } finally {
      ByteTokenizer.prototype.encode = encode;
    }
    return characters;
  };

  it('refuses a 7 MB prompt (under the body cap) by its byte length, without tokenizing it', async () => {
    const prompt = 'x'.repeat(7_000_000);
    const encoded = await countingEncoded(async () => {
      const completion = await post('/v1/completions', { prompt, max_tokens: 1 });
      assert.equal(completion.status, 400);
      assert.equal(completion.body.error!.param, 'prompt');
      assert.match(completion.body.error!.message, /7000001 tokens; this model's context is 64 tokens/);
      const chat = await post('/v1/chat/completions', { messages: [{ role: 'user', content: prompt }], max_tokens: 1 });
      assert.equal(chat.status, 400);
      assert.equal(chat.body.error!.param, 'messages');
    });
    assert.equal(encoded, 0, 'an over-long prompt was tokenized before its length was checked');
    // A prompt that fits is still encoded and served.
    const fits = await post('/v1/completions', { prompt: 'x'.repeat(context - 2), max_tokens: 1 });
    assert.equal(fits.status, 200);
  });

  it('refuses a token-id prompt longer than the context, and more prompts than the batch, on their lengths', async () => {
    const ids = await post('/v1/completions', { prompt: Array.from({ length: 1_000_000 }, () => 65), max_tokens: 1 });
    assert.equal(ids.status, 400);
    assert.equal(ids.body.error!.param, 'prompt');
    assert.match(ids.body.error!.message, /at most 63 token ids: this model's context is 64 tokens/);
    const many = await post('/v1/completions', { prompt: Array.from({ length: 100_000 }, () => 'a'), max_tokens: 1 });
    assert.equal(many.status, 400);
    assert.match(many.body.error!.message, /at most 256 prompts/);
    // Within the prompt count but over the batch with n: refused before any prompt is encoded.
    const encoded = await countingEncoded(async () => {
      const wide = await post('/v1/completions', { prompt: Array.from({ length: 200 }, () => 'a'), n: 2, max_tokens: 1 });
      assert.equal(wide.status, 400);
      assert.match(wide.body.error!.message, /400 sequences/);
    });
    assert.equal(encoded, 0);
  });

  it('reads no element of a list longer than its bound (bounded work, whatever the length)', () => {
    // A list that counts reads of its elements: the schema must refuse it on its length alone.
    let reads = 0;
    const huge = (length: number, element: unknown) =>
      new Proxy([element], {
        get(target, key, receiver) {
          if (key === 'length') return length;
          if (typeof key === 'string' && /^\d+$/.test(key)) {
            reads++;
            return element;
          }
          return Reflect.get(target, key, receiver);
        },
      });
    const schema = completionRequestSchema({ context, maxBatch: 256 });
    for (const body of [{ prompt: huge(1_000_000, 7) }, { prompt: huge(1_000_000, 'a') }, { prompt: [huge(1_000_000, 7)] }, { prompt: 'x', stop: huge(125_000, 'a') }]) {
      reads = 0;
      assert.throws(() => parseRequest(schema, body), RequestError);
      assert.ok(reads <= 2, `${reads} element reads of a list refused for its length`);
    }
  });

  it('caps the stop list: 125,000 stop strings are a 400 naming `stop`, streamed or not; the cap itself is served', async () => {
    const stop = Array.from({ length: 125_000 }, (_, i) => String.fromCharCode(33 + (i % 90)));
    for (const stream of [false, true]) {
      const reply = await post('/v1/completions', { prompt: '12+34=', max_tokens: 40, stream, stop });
      assert.equal(reply.status, 400, `stream: ${stream}`);
      assert.match(reply.type ?? '', /application\/json/);
      assert.equal(reply.body.error!.param, 'stop');
      assert.match(reply.body.error!.message, new RegExp(`at most ${limits.stopStrings} stop strings`));
    }
    const long = await post('/v1/completions', { prompt: '12+34=', stop: ['y'.repeat(limits.stopLength + 1)] });
    assert.equal(long.status, 400);
    assert.equal(long.body.error!.param, 'stop.0');
    // Exactly the cap, each string as long as allowed, streams to the end.
    const atCap = Array.from({ length: limits.stopStrings }, (_, i) => String.fromCharCode(65 + i).repeat(limits.stopLength));
    const response = await fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: '12+34=', max_tokens: 20, stream: true, stop: atCap }) });
    assert.equal(response.status, 200);
    const events = await response.text();
    assert.doesNotMatch(events, /"error"/);
    assert.match(events, /data: \[DONE\]\n\n$/);
  });

  it('refuses seeds outside the 32 bits the sampler honours, instead of repeating another seed', async () => {
    for (const seed of [2 ** 32, -1, 2 ** 40]) {
      const reply = await post('/v1/completions', { prompt: 'Hi', max_tokens: 4, seed });
      assert.equal(reply.status, 400, `seed ${seed}`);
      assert.equal(reply.body.error!.param, 'seed');
      assert.match(reply.body.error!.message, /0 to 4294967295/);
    }
    for (const seed of [0, 2 ** 32 - 1]) assert.equal((await post('/v1/completions', { prompt: 'Hi', max_tokens: 4, seed })).status, 200);
  });

  it('a checkpoint whose JSON files do not parse is refused naming the file: at start, and as a 400 from update_weights_from_disk', async () => {
    for (const file of ['config.json', 'autodidact.json']) {
      const bad = join(dir, `bad-${file}`);
      cpSync(join(dir, 'ckpt'), bad, { recursive: true });
      writeFileSync(join(bad, file), '{"vocab_size": 259,');
      await assert.rejects(ModelServer.create({ checkpoint: bad }), (error: unknown) => error instanceof CheckpointFormatError && error.message.includes(join(bad, file)) && /is not a JSON object/.test(error.message));
      const reply = await post('/update_weights_from_disk', { model_path: bad });
      assert.equal(reply.status, 400);
      assert.ok(reply.body.message!.startsWith(`Bad checkpoint at ${join(bad, file)}: is not a JSON object (`), reply.body.message);
    }
  });

  it('--port takes 0 to 65535 and nothing else', () => {
    for (const value of ['0', '8000', '65535']) assert.equal(parsePort(value), Number(value));
    for (const value of ['abc', '70000', '-5', '12abc', '', '1e3', '80.5']) assert.throws(() => parsePort(value), (error: unknown) => error instanceof InvalidArgumentError && error.argument === '--port' && error.message.includes(`"${value}"`));
  });

  it('a port already in use is an error naming --port, not a stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
    const port = (taken.address() as { port: number }).port;
    try {
      await assert.rejects(serveCommand(join(dir, 'ckpt'), { port, host: '127.0.0.1', maxBatch: 8, quiet: true }), (error: unknown) => error instanceof InvalidArgumentError && error.argument === '--port' && error.message.includes(`127.0.0.1:${port} is already in use`));
    } finally {
      taken.close();
    }
  });
});
