import type { IncomingMessage, ServerResponse } from 'node:http';
import { limits, RequestError } from './protocol.js';

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > limits.bodyBytes) throw new RequestError(413, `request body over ${limits.bodyBytes} bytes`);
    parts.push(part);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (error) {
    throw new RequestError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
}
