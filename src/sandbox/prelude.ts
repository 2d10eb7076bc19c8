/**
 * The environment of every sandbox context, run before any model-written
 * code: a console into a capped buffer, a seeded Math.random, a fixed clock
 * on every path to it (Date, Date.prototype.constructor, Intl.DateTimeFormat),
 * no API that schedules work after the call (WebAssembly, Atomics.waitAsync,
 * FinalizationRegistry, WeakRef) or shares memory (SharedArrayBuffer), and
 * the harness the child process calls: `invoke` (call an entry function),
 * `settle` (a script's completion value) and `stdout`. `__autodidactEncode`
 * and `__autodidactDescribe` are the same encoder and error description as
 * globals, for harnesses appended to a program; they are non-writable and
 * non-configurable, so a program cannot replace or shadow them (a top-level
 * `let` of either name is a SyntaxError).
 *
 * The script's completion value is that harness. The child keeps references
 * to its functions, taken before user code runs: whatever the code does to
 * globals (even `globalThis = …`), results, errors and stdout come from
 * closures it cannot reach, and every built-in they use was captured here.
 * Results leave as canonical text (./canonical.ts), thrown values as a
 * bounded `Name: message` string; both are made inside the timed call.
 */
import { encoderSource } from './canonical.js';

export interface PreludeOptions {
  seed: number;
  now: number;
  maxStdout: number;
  /** Characters kept of a thrown value's description. */
  maxError: number;
}

/** What `invoke` and `settle` return: canonical text of the result, or why there is none. */
export type Outcome = { ok: string } | { threw: string } | { unencodable: string };

export function preludeSource({ seed, now, maxStdout, maxError }: PreludeOptions): string {
  return `(() => {
  'use strict';
  const G = globalThis;
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const stringify = JSON.stringify;
  const toString = String;
  const slice = String.prototype.slice;
  const indirectEval = eval;
  const encode = ${encoderSource()};
  const cut = (text, max) => (text.length > max ? apply(slice, text, [0, max]) + '…' : text);

  // stdout: a capped buffer only these closures can reach.
  let buffer = '';
  let dropped = false;
  const show = (v) => { try { return typeof v === 'string' ? v : stringify(v) ?? toString(v); } catch { return '[unprintable]'; } };
  const write = (...args) => {
    if (dropped) return;
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i ? ' ' : '') + show(args[i]);
    line += '\\n';
    if (buffer.length + line.length > ${maxStdout}) { buffer += apply(slice, line, [0, ${maxStdout} - buffer.length]); dropped = true; return; }
    buffer += line;
  };
  G.console = Object.freeze({ log: write, error: write, warn: write, info: write, debug: write });
  const stdout = () => buffer + (dropped ? '…[stdout truncated at ${maxStdout} characters]\\n' : '');

  // A thrown value as 'Name: message', read inside the timed call and cut to size.
  const describe = (e) => {
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        const name = e.name, message = e.message;
        const n = typeof name === 'string' ? name : toString(name);
        const m = typeof message === 'string' ? message : toString(message);
        return cut(cut(n, 200) + ': ' + cut(m, ${maxError}), ${maxError});
      }
      return cut(typeof e === 'string' ? e : toString(e), ${maxError});
    } catch {
      return 'an unprintable exception';
    }
  };
  // For harnesses appended to a program (the code verifier's): non-configurable globals, so no declaration can shadow them.
  defineProperty(G, '__autodidactEncode', { value: encode });
  defineProperty(G, '__autodidactDescribe', { value: describe });
  const outcome = (v) => { try { return { ok: encode(v) }; } catch (e) { return { unencodable: describe(e) }; } };
  const settle = async (v) => { try { return outcome(await v); } catch (e) { return { threw: describe(e) }; } };
  const invoke = async (entry, args) => {
    let f;
    try { f = indirectEval(entry); } catch (e) { return { threw: describe(e) }; }
    if (typeof f !== 'function') return { threw: 'TypeError: ' + entry + ' is not a function' };
    try { return outcome(await apply(f, undefined, args)); } catch (e) { return { threw: describe(e) }; }
  };

  // Deterministic: a seeded Math.random and one fixed instant on every path to the clock.
  let state = ${seed >>> 0} || 0x9e3779b9;
  Math.random = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state / 4294967296; };
  const RealDate = Date;
  const fixed = ${now};
  const construct = Reflect.construct;
  const toDateString = RealDate.prototype.toString;
  function FixedDate(...args) {
    if (!new.target) return apply(toDateString, new RealDate(fixed), []);
    return construct(RealDate, args.length ? args : [fixed], new.target);
  }
  defineProperty(FixedDate, 'name', { value: 'Date' });
  defineProperty(FixedDate, 'length', { value: 7 });
  defineProperty(FixedDate, 'prototype', { value: RealDate.prototype });
  FixedDate.now = () => fixed;
  FixedDate.UTC = RealDate.UTC;
  FixedDate.parse = RealDate.parse;
  // The real constructor stays reachable only through what we redirect: its prototype's constructor and its now.
  RealDate.now = FixedDate.now;
  defineProperty(RealDate.prototype, 'constructor', { value: FixedDate, writable: true, configurable: true });
  G.Date = FixedDate;
  const DTF = Intl.DateTimeFormat.prototype;
  const format = getOwnPropertyDescriptor(DTF, 'format').get;
  const formatToParts = DTF.formatToParts;
  defineProperty(DTF, 'format', { get() { const f = apply(format, this, []); return (date) => f(date === undefined ? fixed : date); }, configurable: true });
  DTF.formatToParts = function (date) { return apply(formatToParts, this, [date === undefined ? fixed : date]); };

  delete G.WebAssembly;
  delete G.SharedArrayBuffer;
  delete G.FinalizationRegistry;
  delete G.WeakRef;
  if (typeof Atomics === 'object') delete Atomics.waitAsync;
  return { invoke, settle, stdout };
})()`;
}
