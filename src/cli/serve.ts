import { InvalidArgumentError } from '../errors.js';
import { ModelServer } from '../serve/server.js';

export interface ServeCommandOptions {
  port: number;
  host: string;
  modelName?: string;
  weightsVersion?: string;
  maxBatch: number;
  quiet?: boolean;
  json?: boolean;
}

/** Parses --port: a TCP port, 0 to 65535 (0 picks a free one). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || port > 65535) throw new InvalidArgumentError('--port', `expected a TCP port from 0 to 65535 (0 picks a free one), got "${value}"`);
  return port;
}

/** `autodidact serve <checkpoint-dir>`: serves a checkpoint over the OpenAI API until interrupted. */
export async function serveCommand(checkpoint: string, options: ServeCommandOptions): Promise<void> {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = await ModelServer.create({ checkpoint, modelName: options.modelName, version: options.weightsVersion, maxBatchSequences: options.maxBatch, log: options.quiet ? undefined : log });
  let url: string;
  try {
    url = await server.listen(options.port, options.host);
  } catch (error) {
    await server.close();
    throw listenError(error, options);
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ url, model: server.modelName, version: server.currentVersion })}\n`);
  else {
    process.stdout.write(`serving ${server.modelName} (version ${server.currentVersion}) at ${url}\n`);
    process.stdout.write(`  try: curl ${url}/completions -H 'content-type: application/json' -d '{"prompt": "1+1=", "max_tokens": 8}'\n`);
    process.stdout.write('  Ctrl-C stops it\n');
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The address the server could not listen on, as an error that says why and what to pass instead. */
function listenError(error: unknown, options: ServeCommandOptions): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  const address = `${options.host}:${options.port}`;
  if (code === 'EADDRINUSE') return new InvalidArgumentError('--port', `${address} is already in use; pick another port, or --port 0 for a free one`);
  if (code === 'EACCES') return new InvalidArgumentError('--port', `no permission to listen on ${address} (ports below 1024 need privileges); pick a port from 1024 up, or --port 0`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new InvalidArgumentError('--host', `cannot listen on ${options.host}: no such local address (try 127.0.0.1, or 0.0.0.0 for every interface)`);
  return error;
}
