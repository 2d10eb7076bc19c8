import type { Completion, TokenLogprob } from '../spec/policy.js';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, resolve } from 'node:path';
import { EmbeddedBackend } from '../engine/backend.js';
import type { SampleRequest, TokenListener } from '../engine/sampler.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { AutodidactError, CheckpointFormatError, InvalidArgumentError, InvalidConfigError } from '../errors.js';
import { chatLogprobs, chatRequestSchema, completionLogprobs, completionRequestSchema, parseRequest, refuseUnsupported, renderChat, RequestError, stopList } from './protocol.js';
import { ChoiceStream } from './choice-stream.js';
import { json, readJson } from './http-body.js';
import { now, promptList, usageOf } from './openai-fields.js';
import type { ServeOptions, ServeStats } from './options.js';
import { checkServable } from './servable.js';
import { countSequences, type Job } from './jobs.js';

/**
 * `autodidact serve`: an OpenAI-compatible HTTP server for an embedded
 * checkpoint — `GET /v1/models`, `POST /v1/completions`,
 * `POST /v1/chat/completions` (logprobs, n, seed, stop, streaming as
 * server-sent events) — plus SGLang's `POST /update_weights_from_disk`
 * so a training loop can swap in new weights between steps.
 *
 * Concurrent requests are batched: while a batch decodes, new requests queue,
 * and the next batch takes all of them (up to `maxBatchSequences`) into one
 * KV-cached decode, each with its own settings. A request with a seed gives the
 * same completions whatever it is batched with. Every reply carries the weights'
 * version as `system_fingerprint`, so a client can tag each sample with the
 * policy that wrote it.
 */
export class ModelServer {
  readonly modelName: string;
  readonly stats: ServeStats = { requests: 0, batches: 0, largestBatch: 0, sequences: 0, dropped: 0 };
  private version: string;
  private readonly tokenizer = new ByteTokenizer();
  private readonly queue: Job[] = [];
  private busy = false;
  private reloading: Promise<void> | null = null;
  private readonly http: Server;
  private readonly created = Math.floor(Date.now() / 1000);
  /** Sequences (prompts × n) decoded together at most. */
  private readonly maxBatch: number;
  /** The request schemas, bounded by this model's context and batch. */
  private readonly schemas: { completion: ReturnType<typeof completionRequestSchema>; chat: ReturnType<typeof chatRequestSchema> };

  private constructor(
    private readonly backend: EmbeddedBackend,
    private readonly options: ServeOptions,
    private readonly maxSeqLen: number,
    private readonly vocabSize: number,
  ) {
    this.maxBatch = options.maxBatchSequences ?? 256;
    this.modelName = options.modelName ?? basename(resolve(options.checkpoint));
    this.version = options.version ?? basename(resolve(options.checkpoint));
    const bounds = { context: maxSeqLen, maxBatch: this.maxBatch };
    this.schemas = { completion: completionRequestSchema(bounds), chat: chatRequestSchema(bounds) };
    this.http = createServer((req, res) => void this.handle(req, res));
  }

  /** Loads the checkpoint into an engine worker. */
  static async create(options: ServeOptions): Promise<ModelServer> {
    checkServable(options.checkpoint);
    const backend = await EmbeddedBackend.create({ checkpoint: options.checkpoint, kernels: options.kernels });
    const { config } = backend.info();
    return new ModelServer(backend, options, config.maxSeqLen, config.vocabSize);
  }

