/**
 * How Absolute Zero's tasks are written for a policy and read back: the
 * proposer's and solver's prompts for each task type, and the parsers of
 * their answers. Two formats:
 *
 * - `expr`: the toy program language of the embedded model. A program is one
 *   integer expression in `x` (`x*2+1`, `(x+3)%4`): digits, x, + - * % and
 *   parentheses, up to 24 characters, whose value is taken modulo 10 (option
 *   `modulus`; 0 for plain integers), so inputs and outputs are digits.
 *   Prompts are compact lines, so a 0.6 M-parameter byte-level model can read
 *   them. It runs as strict-mode JavaScript (`function f(x) { return
 *   ((… % 10) + 10) % 10; }`) in the sandbox. Digits keep a guess's chance of
 *   being right near 1 in 10, so self-play has a signal from the first step.
 * - `js`: for real models. A program is any JavaScript defining `function
 *   f(x)`, inputs and outputs are JSON values, and the prompts are
 *   instructions with fenced code blocks, parsed leniently and failing with a
 *   named reason.
 *
 * A parse failure is a format error (the paper's −1); a well-formed answer
 * that is wrong is checked and scored by the executor.
 */
import { Rng } from '../engine/random.js';
import { canonical } from '../sandbox/canonical.js';
import { InvalidArgumentError } from '../errors.js';

export type TaskType = 'deduction' | 'abduction' | 'induction';
export const TASK_TYPES: readonly TaskType[] = ['deduction', 'abduction', 'induction'];

/** A validated (program, input, output) triplet: deduction and abduction tasks. */
export interface Triplet {
  program: string;
  input: unknown;
  output: unknown;
}

/** An induction task: a program's input/output pairs, some shown to the solver and the rest held back to check its program. */
export interface InductionTask {
  program: string;
  shown: { input: unknown; output: unknown }[];
  hidden: { input: unknown; output: unknown }[];
  /** The proposer's hint about the function (the `js` format; empty in `expr`). */
  message: string;
}

