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

/** `autodidact serve <checkpoint-dir>`: serves a checkpoint over the OpenAI API until interrupted. */
export async function serveCommand(checkpoint: string, options: ServeCommandOptions): Promise<void> {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = await ModelServer.create({ checkpoint, modelName: options.modelName, version: options.weightsVersion, maxBatchSequences: options.maxBatch, log: options.quiet ? undefined : log });
  const url = await server.listen(options.port, options.host);
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
