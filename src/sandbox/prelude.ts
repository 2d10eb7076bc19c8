/**
 * The environment of every sandbox context, run before any model-written
 * code: a console into a capped buffer, a seeded Math.random, a fixed clock
 * on every path to it (Date, Date.prototype.constructor, Intl.DateTimeFormat),
 * no API that schedules work after the call (WebAssembly, Atomics.waitAsync,
 * FinalizationRegistry, WeakRef) or shares memory (SharedArrayBuffer), and
 * the harness the child process calls: `harness(code, entry?, args?)` runs
 * the code, calls the entry function (or settles the completion value) and
 * returns the outcome with stdout, in one call the child times (with `calls`,
 * one outcome per argument list: a verifier's unit tests, so no harness is ever
 * appended to a program where the program could reach it).
 *
 * The script's completion value is that harness. The child keeps a reference
 * to it, taken before user code runs: whatever the code does to
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
  /** Characters of everything one outcome carries: results and descriptions, over all calls. */
  maxOutcome: number;
}

/** One call's outcome: canonical text of its result, or why there is none. */
export type CallOutcome = { ok: string } | { threw: string } | { unencodable: string };

/** What the harness returns: one call's outcome, or each of several calls' (`calls`, a null-prototype list of `count`); and what the code printed. */
export type Outcome = (CallOutcome | { calls: Record<number, CallOutcome>; count: number }) & { stdout: string };

export function preludeSource({ seed, now, maxStdout, maxError, maxOutcome }: PreludeOptions): string {
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
  const assert = (condition, ...args) => { if (!condition) write('Assertion failed' + (args.length ? ':' : ''), ...args); };
  G.console = Object.freeze({ log: write, error: write, warn: write, info: write, debug: write, trace: write, dir: write, table: write, assert });
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
  // Outcomes are null-prototype records, written with literals: a getter or setter the code put on
  // Object.prototype never runs on them, and no inherited \`then\` makes them thenables when returned.
  // Every text an outcome carries counts against one budget, so the reply stays bounded however many calls.
  let budget = ${maxOutcome};
  const spend = (text) => {
    budget -= text.length;
    if (budget < 0) throw new RangeError('the results are too large to compare (over ${maxOutcome} characters in all)');
    return text;
  };
  const outcome = (v) => {
    try { return { __proto__: null, ok: spend(encode(v)) }; }
    catch (e) { return { __proto__: null, unencodable: cut(describe(e), 300) }; }
  };
  const thrown = (e) => ({ __proto__: null, threw: budget > ${maxError} ? spend(describe(e)) : 'an exception (not described: the outcome is over its size budget)' });
  /**
   * Runs the code and returns its outcome and stdout, all in one timed call. The code is evaluated
   * as global code (indirect eval); with an entry, \`code ; entry\` evaluates to the entry function,
   * whether a declaration, a top-level const or strict-mode code defines it. With \`calls\` the entry
   * is called once per argument list; every result is awaited before it is encoded.
   */
  const harness = async (code, entry, args, calls) => {
    let result;
    try {
      const value = indirectEval(entry === undefined ? code : code + '\\n;' + entry);
      if (entry === undefined) result = outcome(await value);
      else if (typeof value !== 'function') result = { __proto__: null, threw: 'TypeError: ' + entry + ' is not a function' };
      else if (calls === undefined) result = outcome(await apply(value, undefined, args));
      else {
        const each = { __proto__: null };
        for (let i = 0; i < calls.length; i++) {
          let v;
          try { v = await apply(value, undefined, calls[i]); } catch (e) { each[i] = thrown(e); continue; }
          each[i] = outcome(v);
        }
        result = { __proto__: null, calls: each, count: calls.length };
      }
    } catch (e) {
      result = thrown(e);
    }
    defineProperty(result, 'stdout', { value: stdout(), enumerable: true });
    return result;
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
  return harness;
})()`;
}
