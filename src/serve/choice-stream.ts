import type { TokenLogprob } from '../spec/policy.js';
import type { ByteTokenizer } from '../engine/tokenizer.js';

/** Tokens of one streamed choice, and how many have been sent. */
export class ChoiceStream {
  private readonly tokens: number[] = [];
  private readonly logprobs: number[] = [];
  private readonly top: TokenLogprob[][] = [];
  private readonly ends: number[] = []; // byte length after each token
  private sent = 0;
  private sentChars = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly tokenizer: ByteTokenizer) {}

  push(token: number, logprob: number, top: TokenLogprob[] | undefined): void {
    this.tokens.push(token);
    this.logprobs.push(logprob);
    if (top) this.top.push(top);
    this.ends.push((this.ends[this.ends.length - 1] ?? 0) + this.tokenizer.tokenBytes(token).length);
  }

  /** The unsent tokens up to `upTo` (the final length), or, while decoding, those ending at least `hold` bytes before the newest byte. */
  take(upTo: number | null, hold: number) {
    let end = upTo ?? this.tokens.length;
    if (upTo === null) {
      const safe = (this.ends[this.ends.length - 1] ?? 0) - hold;
      while (end > this.sent && this.ends[end - 1] > safe) end--;
    }
    if (end <= this.sent) {
      // At the end, bytes of an unfinished UTF-8 character still held by the decoder come out (as U+FFFD, like the whole text).
      const rest = upTo === null ? '' : this.decoder.decode();
      if (!rest) return null;
      this.sentChars += rest.length;
      return { text: rest, tokens: [], logprobs: [], top: undefined, offset: this.sentChars - rest.length };
    }
    const from = this.sent;
    const tokens = this.tokens.slice(from, end);
    const bytes = tokens.flatMap((id) => Array.from(this.tokenizer.tokenBytes(id)));
    const text = this.decoder.decode(Uint8Array.from(bytes), { stream: upTo === null });
    const offset = this.sentChars;
    this.sent = end;
    this.sentChars += text.length;
    return { text, tokens, logprobs: this.logprobs.slice(from, end), top: this.top.length ? this.top.slice(from, end) : undefined, offset };
  }
}
