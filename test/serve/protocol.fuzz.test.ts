import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { EmbeddedBackend } from '../../src/engine/backend.js';
import { chatRequestSchema, completionRequestSchema, limits, parseRequest, refuseUnsupported, RequestError } from '../../src/serve/protocol.js';
import { ModelServer } from '../../src/serve/server.js';

/**
 * Property-based fuzzing of the server's request handling, so the next
 * hostile-input defect is found here rather than by a user. Bounded for CI: a
 * fixed number of runs per property (a few seconds in all). fast-check prints
 * the seed and shrunk counterexample of a failure; AUTODIDACT_FUZZ_SEED=<seed>
 * replays it.
 */
const replay = process.env.AUTODIDACT_FUZZ_SEED ? { seed: Number(process.env.AUTODIDACT_FUZZ_SEED) } : {};
const context = 64;
const maxBatch = 8;
const bounds = { context, maxBatch };

/** Characters that matter to a byte tokenizer and a stop-string matcher: ASCII, multi-byte, astral, and lone surrogates. */
const character = fc.oneof(fc.constantFrom('a', '1', '+', '=', ';', '\n', ' ', 'é', '€', '😀', '\u0000'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)));
const text = (maxLength: number) => fc.string({ unit: character, maxLength });
const tokenIds = (maxLength: number) => fc.array(fc.integer({ min: 0, max: 258 }), { minLength: 1, maxLength });

const sampling = {
  max_tokens: fc.integer({ min: 1, max: 8 }),
  n: fc.integer({ min: 1, max: 3 }),
  temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true })),
  top_p: fc.option(fc.double({ min: 0.01, max: 1, noNaN: true })),
  stop: fc.option(fc.oneof(text(3), fc.array(text(3), { maxLength: limits.stopStrings }))),
  seed: fc.integer({ min: limits.seed.min, max: limits.seed.max }),
  stream: fc.boolean(),
};

const completionRequest = fc.record(
  {
    ...sampling,
    prompt: fc.oneof(text(40), tokenIds(40), fc.array(text(20), { minLength: 1, maxLength: 3 }), fc.array(tokenIds(20), { minLength: 1, maxLength: 3 })),
    logprobs: fc.option(fc.integer({ min: 0, max: 3 })),
  },
  { requiredKeys: ['prompt', 'seed', 'max_tokens'] },
);

const content = fc.option(fc.oneof(text(20), fc.array(fc.record({ type: fc.constant('text'), text: text(10) }), { maxLength: 3 })));
const chatRequest = fc.record(
  {
    ...sampling,
    messages: fc.array(fc.record({ role: fc.constantFrom('system', 'developer', 'user', 'assistant'), content }), { minLength: 1, maxLength: 3 }),
    logprobs: fc.option(fc.boolean()),
    top_logprobs: fc.option(fc.integer({ min: 0, max: 3 })),
  },
  { requiredKeys: ['messages', 'seed', 'max_tokens'] },
);

/** A valid request with one field replaced by arbitrary JSON (or removed), or one nested value replaced. */
function mutated(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  const keys = ['prompt', 'messages', 'n', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'seed', 'stream', 'stream_options', 'logprobs', 'top_logprobs', 'logit_bias', 'best_of', 'echo', 'model', 'tools', 'response_format'];
  const value = fc.oneof(fc.jsonValue(), fc.constantFrom(undefined, null, -1, 0, 2 ** 32, 1e308, -0.5, '', [], {}, [[]], [''], [-1], [259], [1.5]));
  return fc.tuple(valid, fc.constantFrom(...keys), value).map(([request, key, replacement]) => {
    const body: Record<string, unknown> = { ...request };
    if (replacement === undefined) delete body[key];
    else body[key] = replacement;
    return body;
  });
}

const schemas = { completion: completionRequestSchema(bounds), chat: chatRequestSchema(bounds) };

/** Parses as the server does; returns the request or the RequestError, and fails on anything else thrown. */
function parse(kind: 'completion' | 'chat', body: unknown): { request: unknown } | { error: RequestError } {
  try {
    const request = parseRequest(schemas[kind], body);
    refuseUnsupported(request);
    return { request };
  } catch (error) {
    if (!(error instanceof RequestError)) throw error;
    return { error };
  }
}

