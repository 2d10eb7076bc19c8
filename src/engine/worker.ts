/**
 * The worker thread that hosts an EngineCore for EmbeddedBackend: heavy
 * kernels run here, so the main thread's event loop (progress bars, HTTP
 * servers, the dashboard) keeps turning during training and sampling.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EngineCore, type EngineOptions } from './engine.js';

export interface WorkerRequest {
  id: number;
  method: 'info' | 'forward' | 'forwardBackwardCrossEntropy' | 'forwardForLoss' | 'backwardWith' | 'optimStep' | 'sample' | 'sampleRequests' | 'save' | 'load';
  args: unknown[];
}

export interface SerializedError {
  name: string;
  message: string;
  field?: string;
  argument?: string;
  path?: string;
}

export function serializeError(error: unknown): SerializedError {
  const e = error as Error & { field?: string; argument?: string; path?: string };
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error), field: e?.field, argument: e?.argument, path: e?.path };
}

const port = parentPort;
if (port) {
  let engine: EngineCore;
  try {
    engine = new EngineCore(workerData as EngineOptions);
    port.postMessage({ type: 'ready', info: engine.info() });
  } catch (error) {
    port.postMessage({ type: 'init-error', error: serializeError(error) });
    process.exit(0);
  }
  port.on('message', (request: WorkerRequest) => {
    try {
      const method = engine[request.method] as (...args: unknown[]) => unknown;
      // sampleRequests(requests, stream): with stream set, each decoding step's tokens are posted as they are drawn.
      const args = request.method === 'sampleRequests' ? [request.args[0], request.args[1] ? (step: unknown) => port.postMessage({ type: 'tokens', id: request.id, step }) : undefined] : request.args;
      const value = method.apply(engine, args);
      port.postMessage({ type: 'result', id: request.id, ok: true, value });
    } catch (error) {
      port.postMessage({ type: 'result', id: request.id, ok: false, error: serializeError(error) });
    }
  });
}