  /** Starts listening; port 0 picks a free one. Returns the API's base URL (`…/v1`). */
  listen(port = 8000, host = '127.0.0.1'): Promise<string> {
    return new Promise((resolveListen, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        const address = this.http.address() as AddressInfo;
        resolveListen(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}/v1`);
      });
    });
  }

  /** The version label of the weights now served. */
  get currentVersion(): string {
    return this.version;
  }

  /** Stops accepting connections, ends open ones, and stops the engine. */
  async close(): Promise<void> {
    await new Promise<void>((done) => {
      this.http.close(() => done());
      this.http.closeAllConnections();
    });
    await this.backend.close();
  }

  /** Replaces the weights with a checkpoint's; requests queued after this call are answered with them. */
  async reload(path: string, version?: string): Promise<string> {
    const config = checkServable(path);
    const previous = this.reloading;
    // Vocabulary and context are what requests were checked against: a checkpoint that changes them is refused before anything loads.
    if (config.vocabSize !== this.vocabSize || config.maxSeqLen !== this.maxSeqLen) {
      throw new CheckpointFormatError(path, `has vocab ${config.vocabSize}, context ${config.maxSeqLen}; the served model has ${this.vocabSize}, ${this.maxSeqLen} (restart the server to serve another shape)`);
    }
    const next = (async () => {
      await previous?.catch(() => {});
      await this.backend.load(path, { weightsOnly: true });
      this.version = version ?? basename(resolve(path));
      this.options.log?.(`reloaded ${path} as version ${this.version}`);
    })();
    this.reloading = next;
    try {
      await next;
    } finally {
      if (this.reloading === next) this.reloading = null;
    }
    return this.version;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && (path === '/health' || path === '/v1/health')) return json(res, 200, { status: 'ok', version: this.version });
      if (req.method === 'GET' && path === '/v1/models') {
        return json(res, 200, { object: 'list', data: [{ id: this.modelName, object: 'model', created: this.created, owned_by: 'autodidact', root: resolve(this.options.checkpoint), max_model_len: this.maxSeqLen }] });
      }
      if (req.method === 'POST' && path === '/v1/completions') return await this.completions(await readJson(req), res);
      if (req.method === 'POST' && path === '/v1/chat/completions') return await this.chat(await readJson(req), res);
      if (req.method === 'POST' && path === '/update_weights_from_disk') return await this.updateWeights(await readJson(req), res);
      throw new RequestError(404, `no route ${req.method} ${path}; this server has GET /v1/models, POST /v1/completions, POST /v1/chat/completions, POST /update_weights_from_disk`, null, 'not_found_error');
    } catch (error) {
      const failure =
        error instanceof RequestError
          ? error
          : error instanceof InvalidArgumentError || error instanceof InvalidConfigError
            ? new RequestError(400, error.message)
            : new RequestError(500, error instanceof Error ? error.message : String(error), null, 'server_error');
      if (!res.headersSent) json(res, failure.status, failure.body());
      else if (!res.writableEnded) {
        // Mid-stream: the error goes out as an event, as OpenAI's servers do.
        res.write(`data: ${JSON.stringify(failure.body())}\n\n`);
        res.end();
      }
    }
  }

  private async completions(body: unknown, res: ServerResponse): Promise<void> {
    const request = parseRequest(this.schemas.completion, body);
    refuseUnsupported(request);
    this.checkModel(request.model);
    const texts = promptList(request.prompt);
    this.checkBatch(texts.length, request.n);
    const prompts = texts.map((prompt, i) => this.encode(prompt, texts === request.prompt ? `prompt[${i}]` : 'prompt'));
    const top = request.logprobs ?? undefined;
    const requests = this.sampleRequests(prompts, request, request.max_tokens ?? 16, top);
    const asIds = request.return_tokens_as_token_ids === true;
    const id = `cmpl-${randomBytes(12).toString('hex')}`;
    const n = request.n;
    const logprobsOf = (seq: Completion, from = 0, to = seq.tokens.length, offset = 0) =>
      top === undefined ? null : completionLogprobs(this.tokenizer, seq.tokens.slice(from, to), seq.logprobs.slice(from, to), seq.topLogprobs?.slice(from, to), asIds, offset);
    const usage = (results: Completion[][]) => usageOf(prompts, results);
    if (request.stream) {
      const head = (version: string) => ({ id, object: 'text_completion', created: now(), model: this.modelName, system_fingerprint: version });
      return this.stream(res, requests, n, stopList(request.stop), request.stream_options?.include_usage === true, {
        delta: (version, index, text, tokens, logprobs, topAlternatives, offset) => ({ ...head(version), choices: [{ index, text, logprobs: top === undefined ? null : completionLogprobs(this.tokenizer, tokens, logprobs, topAlternatives, asIds, offset), finish_reason: null }] }),
        finish: (version, index, reason) => ({ ...head(version), choices: [{ index, text: '', logprobs: null, finish_reason: reason }] }),
        usage: (version, results) => ({ ...head(version), choices: [], usage: usage(results) }),
      });
    }
    const { results, version } = await this.submit(requests, undefined, undefined, res);
    json(res, 200, {
      id,
      object: 'text_completion',
      created: now(),
      model: this.modelName,
      system_fingerprint: version,
      choices: results.flatMap((group, i) => group.map((seq, j) => ({ index: i * n + j, text: seq.text, logprobs: logprobsOf(seq), finish_reason: seq.finishReason }))),
      usage: usage(results),
    });
  }

  private async chat(body: unknown, res: ServerResponse): Promise<void> {
    const request = parseRequest(this.schemas.chat, body);
    refuseUnsupported(request);
    this.checkModel(request.model);
    this.checkBatch(1, request.n);
    const prompt = this.encode(renderChat(request.messages), 'messages');
    const top = request.logprobs ? (request.top_logprobs ?? 0) : undefined;
    const requests = this.sampleRequests([prompt], request, request.max_completion_tokens ?? request.max_tokens ?? this.maxSeqLen, top);
    const asIds = request.return_tokens_as_token_ids === true;
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const logprobsOf = (tokens: readonly number[], logprobs: readonly number[], alternatives: readonly TokenLogprob[][] | undefined) => (top === undefined ? null : chatLogprobs(this.tokenizer, tokens, logprobs, alternatives, asIds));
    if (request.stream) {
      const head = (version: string) => ({ id, object: 'chat.completion.chunk', created: now(), model: this.modelName, system_fingerprint: version });
      return this.stream(res, requests, request.n, stopList(request.stop), request.stream_options?.include_usage === true, {
        // Every choice opens with its role, as OpenAI's streams do (clients require it even for an empty reply).
        start: (version, index) => ({ ...head(version), choices: [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }),
        delta: (version, index, text, tokens, logprobs, alternatives) => ({ ...head(version), choices: [{ index, delta: { content: text }, logprobs: logprobsOf(tokens, logprobs, alternatives), finish_reason: null }] }),
        finish: (version, index, reason) => ({ ...head(version), choices: [{ index, delta: {}, logprobs: null, finish_reason: reason }] }),
        usage: (version, results) => ({ ...head(version), choices: [], usage: usageOf([prompt], results) }),
      });
    }
    const { results, version } = await this.submit(requests, undefined, undefined, res);
    json(res, 200, {
      id,
      object: 'chat.completion',
      created: now(),
      model: this.modelName,
      system_fingerprint: version,
      choices: results[0].map((seq, j) => ({ index: j, message: { role: 'assistant', content: seq.text }, logprobs: logprobsOf(seq.tokens, seq.logprobs, seq.topLogprobs), finish_reason: seq.finishReason })),
      usage: usageOf([prompt], results),
    });
  }

  private async updateWeights(body: unknown, res: ServerResponse): Promise<void> {
    const request = body as { model_path?: unknown; version?: unknown } | null;
    if (typeof request?.model_path !== 'string' || request.model_path === '') throw new RequestError(400, '`model_path`: expected the path of a checkpoint directory', 'model_path');
    if (request.version !== undefined && typeof request.version !== 'string') throw new RequestError(400, '`version`: expected a string', 'version');
    try {
      const version = await this.reload(request.model_path, request.version as string | undefined);
      json(res, 200, { success: true, message: `loaded ${request.model_path}`, version });
    } catch (error) {
      if (error instanceof AutodidactError) return json(res, 400, { success: false, message: error.message });
      throw error;
    }
  }

  /**
   * Streams a request's choices as server-sent events. Tokens go out as they
   * are drawn, except the last (longest stop − 1) bytes, held back until they
   * cannot turn out to start a stop string (which is cut from the text).
   */
  private async stream(
    res: ServerResponse,
    requests: SampleRequest[],
    n: number,
    stops: string[],
    includeUsage: boolean,
    chunks: {
      start?(version: string, index: number): unknown;
      delta(version: string, index: number, text: string, tokens: number[], logprobs: number[], top: TokenLogprob[][] | undefined, offset: number): unknown;
      finish(version: string, index: number, reason: string): unknown;
      usage(version: string, results: Completion[][]): unknown;
    },
  ): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (chunk: unknown) => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    };
    const hold = stops.reduce((longest, s) => Math.max(longest, Buffer.byteLength(s) - 1), 0);
    const choices = new Map<number, ChoiceStream>();
    const choice = (index: number) => {
      let stream = choices.get(index);
      if (!stream) choices.set(index, (stream = new ChoiceStream(this.tokenizer)));
      return stream;
    };
    let version = this.version;
    const emit = (index: number, upTo: number | null) => {
      const part = choice(index).take(upTo, hold);
      if (part) send(chunks.delta(version, index, part.text, part.tokens, part.logprobs, part.top, part.offset));
    };
    const { results, version: used } = await this.submit(requests, (step) => {
      for (const event of step) {
        const index = event.request * n + event.index;
        choice(index).push(event.token, event.logprob, event.top);
        // A sequence's last draw may have completed a stop string: what survives the cut goes out with the final result.
        if (!event.done) emit(index, null);
      }
    }, (v) => {
      version = v;
      if (chunks.start) for (let index = 0; index < requests.length * n; index++) send(chunks.start(version, index));
    }, res);
    version = used;
    results.forEach((group, i) =>
      group.forEach((seq, j) => {
        const index = i * n + j;
        emit(index, seq.tokens.length);
        send(chunks.finish(version, index, seq.finishReason));
      }),
    );
    if (includeUsage) send(chunks.usage(version, results));
    res.write('data: [DONE]\n\n');
    res.end();
  }

  /**
   * Queues requests for the next batch. `onStart` learns the version the batch
   * decodes with. A job whose client has gone (`res` closed) before its batch
   * starts is dropped; one already decoding finishes, unheard.
   */
  private submit(requests: SampleRequest[], onStep: TokenListener | undefined, onStart: ((version: string) => void) | undefined, res: ServerResponse): Promise<{ results: Completion[][]; version: string }> {
    this.stats.requests++;
    let gone = false;
    res.once('close', () => {
      if (!res.writableFinished) gone = true;
    });
    return new Promise((resolveJob, reject) => {
      this.queue.push({ requests, onStep, onStart, resolve: resolveJob, reject, gone: () => gone });
      void this.pump();
    });
  }

  /** Decodes queued jobs batch after batch until the queue is empty. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0) {
        await this.reloading?.catch(() => {});
        // Jobs whose client has gone are dropped, not decoded.
        for (const job of this.queue.filter((j) => j.gone())) {
          this.stats.dropped++;
          job.reject(new RequestError(499, 'the client closed the connection'));
        }
        const waiting = this.queue.filter((j) => !j.gone());
        this.queue.length = 0;
        for (const job of waiting) this.queue.push(job);
        if (this.queue.length === 0) break;
        const batch: Job[] = [this.queue.shift()!];
        let sequences = countSequences(batch[0].requests);
        while (this.queue.length > 0 && sequences + countSequences(this.queue[0].requests) <= this.maxBatch) {
          sequences += countSequences(this.queue[0].requests);
          batch.push(this.queue.shift()!);
        }
        const version = this.version;
        const owners: { job: Job; local: number }[] = [];
        for (const job of batch) job.requests.forEach((_, local) => owners.push({ job, local }));
        for (const job of batch) job.onStart?.(version);
        const streaming = batch.some((job) => job.onStep);
        const listener: TokenListener | undefined = streaming
          ? (step) => {
              const perJob = new Map<Job, Parameters<TokenListener>[0]>();
              for (const event of step) {
                const { job, local } = owners[event.request];
                if (!job.onStep) continue;
                const list = perJob.get(job) ?? [];
                list.push({ ...event, request: local });
                perJob.set(job, list);
              }
              for (const [job, list] of perJob) job.onStep!(list);
            }
          : undefined;
        try {
          const results = await this.backend.sampleRequests(batch.flatMap((job) => job.requests), listener);
          let at = 0;
          for (const job of batch) {
            job.resolve({ results: results.slice(at, at + job.requests.length), version });
            at += job.requests.length;
          }
          this.stats.batches++;
          this.stats.sequences += sequences;
          this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
          this.options.log?.(`batch of ${batch.length} request(s), ${sequences} sequence(s), version ${version}`);
        } catch (error) {
          for (const job of batch) job.reject(error);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Refuses a request of more sequences than a batch holds; checked before its prompts are encoded (and before a streamed reply's headers go out, so it is a 400 either way). */
  private checkBatch(prompts: number, n: number): void {
    if (prompts * n > this.maxBatch) throw new RequestError(400, `the request asks for ${prompts * n} sequences (prompts × n); this server decodes at most ${this.maxBatch} at once (--max-batch)`, 'n');
  }

  private sampleRequests(prompts: number[][], request: { n: number; temperature?: number | null; top_p?: number | null; stop?: string | string[] | null; seed?: number | null }, maxTokens: number, topLogprobs: number | undefined): SampleRequest[] {
    // Without a seed, a fresh one per request (OpenAI semantics: unseeded sampling varies).
    const seed = request.seed ?? randomInt(2 ** 31);
    return prompts.map((prompt, i) => ({
      prompt,
      stream: i,
      options: { n: request.n, temperature: request.temperature ?? 1, topP: request.top_p ?? 1, maxTokens, stop: stopList(request.stop), seed, ...(topLogprobs !== undefined ? { topLogprobs } : {}) },
    }));
  }

  /**
   * A prompt's token ids, checked against the context first: the byte
   * tokenizer writes BOS and then one token per UTF-8 byte, so a text's length
   * in tokens is known, and an over-long one refused, before it is encoded.
   */
  private encode(prompt: string | number[], param: string): number[] {
    const length = typeof prompt === 'string' ? 1 + Buffer.byteLength(prompt) : prompt.length;
    if (length >= this.maxSeqLen) throw new RequestError(400, `\`${param}\` has ${length} tokens; this model's context is ${this.maxSeqLen} tokens, leaving no room for a completion`, param);
    const ids = typeof prompt === 'string' ? this.tokenizer.encode(prompt, { addBos: true }) : prompt;
    const bad = ids.find((id) => id < 0 || id >= this.vocabSize);
    if (bad !== undefined) throw new RequestError(400, `\`${param}\` has token id ${bad}, outside the vocabulary [0, ${this.vocabSize})`, param);
    return ids;
  }

  private checkModel(model: string | undefined): void {
    if (model !== undefined && model !== this.modelName) throw new RequestError(404, `The model \`${model}\` does not exist; this server has \`${this.modelName}\``, 'model', 'not_found_error');
  }
}
