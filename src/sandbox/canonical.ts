/**
 * The canonical encoding: one text per value, so results are compared as
 * text, exactly as the tests mean them. It is JSON for JSON data (object keys
 * sorted by UTF-16 code units, no whitespace) and extends it, unambiguously,
 * to what JSON conflates or drops:
 *
 *   undefined  NaN  Infinity  -Infinity  -0  12n (BigInt)
 *   Date(1704067200000)  Map[[k,v],…]  Set[v,…]
 *
 * - An array is `[…]` with every index up to its length; a hole is `undefined`.
 * - A plain object (its prototype is Object.prototype or null) is `{…}` of its
 *   own enumerable string keys, `__proto__` included (JSON.parse makes such a
 *   key an own property; so does this decoder). toJSON is never called.
 * - Functions, symbols, other objects (a Promise, a boxed primitive, an Error,
 *   a typed array, a class instance: not data a test can mean), cycles,
 *   nesting deeper than `maxDepth` and texts longer than `maxChars` cannot be
 *   encoded: the encoder throws a TypeError or RangeError saying which.
 *
 * `makeEncoder` is written to run in two realms: on the host, and inside a
 * sandbox isolate, where its source is evaluated with intrinsics captured
 * before any model-written code runs (so code that replaces `Object.keys` or
 * `JSON.stringify` cannot change how its result is encoded). It therefore
 * uses only its parameters and the language's operators: no globals, no
 * methods looked up on prototypes, no module-level helpers.
 */

/** The built-ins the encoder uses, taken from the realm it encodes in. */
export interface EncoderIntrinsics {
  keys: (o: object) => string[];
  isArray: (v: unknown) => boolean;
  apply: typeof Reflect.apply;
  /** JSON.stringify, used on string primitives only. */
  quote: (s: string) => string;
  dateGetTime: () => number;
  mapEntries: () => Iterator<[unknown, unknown]>;
  setValues: () => Iterator<unknown>;
  /** The `next` of a Map and a Set iterator (captured, so a replaced one is never called). */
  mapNext: () => IteratorResult<[unknown, unknown]>;
  setNext: () => IteratorResult<unknown>;
  /** Map.prototype.size and Set.prototype.size getters: brand checks. */
  mapSize: () => number;
  setSize: () => number;
  getPrototypeOf: (o: object) => object | null;
  /** Object.prototype: a plain object's prototype. */
  objectPrototype: object;
  /** Object.prototype.toString, to name what cannot be compared. */
  objectToString: () => string;
  /** The error classes thrown (captured: code cannot replace what the encoder throws). */
  TypeError: TypeErrorConstructor;
  RangeError: RangeErrorConstructor;
}

export interface EncoderLimits {
  maxDepth: number;
  maxChars: number;
}

/** A null-prototype list: indices and a count. */
type List<T> = { [index: number]: T; count: number };

export const ENCODER_LIMITS: EncoderLimits = { maxDepth: 200, maxChars: 1_000_000 };

