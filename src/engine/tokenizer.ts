/**
 * The default tokenizer: one id per byte of UTF-8 (0–255) plus special tokens.
 * Any text round-trips exactly; every model vocabulary of ≥ 259 ids can use it.
 */
export interface Tokenizer {
  /** Number of ids the tokenizer can produce (the model's vocabSize must be ≥ this). */
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Token ids of `text`; with `addBos`, the BOS id first. */
  encode(text: string, options?: { addBos?: boolean }): number[];
  /** Text of `ids`; special tokens are dropped, invalid UTF-8 becomes U+FFFD. */
  decode(ids: ArrayLike<number>): string;
  /** Raw bytes a token stands for (empty for special tokens). */
  tokenBytes(id: number): Uint8Array;
  /** JSON description written into checkpoints. */
  toJSON(): { kind: string; [key: string]: unknown };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });
const noBytes = new Uint8Array(0);

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 259;
  readonly bosId = 256;
  readonly eosId = 257;
  readonly padId = 258;
  private readonly single: Uint8Array[] = Array.from({ length: 256 }, (_, byte) => Uint8Array.of(byte));

  encode(text: string, options: { addBos?: boolean } = {}): number[] {
    const ids = Array.from(encoder.encode(text));
    return options.addBos ? [this.bosId, ...ids] : ids;
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] < 256) bytes.push(ids[i]);
    return decoder.decode(Uint8Array.from(bytes));
  }

  tokenBytes(id: number): Uint8Array {
    return id >= 0 && id < 256 ? this.single[id] : noBytes;
  }

  /** Name of a special token, for display. */
  specialName(id: number): string | undefined {
    return { 256: '<|bos|>', 257: '<|eos|>', 258: '<|pad|>' }[id];
  }

  toJSON() {
    return { kind: 'byte', bosId: this.bosId, eosId: this.eosId, padId: this.padId };
  }
}