/** An induction task from a program's input/output pairs: the first half (rounded up) shown, the rest held back. */
export function inductionTask(program: string, pairs: readonly { input: unknown; output: unknown }[], message: string): InductionTask {
  const half = Math.ceil(pairs.length / 2);
  return { program, shown: pairs.slice(0, half), hidden: pairs.slice(half), message };
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface SelfPlayFormat {
  readonly name: string;
  /** JavaScript defining `f` for a program of the format's language. */
  toJs(program: string): string;
  /** Why a program is outside the language (undefined when it is inside). */
  checkProgram(program: string): string | undefined;
  /** Why an input is outside the language (undefined when it is inside). */
  checkInput(input: unknown): string | undefined;
  /** Why an output is outside the language's limits (undefined when it is inside). */
  checkOutput(output: unknown): string | undefined;
  /** The proposer's prompt for a deduction or abduction task, shown `references` from the buffer. */
  proposePrompt(type: 'deduction' | 'abduction', references: readonly Triplet[]): string;
  /** The proposer's prompt for an induction task: inputs for `program`. */
  proposeInductionPrompt(program: string): string;
  parseProposal(text: string): Parsed<{ program: string; input: unknown }>;
  /** A proposal that is a program alone (self-play with `inputs: random`, where the executor draws the input). */
  parseProgram(text: string): Parsed<string>;
  /** A uniformly drawn input of the language (formats whose inputs can be enumerated; `inputs: random` needs it). */
  randomInput?(rng: Rng): unknown;
  parseInductionProposal(text: string): Parsed<{ inputs: unknown[]; message: string }>;
  solvePrompt(type: 'deduction' | 'abduction', task: Triplet): string;
  solveInductionPrompt(task: InductionTask): string;
  /** The solver's answer: an output (deduction), an input (abduction) or a program (induction). */
  parseAnswer(type: TaskType, text: string): Parsed<unknown>;
  /** Inputs an induction proposal must give (at least; the `expr` format asks for exactly this many). */
  readonly inductionInputs: number;
  /**
   * The format prior (optional): a prompt of the given kind filled with random
   * content and a random well-formed completion, independent of the prompt's
   * meaning. Training on these teaches a fresh model the surface of the
   * prompts and nothing about what programs compute (no completion is a right
   * answer except by chance).
   */
  formatPriorExample?(kind: PromptKind, rng: Rng, options?: { programOnly?: boolean }): { prompt: string; completion: string; task?: Triplet };
}

/** The solver's prompt for a task of any type. */
export function solverPrompt(format: SelfPlayFormat, type: TaskType, task: Triplet | InductionTask): string {
  return type === 'induction' ? format.solveInductionPrompt(task as InductionTask) : format.solvePrompt(type, task as Triplet);
}

/** The six (role, type) prompts of self-play. */
export type PromptKind = `propose-${TaskType}` | `solve-${TaskType}`;
export const PROMPT_KINDS: readonly PromptKind[] = ['propose-deduction', 'propose-abduction', 'propose-induction', 'solve-deduction', 'solve-abduction', 'solve-induction'];

const EXPR_CHARS = /^[x0-9+\-*%() ]+$/;
const INTEGER = /^-?\d{1,4}$/;

/** The toy language of the embedded model: integer expressions in x. */
export function exprFormat(options: { maxProgramLength?: number; modulus?: number; maxInput?: number; maxOutput?: number; inductionInputs?: number } = {}): SelfPlayFormat {
  const maxProgramLength = options.maxProgramLength ?? 24;
  const modulus = options.modulus ?? 10;
  if (!Number.isInteger(modulus) || modulus < 0 || modulus === 1) throw new RangeError(`modulus must be 0 (none) or an integer ≥ 2, got ${modulus}`);
  const maxInput = options.maxInput ?? (modulus ? modulus - 1 : 99);
  const maxOutput = options.maxOutput ?? (modulus ? modulus - 1 : 9999);
  // With a modulus, inputs and outputs are residues (0 … modulus − 1); without, integers of either sign.
  const minInput = modulus ? 0 : -maxInput;
  const minOutput = modulus ? 0 : -maxOutput;
  const inductionInputs = options.inductionInputs ?? 6;
  const integer = (text: string, what: string): Parsed<number> => {
    const trimmed = text.trim();
    if (!INTEGER.test(trimmed)) return { ok: false, reason: `${what} ${JSON.stringify(trimmed)} is not an integer` };
    return { ok: true, value: Number(trimmed) };
  };
  const program = (text: string): Parsed<string> => {
    const trimmed = text.trim();
    const reason = checkProgram(trimmed);
    return reason ? { ok: false, reason } : { ok: true, value: trimmed };
  };
  const checkProgram = (p: string) => {
    if (p.length === 0) return 'the program is empty';
    if (p.length > maxProgramLength) return `the program is longer than ${maxProgramLength} characters`;
    if (!EXPR_CHARS.test(p)) return `the program ${JSON.stringify(p)} has characters outside x, digits, + - * % ( )`;
    // Balanced parentheses: the program is one expression, never a piece of the code around it.
    let depth = 0;
    for (const c of p) {
      depth += c === '(' ? 1 : c === ')' ? -1 : 0;
      if (depth < 0) break;
    }
    if (depth !== 0) return `the program ${JSON.stringify(p)} has unbalanced parentheses`;
    return undefined;
  };
  const checkInt = (value: unknown, min: number, max: number, what: string) => (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? undefined : `${what} ${canonical(value)} is not an integer in [${min}, ${max}]`);
  const pair = (t: Triplet) => `${t.program}:${t.input}`;
  return {
    name: 'expr',
    inductionInputs,
    toJs: (p) => (modulus ? `"use strict";\nfunction f(x) { return (((${p}) % ${modulus}) + ${modulus}) % ${modulus}; }` : `"use strict";\nfunction f(x) { return (${p}); }`),
    checkProgram,
    checkInput: (input) => checkInt(input, minInput, maxInput, 'the input'),
    checkOutput: (output) => checkInt(output, minOutput, maxOutput, 'the output'),
    // Proposer prompts end in `>`, solver prompts in `=`: the last character tells a small model which role it plays.
    proposePrompt: (type, references) => `p${type[0]} ${references.map(pair).join(' ')} >`,
    proposeInductionPrompt: (p) => `pi ${p} >`,
    parseProposal(text) {
      const parts = text.split(':');
      if (parts.length !== 2) return { ok: false, reason: 'a proposal is program:input' };
      const p = program(parts[0]);
      if (!p.ok) return p;
      const input = integer(parts[1], 'the input');
      return input.ok ? { ok: true, value: { program: p.value, input: input.value } } : input;
    },
    parseProgram: (text) => program(text),
    randomInput: (rng) => minInput + Math.floor(rng.next() * (maxInput - minInput + 1)),
    parseInductionProposal(text) {
      const parts = text.split(',');
      if (parts.length !== inductionInputs) return { ok: false, reason: `an induction proposal is ${inductionInputs} inputs separated by commas` };
      const inputs: number[] = [];
      for (const part of parts) {
        const input = integer(part, 'an input');
        if (!input.ok) return input;
        inputs.push(input.value);
      }
      return { ok: true, value: { inputs, message: '' } };
    },
    solvePrompt: (type, task) => (type === 'deduction' ? `sd ${task.program}:${task.input} =` : `sa ${task.program} ${task.output} =`),
    solveInductionPrompt: (task) => `si ${task.shown.map((e) => `${e.input}:${e.output}`).join(' ')} =`,
    parseAnswer(type, text) {
      if (type === 'induction') return program(text);
      return integer(text, type === 'deduction' ? 'the output' : 'the input');
    },
    formatPriorExample(kind, rng, priorOptions = {}) {
      const randomProgram = () => {
        for (;;) {
          const p = randomExpr(rng);
          if (p.length <= maxProgramLength) return p;
        }
      };
      const value = () => randomInt(rng, Math.min(maxInput, 9));
      const output = () => randomInt(rng, Math.min(maxOutput, modulus ? 9 : 20));
      const references = () => Array.from({ length: 1 + Math.floor(rng.next() * 3) }, () => ({ program: randomProgram(), input: value(), output: 0 }));
      const examples = () => Array.from({ length: Math.ceil(inductionInputs / 2) }, () => ({ input: value(), output: output() }));
      switch (kind) {
        case 'propose-deduction':
        case 'propose-abduction':
          return { prompt: this.proposePrompt(kind === 'propose-deduction' ? 'deduction' : 'abduction', references()), completion: priorOptions.programOnly ? randomProgram() : `${randomProgram()}:${value()}` };
        case 'propose-induction':
          return { prompt: this.proposeInductionPrompt(randomProgram()), completion: rng.shuffle(Array.from({ length: Math.max(10, inductionInputs) }, (_, i) => i)).slice(0, inductionInputs).join(',') };
        case 'solve-deduction': {
          const task = { program: randomProgram(), input: value(), output: 0 };
          return { prompt: this.solvePrompt('deduction', task), completion: String(output()), task };
        }
        case 'solve-abduction':
          return { prompt: this.solvePrompt('abduction', { program: randomProgram(), input: 0, output: output() }), completion: String(value()) };
        case 'solve-induction':
          return { prompt: this.solveInductionPrompt({ program: '', shown: examples(), hidden: [], message: '' }), completion: randomProgram() };
      }
    },
  };
}

/** A uniform integer in [0, max]. */
function randomInt(rng: Rng, max: number): number {
  return Math.floor(rng.next() * (max + 1));
}

/** A random expression of the `expr` language: x or a small constant, combined up to twice. */
export function randomExpr(rng: Rng, depth = 0): string {
  const leaf = () => (rng.next() < 0.6 ? 'x' : String(randomInt(rng, 9)));
  if (depth >= 2 || rng.next() < 0.3) return leaf();
  const op = ['+', '-', '*', '%'][Math.floor(rng.next() * 4)];
  const left = randomExpr(rng, depth + 1);
  const right = leaf();
  return depth > 0 && rng.next() < 0.5 ? `(${left}${op}${right})` : `${left}${op}${right}`;
}

/** The first fenced block (```lang … ```) whose language is one of `langs` (or any, with no langs), else undefined. */
function fenced(text: string, langs: readonly string[]): string | undefined {
  for (const match of text.matchAll(/```([\w-]*)[^\n]*\n([\s\S]*?)```/g)) {
    if (langs.length === 0 || langs.includes(match[1].toLowerCase())) return match[2].trim();
  }
  return undefined;
}

function json(text: string | undefined, what: string, block: string): Parsed<unknown> {
  if (text === undefined) return { ok: false, reason: `no \`\`\`${block} block with ${what}` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: `${what} is not JSON: ${text.slice(0, 80)}` };
  }
  try {
    canonical(value);
  } catch (error) {
    return { ok: false, reason: `${what}: ${(error as Error).message}` };
  }
  return { ok: true, value };
}