export function makeEncoder(I: EncoderIntrinsics, limits: EncoderLimits): (value: unknown) => string {
  const { keys, isArray, apply, quote, TypeError, RangeError } = I;
  const { maxDepth, maxChars } = limits;
  /** Key names sorted by code units (a merge sort of our own: Array.prototype.sort may have been replaced). */
  const sortNames = (names: string[]): List<string> => {
    const n = names.length;
    let from: List<string> = { __proto__: null, count: n } as unknown as List<string>;
    for (let i = 0; i < n; i++) from[i] = names[i];
    for (let width = 1; width < n; width *= 2) {
      const to: List<string> = { __proto__: null, count: n } as unknown as List<string>;
      for (let lo = 0; lo < n; lo += 2 * width) {
        const mid = lo + width < n ? lo + width : n;
        const hi = lo + 2 * width < n ? lo + 2 * width : n;
        let a = lo;
        let b = mid;
        for (let k = lo; k < hi; k++) to[k] = a < mid && (b >= hi || from[a] <= from[b]) ? from[a++] : from[b++];
      }
      from = to;
    }
    return from;
  };
  const isBranded = (getter: () => unknown, v: object): boolean => {
    try {
      apply(getter, v, []);
      return true;
    } catch {
      return false;
    }
  };
  return function encode(root: unknown): string {
    let out = '';
    // Internal lists are null-prototype records, never arrays: code may have put setters on Array.prototype.
    const stack: List<object> = { __proto__: null, count: 0 } as unknown as List<object>;
    const emit = (text: string) => {
      out += text;
      if (out.length > maxChars) throw new RangeError(`the result is too large to compare (over ${maxChars} characters encoded)`);
    };
    const walk = (v: unknown): void => {
      const type = typeof v;
      if (v === undefined) return emit('undefined');
      if (v === null) return emit('null');
      if (type === 'boolean') return emit(v ? 'true' : 'false');
      if (type === 'number') {
        const n = v as number;
        if (n !== n) return emit('NaN');
        if (n === 0 && 1 / n < 0) return emit('-0');
        return emit('' + n);
      }
      if (type === 'bigint') return emit('' + (v as bigint) + 'n');
      if (type === 'string') return emit(quote(v as string));
      if (type === 'function') throw new TypeError('a function cannot be compared (return data)');
      if (type === 'symbol') throw new TypeError('a symbol cannot be compared (return data)');
      const o = v as Record<string, unknown>;
      for (let i = 0; i < stack.count; i++) if (stack[i] === o) throw new TypeError('a cyclic structure cannot be compared');
      if (stack.count >= maxDepth) throw new RangeError(`the result is nested too deeply to compare (over ${maxDepth} levels)`);
      stack[stack.count++] = o;
      if (isArray(o)) {
        const length = (o as unknown as unknown[]).length;
        emit('[');
        for (let i = 0; i < length; i++) {
          if (i) emit(',');
          walk(o[i]);
        }
        emit(']');
      } else if (I.getPrototypeOf(o) !== I.objectPrototype && I.getPrototypeOf(o) !== null) {
        // Not plain data: a Date, Map or Set is encoded as what it holds; anything else (a Promise, a boxed
        // primitive, an Error, a typed array, a class instance) cannot be compared, rather than collapse to {}.
        if (isBranded(I.dateGetTime, o)) {
          emit('Date(');
          walk(apply(I.dateGetTime, o, []));
          emit(')');
        } else if (isBranded(I.mapSize, o) || isBranded(I.setSize, o)) {
          const isMap = isBranded(I.mapSize, o);
          const iterator = apply(isMap ? I.mapEntries : I.setValues, o, []);
          const next = isMap ? I.mapNext : I.setNext;
          emit(isMap ? 'Map[' : 'Set[');
          let first = true;
          for (let step = apply(next, iterator, []) as IteratorResult<unknown>; !step.done; step = apply(next, iterator, []) as IteratorResult<unknown>) {
            if (!first) emit(',');
            first = false;
            if (isMap) {
              const pair = step.value as [unknown, unknown];
              emit('[');
              walk(pair[0]);
              emit(',');
              walk(pair[1]);
              emit(']');
            } else walk(step.value);
          }
          emit(']');
        } else {
          let kind = 'an object that is not plain data';
          try {
            kind = 'a value of kind ' + (apply(I.objectToString, o, []) as string);
          } catch {
            // a throwing Symbol.toStringTag: keep the generic name
          }
          throw new TypeError(kind + ' cannot be compared (return plain data: objects, arrays, strings, numbers, Date, Map, Set)');
        }
      } else {
        const names = sortNames(keys(o));
        emit('{');
        for (let i = 0; i < names.count; i++) {
          if (i) emit(',');
          emit(quote(names[i]));
          emit(':');
          walk(o[names[i]]);
        }
        emit('}');
      }
      stack.count--;
    };
    walk(root);
    return out;
  };
}

/**
 * The encoder's built-ins, read from the realm this runs in. Like
 * `makeEncoder` it is evaluated inside isolates from its source, before any
 * model-written code, so it names only globals.
 */
