import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { ApiCallError } from '../../src/errors.js';
import { OpenAIPolicy, type OpenAIPolicyConfig } from '../../src/policies/openai.js';
import type { SamplingOptions } from '../../src/spec/policy.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../../../test/fixtures/openai/${name}`, import.meta.url)), 'utf8');

/** A scripted reply: status, headers, body; `hang` never answers; `delayMs` answers late. */
interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  hang?: boolean;
  delayMs?: number;
}

/**
 * A loopback server that answers each request with the next scripted reply
 * (the last one repeats) and records what it was sent and when.
 */
class ScriptedServer {
  replies: Reply[] = [];
  requests: { path: string; body: Record<string, unknown>; at: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private server: Server;
  private hanging: ServerResponse[] = [];

  constructor() {
    this.server = createServer((req, res) => void this.answer(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  reset(replies: Reply[]): void {
    this.replies = replies;
    this.requests = [];
    this.maxInFlight = 0;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = '';
    for await (const part of req) text += part;
    this.requests.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown>, at: performance.now() });
    const reply = this.replies[Math.min(this.requests.length - 1, this.replies.length - 1)];
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (reply.hang) {
        this.hanging.push(res);
        return;
      }
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
      res.writeHead(reply.status ?? 200, { 'content-type': reply.body?.startsWith('data:') ? 'text/event-stream' : 'application/json', ...reply.headers });
      res.end(reply.body ?? '');
    } finally {
      this.inFlight--;
    }
  }
}

const options = (overrides: Partial<SamplingOptions> = {}): SamplingOptions => ({ n: 1, temperature: 1, maxTokens: 16, seed: 3, ...overrides });

describe('OpenAIPolicy against recorded reply bodies and a loopback server', () => {
  const server = new ScriptedServer();
  let baseUrl: string;
  let warnings: string[] = [];
  const policy = (config: Partial<OpenAIPolicyConfig> = {}) => new OpenAIPolicy({ baseUrl, model: 'm', maxRetries: 2, timeoutMs: 5000, ...config }, { warn: (message) => warnings.push(message) });

  before(async () => {
    baseUrl = await server.start();
  });
  after(() => server.stop());
  afterEach(() => {
    warnings = [];
  });

  it('completions (vLLM, token ids): translates the request and parses ids, logprobs, finish reasons and usage', async () => {
    server.reset([{ body: fixture('vllm-completions-logprobs.json') }]);
    const p = policy({ prices: { prompt: 1, completion: 2 } });
    const [[a, b]] = await p.sample(['What is 6*7?'], options({ n: 2, stop: ['\n'], topP: 0.9 }));
    assert.deepEqual(server.requests[0].body, { model: 'm', prompt: 'What is 6*7?', n: 2, temperature: 1, top_p: 0.9, max_tokens: 16, seed: 3, stop: ['\n'], logprobs: 1, return_tokens_as_token_ids: true });
    assert.equal(server.requests[0].path, '/v1/completions');
    assert.deepEqual(a, { text: '42', tokens: [52, 50], logprobs: [-0.0123, -0.4567], finishReason: 'stop' });
    assert.equal(b.finishReason, 'length');
    assert.deepEqual(b.tokens, [52, 49, 32, 97, 110, 100]);
    assert.deepEqual(p.usage, { requests: 1, httpAttempts: 1, promptTokens: 7, completionTokens: 8, costUsd: (7 * 1 + 8 * 2) / 1e6 });
    assert.deepEqual(warnings, []);
  });

  it('chat (OpenAI): token strings, not ids, give a single warning; the fingerprint tags completions only when asked', async () => {
    server.reset([{ body: fixture('openai-chat-logprobs.json') }]);
    const p = policy({ api: 'chat', systemPrompt: 'Be brief.' });
    const groups = await p.sample(['Say hi', 'Say hi again'], options());
    assert.equal(server.requests[0].path, '/v1/chat/completions');
    assert.deepEqual(server.requests[0].body.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hi' }]);
    assert.equal(server.requests[0].body.logprobs, true);
    // OpenAI's fingerprint is a build id, not our weights' version: not taken as one unless asked.
    for (const [completion] of groups) assert.deepEqual(completion, { text: 'Hi!', tokens: [], logprobs: [-0.31725305, -0.02380986], finishReason: 'stop' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /token strings, not ids/);
    const [[tagged]] = await policy({ api: 'chat', fingerprintIsVersion: true }).sample(['Say hi'], options());
    assert.equal(tagged.policyVersion, 'fp_0ba0d124f1');
  });

  it('streamed chat and streamed completions add up chunk by chunk', async () => {
    server.reset([{ body: fixture('openai-chat-stream.sse') }]);
    const chat = policy({ api: 'chat', stream: true });
    const [[c]] = await chat.sample(['x'], options());
    assert.equal(server.requests[0].body.stream, true);
    assert.deepEqual(server.requests[0].body.stream_options, { include_usage: true });
    assert.equal(c.text, 'Hello');
    assert.deepEqual(c.logprobs, [-0.5, -0.25]);
    assert.equal(c.finishReason, 'length');
    assert.equal(chat.usage.completionTokens, 2);

    server.reset([{ body: fixture('vllm-completions-stream.sse') }]);
    const completions = policy({ stream: true });
    const [[a, b]] = await completions.sample(['x'], options({ n: 2 }));
    assert.deepEqual(a, { text: '42', tokens: [52, 50], logprobs: [-0.0123, -0.4567], finishReason: 'stop' });
    assert.deepEqual(b, { text: '41', tokens: [52, 49], logprobs: [-0.0123, -1.25], finishReason: 'length' });
    assert.equal(completions.usage.promptTokens, 7);
  });

  it('a server that ignores n (llama.cpp) is asked again with the next seeds; missing logprobs warn once', async () => {
    server.reset([{ body: fixture('llamacpp-completions.json') }]);
    const p = policy();
    const [group] = await p.sample(['x'], options({ n: 3, seed: 10 }));
    assert.equal(group.length, 3);
    assert.deepEqual(server.requests.map((r) => [r.body.n, r.body.seed]), [[3, 10], [2, 11], [1, 12]]);
    assert.ok(group.every((c) => c.text === '42' && c.tokens.length === 0 && c.logprobs.length === 0 && c.policyVersion === undefined));
    assert.equal(warnings.filter((w) => /ignores `n`/.test(w)).length, 1);
    assert.equal(warnings.filter((w) => /no logprobs/.test(w)).length, 1);
  });

  it('each prompt of a call gets its own seed (the first keeps the call\'s), so no two share a random stream', async () => {
    server.reset([{ body: fixture('vllm-completions-logprobs.json') }]);
    await policy().sample(['a', 'a', 'b'], options({ n: 2, seed: 7 }));
    const seeds = server.requests.map((r) => [r.body.prompt, r.body.seed]).sort((x, y) => String(x[1]).localeCompare(String(y[1])));
    assert.equal(new Set(seeds.map((x) => x[1])).size, 3);
    assert.ok(server.requests.some((r) => r.body.seed === 7));
  });

  it('prompt lists: one request per chunk; a server that does not take them is remembered and sent one prompt at a time', async () => {
    // A server answering any request with two choices: right for one prompt with n = 2, wrong for a list of three.
    server.reset([{ body: fixture('vllm-completions-logprobs.json') }]);
    const p = policy({ promptsPerRequest: 3 });
    const groups = await p.sample(['a', 'b', 'c'], options({ n: 2 }));
    assert.equal(groups.length, 3);
    assert.deepEqual(server.requests[0].body.prompt, ['a', 'b', 'c']);
    assert.equal(server.requests.length, 4);
    assert.ok(warnings.some((w) => /does not take prompt lists/.test(w)));
    await p.sample(['d', 'e'], options({ n: 2 }));
    assert.deepEqual(server.requests.slice(4).map((r) => r.body.prompt).sort(), ['d', 'e']);
  });

  it('429 with Retry-After: waits that long, then succeeds', async () => {
    server.reset([{ status: 429, headers: { 'retry-after': '1' }, body: fixture('openai-error-429.json') }, { body: fixture('vllm-completions-logprobs.json') }]);
    const p = policy();
    const [[a]] = await p.sample(['x'], options());
    assert.equal(a.text, '42');
    assert.equal(server.requests.length, 2);
    const waited = server.requests[1].at - server.requests[0].at;
    assert.ok(waited >= 950, `retried after ${waited.toFixed(0)} ms; Retry-After asked for 1000`);
    assert.equal(p.usage.httpAttempts, 2);
  });

  it('5xx is retried with backoff; when retries run out the error is ApiCallError, retryable, with the status', async () => {
    server.reset([{ status: 503, headers: { 'retry-after-ms': '10' }, body: '{"error":{"message":"overloaded","type":"server_error"}}' }]);
    const p = policy({ maxRetries: 2 });
    await assert.rejects(p.sample(['x'], options()), (error: unknown) => error instanceof ApiCallError && error.status === 503 && error.isRetryable && /after 2 retries/.test(error.message));
    assert.equal(server.requests.length, 3);
  });

  it('400 is not retried; its message reaches the error (OpenAI and vLLM error bodies)', async () => {
    for (const body of [fixture('vllm-error-400.json'), '{"error":{"message":"Invalid value for temperature","type":"invalid_request_error","param":"temperature","code":null}}']) {
      server.reset([{ status: 400, body }]);
      await assert.rejects(policy().sample(['x'], options()), (error: unknown) => error instanceof ApiCallError && error.status === 400 && !error.isRetryable && /(maximum context length|Invalid value for temperature)/.test(error.message));
      assert.equal(server.requests.length, 1);
    }
  });

  it('a server that refuses return_tokens_as_token_ids: the field is dropped with a warning and the request sent again', async () => {
    server.reset([{ status: 400, body: fixture('openai-error-400.json') }, { body: fixture('openai-chat-logprobs.json') }]);
    const p = policy({ api: 'chat' });
    const [[c]] = await p.sample(['x'], options());
    assert.equal(c.text, 'Hi!');
    assert.equal(server.requests[0].body.return_tokens_as_token_ids, true);
    assert.equal(server.requests[1].body.return_tokens_as_token_ids, undefined);
    assert.ok(warnings.some((w) => /refuses `return_tokens_as_token_ids`/.test(w)));
    await p.sample(['y'], options());
    assert.equal(server.requests[2].body.return_tokens_as_token_ids, undefined);
  });

  it('per-request timeouts are retried, then reported', async () => {
    server.reset([{ hang: true }]);
    const p = policy({ timeoutMs: 150, maxRetries: 1 });
    const started = performance.now();
    await assert.rejects(p.sample(['x'], options()), (error: unknown) => error instanceof ApiCallError && error.isRetryable && /timed out after 150 ms/.test(error.message));
    assert.equal(server.requests.length, 2);
    assert.ok(performance.now() - started >= 300);
  });

  it('connection errors are retryable ApiCallErrors that say so', async () => {
    const closed = new OpenAIPolicy({ baseUrl: 'http://127.0.0.1:9/v1', model: 'm', maxRetries: 0 });
    await assert.rejects(closed.sample(['x'], options()), (error: unknown) => error instanceof ApiCallError && error.isRetryable && /connection failed/.test(error.message));
  });

  it('abort: a signal cancels requests in flight, and close() aborts everything', async () => {
    server.reset([{ hang: true }]);
    const p = policy();
    const controller = new AbortController();
    const pending = p.sample(['x'], options(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(pending, /request aborted/);
    const second = p.sample(['x'], options());
    setTimeout(() => p.close(), 50);
    await assert.rejects(second, /request aborted/);
  });

  it('bounded concurrency: never more requests in flight than configured', async () => {
    server.reset([{ delayMs: 60, body: fixture('vllm-completions-logprobs.json') }]);
    const p = policy({ concurrency: 2 });
    const groups = await p.sample(['a', 'b', 'c', 'd', 'e', 'f'], options());
    assert.equal(groups.length, 6);
    assert.equal(server.maxInFlight, 2);
    assert.equal(p.usage.requests, 6);
  });

  it('a malformed reply is an error naming the field', async () => {
    server.reset([{ body: '{"id":"x","object":"text_completion"}' }]);
    await assert.rejects(policy().sample(['x'], options()), (error: unknown) => error instanceof ApiCallError && /malformed reply: `choices`/.test(error.message));
  });

  it('config errors name the field', () => {
    assert.throws(() => new OpenAIPolicy({ baseUrl: 'not a url', model: 'm' }), /sampler\.baseUrl/);
    assert.throws(() => new OpenAIPolicy({ baseUrl, model: 'm', concurency: 2 } as unknown as OpenAIPolicyConfig), /concurency/);
  });
});
