import { Worker } from 'node:worker_threads';
import { AutodidactError, CheckpointFormatError, InvalidArgumentError, InvalidConfigError } from '../errors.js';
import type { Datum, ForwardBackwardResult, ForwardOptions, ForwardResult, Loss, TrainingBackend } from '../spec/training-backend.js';
import type { EngineCore, EngineOptions } from './engine.js';
import type { AdamParams, OptimStepResult } from './optimizer.js';
import type { Completion } from '../spec/policy.js';
import type { SampleOptions, SampleRequest, TokenListener } from './sampler.js';
import type { SerializedError, WorkerRequest } from './worker.js';

type EngineInfo = ReturnType<EngineCore['info']>;

/**
 * The embedded training backend: the in-process transformer behind the
 * TrainingBackend interface. Work runs in a worker thread; calls are queued and
 * run one at a time, in order. An idle backend does not keep the process alive;
 * close() releases it at once.
 *
 *   const backend = await EmbeddedBackend.create({ model: { dModel: 64, nLayers: 2 } });
 *   await backend.forwardBackward(batch, 'cross_entropy');
 *   await backend.optimStep({ learningRate: 1e-3 });
 *   const [[sample]] = await backend.sample(['Hello'], { maxTokens: 16, seed: 1 });
 */
export class EmbeddedBackend implements TrainingBackend {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; onStep?: TokenListener }>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Set when close() starts: new calls are refused from then on. */
  private closing = false;
  /** Set when the worker died: every later call fails with this error. */
  private dead: Error | null = null;
  private engineInfo: EngineInfo;

  private constructor(worker: Worker, info: EngineInfo) {
    this.worker = worker;
    this.engineInfo = info;
    worker.on('message', (message: { type: string; id: number; ok: boolean; value?: unknown; error?: SerializedError; step?: Parameters<TokenListener>[0] }) => {
      if (message.type === 'tokens') this.waiting.get(message.id)?.onStep?.(message.step!);
      if (message.type !== 'result') return;
      const pending = this.waiting.get(message.id);
      if (!pending) return;
      this.waiting.delete(message.id);
      if (this.waiting.size === 0) worker.unref(); // idle: do not keep the process alive
      if (message.ok) pending.resolve(message.value);
      else pending.reject(deserializeError(message.error!));
    });
    worker.on('error', (error) => this.die(error));
    worker.on('exit', (code) => this.die(new AutodidactError(this.closing ? 'the backend is closed' : `engine worker exited unexpectedly (code ${code})`)));
    worker.unref();
  }

  /** Starts a worker with a fresh model (options.model) or a checkpoint (options.checkpoint). */
  static create(options: EngineOptions = {}): Promise<EmbeddedBackend> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: options });
    return new Promise((resolve, reject) => {
      const onMessage = (message: { type: string; info?: EngineInfo; error?: SerializedError }) => {
        worker.off('error', onError);
        worker.off('message', onMessage);
        if (message.type === 'ready') resolve(new EmbeddedBackend(worker, message.info!));
        else {
          reject(deserializeError(message.error!));
          void worker.terminate();
        }
      };
      const onError = (error: Error) => {
        worker.off('message', onMessage);
        reject(error);
      };
      const onExit = (code: number) => reject(new AutodidactError(`engine worker exited during startup (code ${code})`));
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
      const settle = () => worker.off('exit', onExit);
      worker.once('message', settle);
    });
  }

  /** Model config, parameter count, kernels and thread count, as of the last load. */
  info(): EngineInfo {
    return this.engineInfo;
  }

  forward(batch: readonly Datum[], options: ForwardOptions = {}): Promise<ForwardResult> {
    return this.enqueue(() => this.call('forward', batch, options)) as Promise<ForwardResult>;
  }

  forwardBackward(batch: readonly Datum[], loss: Loss, options: ForwardOptions = {}): Promise<ForwardBackwardResult> {
    return this.enqueue(async () => {
      if (loss === 'cross_entropy') {
        const out = (await this.call('forwardBackwardCrossEntropy', batch, options)) as { loss: number; logprobs: Float32Array[]; entropy?: Float32Array[]; tokens: number };
        return { loss: out.loss, logprobs: out.logprobs, entropy: out.entropy, metrics: { 'train/loss': out.loss, 'train/tokens': out.tokens } };
      }
      if (typeof loss !== 'function') throw new InvalidArgumentError('loss', `must be 'cross_entropy' or a function, got ${JSON.stringify(loss)}`);
      const { logprobs, entropy } = (await this.call('forwardForLoss', batch, options)) as { logprobs: Float32Array[]; entropy?: Float32Array[] };
      let result: ReturnType<typeof loss>;
      try {
        result = loss(logprobs, batch);
      } catch (error) {
        await this.call('backwardWith', logprobs.map((row) => new Float32Array(row.length))).catch(() => {});
        throw error;
      }
      if (!Number.isFinite(result.loss)) throw new InvalidArgumentError('loss', `the loss function returned ${result.loss}`);
      await this.call('backwardWith', result.grad.map((row) => Float32Array.from(row)));
      return { loss: result.loss, logprobs, entropy, metrics: { 'train/loss': result.loss, ...(result.metrics ?? {}) } };
    }) as Promise<ForwardBackwardResult>;
  }

  optimStep(params: AdamParams): Promise<OptimStepResult> {
    return this.enqueue(() => this.call('optimStep', params)) as Promise<OptimStepResult>;
  }

  sample(prompts: readonly (string | readonly number[])[], options: SampleOptions = {}): Promise<Completion[][]> {
    return this.enqueue(() => this.call('sample', prompts, options)) as Promise<Completion[][]>;
  }

  /**
   * Requests that each carry their own settings (n, temperature, stop, seed, …),
   * decoded as one batch; `onStep` receives every step's freshly drawn tokens
   * while decoding runs (streaming). result[r][j] is sample j of request r.
   */
  sampleRequests(requests: readonly SampleRequest[], onStep?: TokenListener): Promise<Completion[][]> {
    return this.enqueue(() => this.callWith(onStep, 'sampleRequests', requests, onStep !== undefined)) as Promise<Completion[][]>;
  }

  save(dir: string, extra?: Record<string, unknown>): Promise<void> {
    return this.enqueue(() => this.call('save', dir, extra)) as Promise<void>;
  }

  load(dir: string, options: { weightsOnly?: boolean } = {}): Promise<void> {
    return this.enqueue(async () => {
      await this.call('load', dir, options);
      this.engineInfo = (await this.call('info')) as EngineInfo;
    }) as Promise<void>;
  }

  /** Waits for queued calls to finish, then stops the worker. Calls made after close() are refused. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.queue.catch(() => {});
    await this.worker.terminate();
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new AutodidactError('the backend is closed'));
    if (this.dead) return Promise.reject(this.dead);
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private call(method: WorkerRequest['method'], ...args: unknown[]): Promise<unknown> {
    return this.callWith(undefined, method, ...args);
  }

  private callWith(onStep: TokenListener | undefined, method: WorkerRequest['method'], ...args: unknown[]): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref(); // work in flight keeps the process alive
      this.waiting.set(id, { resolve, reject, onStep });
      this.worker.postMessage({ id, method, args } satisfies WorkerRequest);
    });
  }

  private die(error: Error): void {
    this.dead ??= error;
    for (const pending of this.waiting.values()) pending.reject(this.dead);
    this.waiting.clear();
  }
}

function deserializeError(error: SerializedError): Error {
  const message = error.message;
  switch (error.name) {
    case 'CheckpointFormatError':
      return Object.assign(new CheckpointFormatError(error.path ?? '', ''), { message });
    case 'InvalidConfigError':
      return Object.assign(new InvalidConfigError(error.field ?? '', ''), { message });
    case 'InvalidArgumentError':
      return Object.assign(new InvalidArgumentError(error.argument ?? '', ''), { message });
    default: {
      const generic = new AutodidactError(message);
      generic.name = error.name;
      return generic;
    }
  }
}
