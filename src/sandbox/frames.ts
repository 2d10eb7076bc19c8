/**
 * Length-prefixed JSON frames between the sandbox host and its child
 * processes: a 4-byte little-endian length, then that many bytes of UTF-8
 * JSON. The reader checks the length against its cap before it buffers or
 * parses anything, so a child can never make the host hold or parse more than
 * `maxBytes` per message.
 */
export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}

export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private stopped = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onFrame: (message: unknown) => void,
    /** A frame announced a length over the cap, or did not parse: the peer is no longer trusted. */
    private readonly onViolation: (why: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.chunks[0].length >= 4 ? this.chunks[0] : this.flatten();
      const length = head.readUInt32LE(0);
      if (length > this.maxBytes) return this.violate(`a message of ${length} bytes exceeds the cap of ${this.maxBytes}`);
      if (this.buffered < 4 + length) return;
      const all = this.flatten();
      const body = all.subarray(4, 4 + length);
      const rest = all.subarray(4 + length);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      let message: unknown;
      try {
        message = JSON.parse(body.toString('utf8'));
      } catch {
        return this.violate('a message is not valid JSON');
      }
      this.onFrame(message);
    }
  }

  private flatten(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [all];
    return all;
  }

  private violate(why: string): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
    this.onViolation(why);
  }
}
