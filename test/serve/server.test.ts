import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import { ModelServer } from '../../src/serve/server.js';

/**
 * `autodidact serve` driven by the official `openai` npm client as an outside
 * client would: models, completions, chat, logprobs, n, seed, streaming,
 * errors, concurrent requests batched together, and weight reloads.
 */
describe('autodidact serve (OpenAI-compatible server)', () => {
  let dir: string;
  let server: ModelServer;
  let client: OpenAI;
  let reference: EmbeddedBackend;
  const model = { vocabSize: 259, dModel: 32, nLayers: 2, nHeads: 2, maxSeqLen: 64, seed: 3, initStd: 0.3 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'autodidact-serve-'));
    reference = await EmbeddedBackend.create({ model });
    await reference.save(join(dir, 'ckpt-a'));
    const other = await EmbeddedBackend.create({ model: { ...model, seed: 4 } });
    await other.save(join(dir, 'ckpt-b'));
    const short = await EmbeddedBackend.create({ model: { ...model, maxSeqLen: 32 } });
    await short.save(join(dir, 'ckpt-short'));
    await short.close();
    await other.close();
    server = await ModelServer.create({ checkpoint: join(dir, 'ckpt-a'), modelName: 'tiny', version: 'v1' });
    const baseURL = await server.listen(0);
    client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await server?.close();
    await reference?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the model', async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['tiny'],
    );
  });

  it('completions: n, seed and logprobs with token ids match the engine sampling the same request', async () => {
    const reply = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 12, n: 3, seed: 7, temperature: 1, logprobs: 2, return_tokens_as_token_ids: true } as OpenAI.CompletionCreateParamsNonStreaming);
    assert.equal(reply.choices.length, 3);
    assert.equal(reply.system_fingerprint, 'v1');
    const [expected] = await reference.sampleRequests([{ prompt: [256, ...Buffer.from('Hello')], options: { n: 3, maxTokens: 12, seed: 7 }, stream: 0 }]);
    reply.choices.forEach((choice, j) => {
      assert.equal(choice.index, j);
      assert.equal(choice.text, expected[j].text);
      const ids = choice.logprobs!.tokens!.map((t) => Number(/^token_id:(\d+)$/.exec(t)![1]));
      assert.deepEqual(ids, expected[j].tokens);
      choice.logprobs!.token_logprobs!.forEach((lp, k) => assert.ok(Math.abs(lp - expected[j].logprobs[k]) < 1e-6));
      // top alternatives: two per token, the most likely first, at least as likely as any other choice.
      for (const top of choice.logprobs!.top_logprobs!) {
        const values = Object.values(top);
        assert.equal(values.length, 2);
        assert.ok(values[0] >= values[1]);
      }
    });
    assert.equal(reply.usage!.prompt_tokens, 6);
    assert.equal(reply.usage!.completion_tokens, expected.reduce((s, seq) => s + seq.tokens.length, 0));
    // Same seed, same completions; another seed, others.
    const again = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 12, n: 3, seed: 7 });
    assert.deepEqual(again.choices.map((c) => c.text), reply.choices.map((c) => c.text));
    const other = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 12, n: 3, seed: 8 });
    assert.notDeepEqual(other.choices.map((c) => c.text), reply.choices.map((c) => c.text));
  });

  it('batches concurrent requests, and a seeded request gives the same completions batched or alone', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `prompt ${i}:`);
    const alone: OpenAI.Completion[] = [];
    for (const prompt of prompts) alone.push(await client.completions.create({ model: 'tiny', prompt, max_tokens: 10, n: 2, seed: 11, temperature: 0.8, top_p: 0.9 }));
    const batchesBefore = server.stats.batches;
    const together = await Promise.all(prompts.map((prompt) => client.completions.create({ model: 'tiny', prompt, max_tokens: 10, n: 2, seed: 11, temperature: 0.8, top_p: 0.9 })));
    const batches = server.stats.batches - batchesBefore;
    console.log(`  8 concurrent requests decoded in ${batches} batch(es); largest batch ${server.stats.largestBatch} requests`);
    assert.ok(batches < 8, `expected concurrent requests to share batches, got ${batches} batches`);
    assert.ok(server.stats.largestBatch > 1);
    together.forEach((reply, i) => assert.deepEqual(reply.choices.map((c) => c.text), alone[i].choices.map((c) => c.text)));
  });

  it('several prompts in one request: choices are ordered prompt by prompt', async () => {
    const reply = await client.completions.create({ model: 'tiny', prompt: ['ab', 'cd'], max_tokens: 5, n: 2, seed: 1 });
    assert.deepEqual(reply.choices.map((c) => c.index), [0, 1, 2, 3]);
    const single = await client.completions.create({ model: 'tiny', prompt: 'ab', max_tokens: 5, n: 2, seed: 1 });
    assert.deepEqual(reply.choices.slice(0, 2).map((c) => c.text), single.choices.map((c) => c.text));
  });

  it('streams completions: the deltas add up to the unstreamed text, stop strings cut in both', async () => {
    const body = { model: 'tiny', prompt: 'Stream me', max_tokens: 30, n: 2, seed: 5, stop: ['e'] };
    const whole = await client.completions.create(body);
    const stream = await client.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    const texts = ['', ''];
    const finish: (string | null)[] = [null, null];
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      for (const c of chunk.choices) {
        texts[c.index] += c.text;
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.deepEqual(texts, whole.choices.map((c) => c.text));
    assert.deepEqual(finish, whole.choices.map((c) => c.finish_reason));
    for (const text of texts) assert.ok(!text.includes('e'));
    assert.deepEqual(usage, whole.usage);
    assert.ok(chunks > 2);
  });

  it('streaming cuts a stop string that fires exactly as the whole reply does (nothing of it leaks)', async () => {
    const free = await client.completions.create({ model: 'tiny', prompt: 'Stream me', max_tokens: 40, seed: 5 });
    // A stop string the model really writes: the first ASCII character after the first few.
    const chars = [...free.choices[0].text];
    const ascii = (c: string | undefined) => c !== undefined && /[ -~]/.test(c);
    const one = chars.findIndex((c, i) => i >= 3 && ascii(c));
    const two = chars.findIndex((c, i) => i >= 3 && ascii(c) && ascii(chars[i + 1]));
    assert.ok(one >= 0 && two >= 0, `no ASCII characters to stop at in ${JSON.stringify(chars.join(''))}`);
    for (const stop of [chars[one], chars[two] + chars[two + 1]]) {
      const body = { model: 'tiny', prompt: 'Stream me', max_tokens: 40, seed: 5, stop: [stop] };
      const whole = await client.completions.create(body);
      assert.equal(whole.choices[0].finish_reason, 'stop', `stop ${JSON.stringify(stop)} should fire`);
      let streamed = '';
      for await (const chunk of await client.completions.create({ ...body, stream: true })) streamed += chunk.choices[0]?.text ?? '';
      assert.equal(streamed, whole.choices[0].text);
      assert.ok(!streamed.includes(stop));
    }
  });

  it('refuses a request larger than --max-batch, naming n', async () => {
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: ['a', 'b', 'c'], n: 128, max_tokens: 2 }), (error: unknown) => error instanceof OpenAI.BadRequestError && /384 sequences/.test(error.message));
    // Streamed too: refused before the event stream starts, so the client sees a 400, not an error event.
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: ['a', 'b', 'c'], n: 128, max_tokens: 2, stream: true }), (error: unknown) => error instanceof OpenAI.BadRequestError && /384 sequences/.test(error.message));
  });

  it('drops a queued request whose client has gone', async () => {
    const dropped = server.stats.dropped;
    const busy = client.completions.create({ model: 'tiny', prompt: Array.from({ length: 4 }, (_, i) => `busy ${i}`), n: 64, max_tokens: 40, seed: 1 });
    const controller = new AbortController();
    const gone = client.completions.create({ model: 'tiny', prompt: 'never mind', max_tokens: 5 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(gone);
    await busy;
    await client.completions.create({ model: 'tiny', prompt: 'after', max_tokens: 2 });
    assert.equal(server.stats.dropped, dropped + 1);
  });

  it('chat completions, plain and streamed, with logprobs', async () => {
    const body = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 8, seed: 2, logprobs: true, top_logprobs: 3 };
    const reply = await client.chat.completions.create(body);
    const choice = reply.choices[0];
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.logprobs!.content!.length, reply.usage!.completion_tokens);
    for (const entry of choice.logprobs!.content!) {
      assert.equal(entry.top_logprobs.length, 3);
      assert.ok(entry.logprob <= entry.top_logprobs[0].logprob + 1e-6);
    }
    // A lone user message is the prompt as it is: chat and completions agree.
    const plain = await client.completions.create({ model: 'tiny', prompt: 'Hi', max_tokens: 8, seed: 2 });
    assert.equal(choice.message.content, plain.choices[0].text);
    const stream = await client.chat.completions.create({ ...body, stream: true });
    let text = '';
    let roles = 0;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        if (c.delta.role) roles++;
      }
    }
    assert.equal(text, choice.message.content);
    assert.equal(roles, 1);
    // Every choice opens with its role chunk, even one whose reply is empty (openai-node's stream helper requires it).
    const empty = await client.chat.completions.create({ ...body, n: 3, max_tokens: 1, stop: ['\u0000'], stream: true });
    const opened = new Set<number>();
    for await (const chunk of empty) for (const c of chunk.choices) if (c.delta.role === 'assistant') opened.add(c.index);
    assert.deepEqual([...opened].sort(), [0, 1, 2]);
  });

  it('refuses bad requests with OpenAI error bodies that name the parameter', async () => {
    await assert.rejects(client.completions.create({ model: 'nope', prompt: 'x' }), (error: unknown) => error instanceof OpenAI.NotFoundError && /nope/.test(error.message));
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: 'x', n: 0 }), (error: unknown) => error instanceof OpenAI.BadRequestError && /`n`/.test(error.message));
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: 'x'.repeat(100) }), (error: unknown) => error instanceof OpenAI.BadRequestError && /context is 64 tokens/.test(error.message));
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: 'x', presence_penalty: 1 }), (error: unknown) => error instanceof OpenAI.BadRequestError && /presence_penalty/.test(error.message));
    await assert.rejects(client.completions.create({ model: 'tiny', prompt: [[1, 2, 999]] }), (error: unknown) => error instanceof OpenAI.BadRequestError && /token id 999/.test(error.message));
  });

  it('reloads weights from disk; replies carry the new version', async () => {
    const before = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 12, seed: 9 });
    const response = await fetch(client.baseURL.replace(/\/v1$/, '/update_weights_from_disk'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model_path: join(dir, 'ckpt-b'), version: 'v2' }) });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { success: true, message: `loaded ${join(dir, 'ckpt-b')}`, version: 'v2' });
    const afterReload = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 12, seed: 9 });
    assert.equal(afterReload.system_fingerprint, 'v2');
    assert.notEqual(afterReload.choices[0].text, before.choices[0].text);
    // A checkpoint of another shape is refused before anything loads: the served weights and version stay.
    const refused = await fetch(client.baseURL.replace(/\/v1$/, '/update_weights_from_disk'), { method: 'POST', body: JSON.stringify({ model_path: join(dir, 'ckpt-short'), version: 'v3' }) });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { message: string }).message, /context 32; the served model has 259, 64/);
    const still = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 12, seed: 9 });
    assert.equal(still.system_fingerprint, 'v2');
    assert.equal(still.choices[0].text, afterReload.choices[0].text);
    const missing = await fetch(client.baseURL.replace(/\/v1$/, '/update_weights_from_disk'), { method: 'POST', body: JSON.stringify({ model_path: join(dir, 'none') }) });
    assert.equal(missing.status, 400);
    assert.match(((await missing.json()) as { message: string }).message, /no config.json/);
  });
});
