/**
 * Hugging Face tokenizer files for our byte tokenizer, so a checkpoint opens in
 * transformers WITH its tokenizer (`AutoTokenizer.from_pretrained(dir)`) and
 * TRL, vLLM or any `tokenizers` consumer encodes text to exactly our ids.
 *
 * `tokenizer.json` is a byte-level BPE with no merges: the 256 byte-level
 * symbols (GPT-2's byte → printable-character map) in byte order, so byte b
 * has id b, plus the three special tokens as added tokens at 256 (BOS),
 * 257 (EOS) and 258 (PAD). A post-processor puts BOS first, as our training
 * sequences do (`BOS prompt completion EOS`, see sftDatum).
 *
 * `tokenizer_config.json` names the special tokens, the model's maximum length
 * and a chat template that renders a conversation as the plain text the model
 * was trained on: BOS, then each user turn verbatim, each assistant turn
 * verbatim followed by EOS (a system turn verbatim plus a newline). A
 * single-turn chat therefore tokenizes to the same ids as the prompt–completion
 * pair it came from.
 *
 * One difference from our encoder: `tokenizers` matches added tokens in text,
 * so the literal string `<|eos|>` in a prompt encodes to 257 there and to its
 * seven bytes here. TRL relies on that match (it appends the EOS string to
 * completions); our own data never contains the literal markers.
 */
import type { Tokenizer } from './tokenizer.js';
import { InvalidArgumentError } from '../errors.js';

/** The special tokens' texts, in id order after the 256 bytes. */
const SPECIAL = [
  { name: 'bos', content: '<|bos|>' },
  { name: 'eos', content: '<|eos|>' },
  { name: 'pad', content: '<|pad|>' },
] as const;

/**
 * The chat template (Jinja, as transformers runs it). No generation prompt is
 * needed: an assistant turn starts right after the user's text.
 */
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}{{ '\\n' }}" +
  "{% elif message['role'] == 'user' %}{{ message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}" +
  "{% else %}{{ raise_exception('unsupported role ' ~ message['role'] ~ ': use system, user or assistant') }}{% endif %}{% endfor %}";

/**
 * GPT-2's map from bytes to printable characters (what byte-level BPE
 * vocabularies are written in): printable Latin-1 bytes map to themselves,
 * the other 68 to U+0100 onwards, in byte order, so every byte is one visible
 * character and a token string never holds raw control bytes. Hugging Face's
 * tokenizer.json and GGUF's `gpt2` vocabulary (src/export/gguf.ts) both use it.
 */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const symbols: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) symbols.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  return symbols;
}

/** The files, by name, that describe `tokenizer` to Hugging Face; null for a tokenizer they cannot describe. */
export function huggingFaceTokenizerFiles(tokenizer: Tokenizer, options: { modelMaxLength: number }): Record<string, string> | null {
  const description = tokenizer.toJSON();
  if (description.kind !== 'byte') return null;
  const ids = { bos: tokenizer.bosId, eos: tokenizer.eosId, pad: tokenizer.padId };
  if (ids.bos !== 256 || ids.eos !== 257 || ids.pad !== 258) throw new InvalidArgumentError('tokenizer', `byte tokenizer with special ids ${JSON.stringify(ids)}: the Hugging Face files expect BOS 256, EOS 257, PAD 258; use ByteTokenizer's ids or skip the Hugging Face files`);
  const addedTokens = SPECIAL.map((token) => ({ id: ids[token.name], content: token.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const bos = SPECIAL[0].content;
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    // use_regex false: no splitting on spaces or punctuation; every byte becomes one symbol.
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [ids.bos], tokens: [bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(byteLevelAlphabet().map((symbol, byte) => [symbol, byte])),
      merges: [],
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: SPECIAL[0].content,
    eos_token: SPECIAL[1].content,
    pad_token: SPECIAL[2].content,
    unk_token: null,
    model_max_length: options.modelMaxLength,
    padding_side: 'right',
    clean_up_tokenization_spaces: false,
    chat_template: CHAT_TEMPLATE,
    added_tokens_decoder: Object.fromEntries(addedTokens.map(({ id, ...token }) => [String(id), token])),
  };
  return {
    'tokenizer.json': `${JSON.stringify(tokenizerJson, null, 2)}\n`,
    'tokenizer_config.json': `${JSON.stringify(tokenizerConfig, null, 2)}\n`,
  };
}