export function captureIntrinsics(): EncoderIntrinsics {
  const size = (proto: object) => Object.getOwnPropertyDescriptor(proto, 'size')!.get as () => number;
  return {
    keys: Object.keys,
    isArray: Array.isArray,
    apply: Reflect.apply,
    quote: JSON.stringify,
    dateGetTime: Date.prototype.getTime,
    mapEntries: Map.prototype.entries,
    setValues: Set.prototype.values,
    mapNext: Object.getPrototypeOf(new Map().entries()).next,
    setNext: Object.getPrototypeOf(new Set().values()).next,
    mapSize: size(Map.prototype),
    setSize: size(Set.prototype),
    getPrototypeOf: Object.getPrototypeOf,
    objectPrototype: Object.prototype,
    objectToString: Object.prototype.toString,
    TypeError,
    RangeError,
  };
}

/** The host's encoder: expected values are encoded with it, results inside the sandbox with the same function. */
export const canonical: (value: unknown) => string = makeEncoder(captureIntrinsics(), ENCODER_LIMITS);

/** Source text that defines `encode` in another realm, with that realm's intrinsics. */
export function encoderSource(limits: EncoderLimits = ENCODER_LIMITS): string {
  return `(${makeEncoder.toString()})((${captureIntrinsics.toString()})(), ${JSON.stringify(limits)})`;
}

const WORDS: Record<string, [string, unknown]> = {
  u: ['undefined', undefined],
  n: ['null', null],
  t: ['true', true],
  f: ['false', false],
  N: ['NaN', NaN],
  I: ['Infinity', Infinity],
};
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?(n?)/y;

/** Parses the canonical encoding back to a value (own `__proto__` keys stay own properties). */
export function decodeCanonical(text: string, maxDepth = ENCODER_LIMITS.maxDepth + 1): unknown {
  let at = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`not a canonical encoding: ${what} at character ${at}`);
  };
  const take = (token: string) => {
    if (!text.startsWith(token, at)) return false;
    at += token.length;
    return true;
  };
  const expect = (token: string) => {
    if (!take(token)) fail(`expected ${JSON.stringify(token)}`);
  };
  const list = (close: string, item: () => void) => {
    if (take(close)) return;
    do item();
    while (take(','));
    expect(close);
  };
  const string = (): string => {
    const start = at;
    let end = text.indexOf('"', at + 1);
    // A quote preceded by an odd number of backslashes is escaped: look further.
    for (;;) {
      if (end < 0) return fail('unterminated string');
      let slashes = 0;
      while (text[end - 1 - slashes] === '\\') slashes++;
      if (slashes % 2 === 0) break;
      end = text.indexOf('"', end + 1);
    }
    at = end + 1;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (depth: number): unknown => {
    if (depth > maxDepth) fail('nesting too deep');
    const c = text[at];
    switch (c) {
      case '"':
        return string();
      case '[': {
        at++;
        const items: unknown[] = [];
        list(']', () => items.push(value(depth + 1)));
        return items;
      }
      case '{': {
        at++;
        const object: Record<string, unknown> = {};
        list('}', () => {
          if (text[at] !== '"') fail('an object key must be a string');
          const key = string();
          expect(':');
          Object.defineProperty(object, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        });
        return object;
      }
      case 'D': {
        expect('Date(');
        const time = value(depth + 1);
        expect(')');
        return new Date(time as number);
      }
      case 'M': {
        expect('Map[');
        const map = new Map<unknown, unknown>();
        list(']', () => {
          expect('[');
          const k = value(depth + 1);
          expect(',');
          map.set(k, value(depth + 1));
          expect(']');
        });
        return map;
      }
      case 'S': {
        expect('Set[');
        const set = new Set<unknown>();
        list(']', () => set.add(value(depth + 1)));
        return set;
      }
    }
    const word = WORDS[c];
    if (word) {
      expect(word[0]);
      return word[1];
    }
    if (take('-Infinity')) return -Infinity;
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (!number) return fail('unexpected character');
    at = NUMBER.lastIndex;
    return number[1] ? BigInt(number[0].slice(0, -1)) : Number(number[0]);
  };
  const result = value(0);
  if (at !== text.length) fail('trailing characters');
  return result;
}