/** The format of real models: JavaScript programs, JSON values, instructions with fenced blocks. */
export function jsFormat(options: { maxProgramLength?: number; maxValueLength?: number; inductionInputs?: number } = {}): SelfPlayFormat {
  const maxProgramLength = options.maxProgramLength ?? 2000;
  const maxValueLength = options.maxValueLength ?? 500;
  const inductionInputs = options.inductionInputs ?? 6;
  const code = (p: string) => '```javascript\n' + p + '\n```';
  const value = (v: unknown) => '```json\n' + canonical(v) + '\n```';
  const checkValue = (v: unknown, what: string) => {
    let text: string;
    try {
      text = canonical(v);
      JSON.parse(text); // NaN, ±Infinity, undefined, BigInt, Date, Map and Set encode, but are not JSON
    } catch {
      return `${what} is not a JSON value`;
    }
    return text.length > maxValueLength ? `${what} is longer than ${maxValueLength} characters as JSON` : undefined;
  };
  const answerTag = (text: string) => /<answer>([\s\S]*?)<\/answer>/.exec(text)?.[1].trim();
  return {
    name: 'js',
    inductionInputs,
    toJs: (p) => p,
    checkProgram(p) {
      if (!/\bfunction\s+f\s*\(/.test(p) && !/\b(const|let|var)\s+f\s*=/.test(p)) return 'the program must define a function f';
      if (p.length > maxProgramLength) return `the program is longer than ${maxProgramLength} characters`;
      return undefined;
    },
    checkInput: (input) => checkValue(input, 'the input'),
    checkOutput: (output) => checkValue(output, 'the output'),
    proposePrompt(type, references) {
      const goal =
        type === 'deduction'
          ? 'Another model will be shown the program and the input and must predict the output.'
          : 'Another model will be shown the program and the output and must find an input that produces it.';
      return [
        `Write a new ${type} task: a deterministic JavaScript program defining \`function f(x)\` and an input for it.`,
        `${goal} Make it challenging but solvable by reasoning, and different from these examples:`,
        ...references.map((r, i) => `Example ${i + 1}:\n${code(r.program)}\nInput:\n${value(r.input)}`),
        'Answer with the program in a ```javascript block and the input (one JSON value, the argument x) in a ```json block. No randomness, time, I/O or imports.',
      ].join('\n\n');
    },
    proposeInductionPrompt: (p) =>
      [
        `Here is a program:\n${code(p)}`,
        `Write ${inductionInputs} different inputs for it, as a JSON array in a \`\`\`json block, chosen so that its input/output pairs reveal what it does. Then, in a \`\`\`message block, one sentence hinting at what f computes, without giving the code.`,
      ].join('\n\n'),
    parseProposal(text) {
      const program = fenced(text, ['javascript', 'js']);
      if (program === undefined) return { ok: false, reason: 'no ```javascript block with the program' };
      const input = json(fenced(text, ['json']), 'the input', 'json');
      return input.ok ? { ok: true, value: { program, input: input.value } } : input;
    },
    parseProgram(text) {
      const program = fenced(text, ['javascript', 'js']);
      return program === undefined ? { ok: false, reason: 'no ```javascript block with the program' } : { ok: true, value: program };
    },
    parseInductionProposal(text) {
      const inputs = json(fenced(text, ['json']), 'the inputs', 'json');
      if (!inputs.ok) return inputs;
      if (!Array.isArray(inputs.value) || inputs.value.length < inductionInputs) return { ok: false, reason: `the inputs must be a JSON array of at least ${inductionInputs} values` };
      return { ok: true, value: { inputs: inputs.value.slice(0, inductionInputs), message: fenced(text, ['message']) ?? '' } };
    },
    solvePrompt: (type, task) =>
      type === 'deduction'
        ? `Given this program:\n${code(task.program)}\nWhat does f return for the input\n${value(task.input)}\nReason step by step, then give the output as one JSON value inside <answer></answer>.`
        : `Given this program:\n${code(task.program)}\nFind an input x for which f(x) returns\n${value(task.output)}\nReason step by step, then give the input as one JSON value inside <answer></answer>.`,
    solveInductionPrompt: (task) =>
      [
        'Write a JavaScript function `function f(x)` that maps each input to its output:',
        ...task.shown.map((e) => `f(${canonical(e.input)}) === ${canonical(e.output)}`),
        ...(task.message ? [`Hint: ${task.message}`] : []),
        'Answer with the program in a ```javascript block.',
      ].join('\n'),
    parseAnswer(type, text) {
      if (type === 'induction') {
        const program = fenced(text, ['javascript', 'js']);
        return program === undefined ? { ok: false, reason: 'no ```javascript block with the program' } : { ok: true, value: program };
      }
      const inner = answerTag(text);
      if (inner === undefined) return { ok: false, reason: 'no <answer>…</answer>' };
      return json(inner, type === 'deduction' ? 'the output' : 'the input', 'answer');
    },
  };
}

export function selfPlayFormat(name: string, options: Record<string, number> = {}): SelfPlayFormat {
  if (name === 'expr') return exprFormat(options);
  if (name === 'js') return jsFormat(options);
  throw new InvalidArgumentError('format', `unknown self-play format "${name}" (valid: expr, js); set selfplay.format or tasks.options.format to one of them`);
}