/** A refusal is a 400 whose message names the parameter (or the body) it is about. */
function assertRefusal(error: RequestError): void {
  assert.equal(error.status, 400, error.message);
  assert.match(error.message, /^`[^`]+`/, error.message);
  assert.equal(error.body().error.param, error.param);
}

describe('autodidact serve: request parsing (property-based)', () => {
  it('any JSON body parses to a request or is refused with a 400 naming a parameter', () => {
    fc.assert(
      fc.property(fc.constantFrom<'completion' | 'chat'>('completion', 'chat'), fc.jsonValue(), (kind, body) => {
        const result = parse(kind, body);
        if ('error' in result) assertRefusal(result.error);
      }),
      { numRuns: 500, ...replay },
    );
  });

  it('a mutated valid request parses or is refused with a 400 naming a parameter', () => {
    fc.assert(
      fc.property(fc.oneof(mutated(completionRequest).map((body) => ['completion', body] as const), mutated(chatRequest).map((body) => ['chat', body] as const)), ([kind, body]) => {
        const result = parse(kind, body);
        if ('error' in result) assertRefusal(result.error);
      }),
      { numRuns: 500, ...replay },
    );
  });

  it('a valid request parses', () => {
    fc.assert(
      fc.property(fc.oneof(completionRequest.map((body) => ['completion', body] as const), chatRequest.map((body) => ['chat', body] as const)), ([kind, body]) => {
        const result = parse(kind, body);
        assert.ok('request' in result, 'error' in result ? result.error.message : '');
      }),
      { numRuns: 300, ...replay },
    );
  });

  it('a list is refused on its length: reading it costs a bounded number of element reads, however long it is', () => {
    // Lists that fabricate their elements: a length of 10⁹ costs no memory, and every element read is counted.
    const lists = (length: number, element: unknown, counter: { reads: number }) =>
      new Proxy([element], {
        get(target, key, receiver) {
          if (key === 'length') return length;
          if (typeof key === 'string' && /^\d+$/.test(key)) {
            counter.reads++;
            return element;
          }
          return Reflect.get(target, key, receiver);
        },
      });
    const places: Record<string, (list: unknown[]) => ['completion' | 'chat', unknown]> = {
      prompt: (list) => ['completion', { prompt: list }],
      'prompt[0]': (list) => ['completion', { prompt: [list] }],
      stop: (list) => ['completion', { prompt: 'x', stop: list }],
      messages: (list) => ['chat', { messages: list }],
      content: (list) => ['chat', { messages: [{ role: 'user', content: list }] }],
    };
    const elements = fc.constantFrom<unknown>(7, 'a', [1], { role: 'user', content: 'a' }, { type: 'text', text: 'a' });
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(places)), fc.integer({ min: 300, max: 1e9 }), elements, (place, length, element) => {
        const counter = { reads: 0 };
        const [kind, body] = places[place](lists(length, element, counter));
        const result = parse(kind, body);
        assert.ok('error' in result, `a ${length}-element ${place} was accepted`);
        assertRefusal(result.error);
        assert.ok(counter.reads <= 2, `${counter.reads} element reads of a ${length}-element ${place}`);
      }),
      { numRuns: 200, ...replay },
    );
  });

  it('unknown fields, and the entries of an object the server refuses unless empty, are not read', () => {
    // Objects with `width` extra keys that count reads of them (a copy would read each).
    const wide = (width: number, counter: { reads: number }, known: Record<string, unknown> = {}) =>
      new Proxy(known, {
        ownKeys: (target) => [...Reflect.ownKeys(target), ...Array.from({ length: width }, (_, i) => `extra${i}`)],
        getOwnPropertyDescriptor: (target, key) => (typeof key === 'string' && key.startsWith('extra') ? { value: 0, enumerable: true, configurable: true, writable: true } : Reflect.getOwnPropertyDescriptor(target, key)),
        has: (target, key) => (typeof key === 'string' && key.startsWith('extra')) || Reflect.has(target, key),
        get(target, key, receiver) {
          if (typeof key === 'string' && key.startsWith('extra')) {
            counter.reads++;
            return 0;
          }
          return Reflect.get(target, key, receiver);
        },
      });
    const places: Record<string, (counter: { reads: number }, width: number) => ['completion' | 'chat', unknown]> = {
      body: (counter, width) => ['completion', wide(width, counter, { prompt: 'x' })],
      message: (counter, width) => ['chat', { messages: [wide(width, counter, { role: 'user', content: 'x' })] }],
      'content part': (counter, width) => ['chat', { messages: [{ role: 'user', content: [wide(width, counter, { type: 'text', text: 'x' })] }] }],
      stream_options: (counter, width) => ['completion', { prompt: 'x', stream_options: wide(width, counter) }],
      logit_bias: (counter, width) => ['completion', { prompt: 'x', logit_bias: wide(width, counter) }],
    };
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(places)), fc.integer({ min: 1, max: 20_000 }), (place, width) => {
        const counter = { reads: 0 };
        const [kind, body] = places[place](counter, width);
        const result = parse(kind, body);
        if ('error' in result) assertRefusal(result.error);
        assert.equal(counter.reads, 0, `${counter.reads} reads of ${width} extra keys in the ${place}`);
      }),
      { numRuns: 50, ...replay },
    );
  });
});

describe('autodidact serve: requests and replies round-trip through a loopback server (property-based)', () => {
  let dir: string;
  let server: ModelServer;
  let base: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'autodidact-serve-fuzz-'));
    const backend = await EmbeddedBackend.create({ model: { vocabSize: 259, dModel: 16, nLayers: 1, nHeads: 2, maxSeqLen: context, seed: 2, initStd: 0.3 } });
    await backend.save(join(dir, 'ckpt'));
    await backend.close();
    server = await ModelServer.create({ checkpoint: join(dir, 'ckpt'), modelName: 'tiny', maxBatchSequences: maxBatch });
    base = (await server.listen(0)).replace(/\/v1$/, '');
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (kind: 'completion' | 'chat', body: unknown) => {
    const response = await fetch(`${base}/v1/${kind === 'completion' ? 'completions' : 'chat/completions'}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
  };

  /** The texts of a streamed reply's choices, checking it is well formed: no error event, ends with [DONE]. */
  const streamed = (events: string): string[] => {
    assert.match(events, /data: \[DONE\]\n\n$/);
    const texts: string[] = [];
    for (const line of events.split('\n\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const chunk = JSON.parse(line.slice(6)) as { error?: unknown; choices: { index: number; text?: string; delta?: { content?: string } }[] };
      assert.equal(chunk.error, undefined, line);
      for (const choice of chunk.choices) texts[choice.index] = (texts[choice.index] ?? '') + (choice.text ?? choice.delta?.content ?? '');
    }
    return texts;
  };

  /** Whether the served model takes a valid request: every prompt leaves room in the context, and the sequences fit the batch. */
  const fits = (kind: 'completion' | 'chat', body: Record<string, unknown>): boolean => {
    const length = (prompt: unknown) => (typeof prompt === 'string' ? 1 + Buffer.byteLength(prompt) : (prompt as number[]).length);
    if (kind === 'chat') {
      const messages = body.messages as { role: string; content: string | { text: string }[] | null }[];
      const textOf = (c: (typeof messages)[number]['content']) => (typeof c === 'string' ? c : (c ?? []).map((p) => p.text).join(''));
      const rendered = messages.length === 1 && messages[0].role === 'user' ? textOf(messages[0].content) : messages.map((m) => `${m.role === 'developer' ? 'system' : m.role}: ${textOf(m.content)}\n`).join('') + 'assistant: ';
      return length(rendered) < context && (body.n as number | undefined ?? 1) <= maxBatch;
    }
    const prompt = body.prompt;
    const prompts = typeof prompt === 'string' || typeof (prompt as unknown[])[0] === 'number' ? [prompt] : (prompt as unknown[]);
    return prompts.every((p) => length(p) < context) && prompts.length * ((body.n as number | undefined) ?? 1) <= maxBatch;
  };

  it('a valid request is answered 200 when it fits the model, 400 when not; streamed and whole replies agree', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(completionRequest.map((body) => ['completion', body] as const), chatRequest.map((body) => ['chat', body] as const)), async ([kind, body]) => {
        const whole = await post(kind, { ...body, stream: false });
        assert.equal(whole.status, fits(kind, body) ? 200 : 400, whole.text);
        if (whole.status !== 200) return;
        const reply = JSON.parse(whole.text) as { choices: { index: number; text?: string; message?: { content: string } }[] };
        const stream = await post(kind, { ...body, stream: true });
        assert.equal(stream.status, 200, stream.text);
        assert.match(stream.type, /text\/event-stream/);
        assert.deepEqual(streamed(stream.text), reply.choices.map((c) => c.text ?? c.message!.content));
      }),
      { numRuns: 40, ...replay },
    );
  });

  it('a mutated request never gets a 5xx, and the server stays up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(completionRequest).map((body) => ['completion', body] as const), mutated(chatRequest).map((body) => ['chat', body] as const)), async ([kind, body]) => {
        const reply = await post(kind, body);
        assert.ok(reply.status < 500, `${reply.status}: ${reply.text}`);
        if (reply.status >= 400) assert.equal(typeof (JSON.parse(reply.text) as { error: { message: unknown } }).error.message, 'string');
        // A streamed 200 must not carry an error event.
        if (reply.status === 200 && reply.type.includes('text/event-stream')) streamed(reply.text);
      }),
      { numRuns: 80, ...replay },
    );
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
  });
});
