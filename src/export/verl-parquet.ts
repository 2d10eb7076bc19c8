/**
 * verl's RL dataset layout as Parquet, written with hyparquet-writer under an
 * explicit nested schema, so pyarrow (and `datasets`) read real lists and
 * structs — verl's RLHFDataset passes `prompt` to `apply_chat_template` as a
 * list of messages, and hands `reward_model` and `extra_info` to the reward
 * function as dicts (see verl's examples/data_preprocess/gsm8k.py):
 *
 *   data_source   string                                 `autodidact/<family>` (verl picks the reward function by it)
 *   prompt        list<struct<role: string, content: string>>
 *   ability       string                                 the task family
 *   reward_model  struct<style: string, ground_truth: string (nullable)>
 *   extra_info    struct<split, index: int64, question, answer, ground_truth_source,
 *                        accepted_sample_ids: list<int64>, …Provenance (sampler as a struct)>
 */
import { parquetWriteBuffer, type SchemaElement } from 'hyparquet-writer';
import type { Provenance } from './provenance.js';
import { writeAtomically } from './output.js';
import { InternalError } from '../errors.js';

/** One verl row. */
export interface VerlRow {
  data_source: string;
  prompt: { role: 'user'; content: string }[];
  ability: string;
  reward_model: { style: 'rule'; ground_truth: string | null };
  extra_info: Provenance & {
    split: string;
    index: number;
    /** The task prompt. */
    question: string;
    /** The accepted completion (the first, when a task has several). */
    answer: string;
    /** Where ground_truth came from: `task-answer`, `majority-vote`, `task-meta` (JSON of the task's meta, e.g. code tests) or `none`. */
    ground_truth_source: string;
    accepted_sample_ids: number[];
  };
}

/** A schema node: a leaf with a physical type, or a group (struct) or list of nodes. */
type Node =
  | { name: string; leaf: 'STRING' | 'INT32' | 'INT64' | 'DOUBLE' | 'BOOLEAN'; optional?: boolean }
  | { name: string; struct: Node[]; optional?: boolean }
  | { name: string; list: Node };

const string = (name: string, optional = false): Node => ({ name, leaf: 'STRING', optional });
const int32 = (name: string, optional = false): Node => ({ name, leaf: 'INT32', optional });
const int64 = (name: string, optional = false): Node => ({ name, leaf: 'INT64', optional });
const double = (name: string, optional = false): Node => ({ name, leaf: 'DOUBLE', optional });
const boolean = (name: string, optional = false): Node => ({ name, leaf: 'BOOLEAN', optional });

const SAMPLER: Node = {
  name: 'sampler',
  struct: [int32('n', true), double('temperature', true), double('top_p', true), int32('max_tokens', true), int64('seed', true), { name: 'stop', list: string('element') }, string('extra', true)],
};

/** The columns, in order. */
export const VERL_SCHEMA: Node[] = [
  string('data_source'),
  { name: 'prompt', list: { name: 'element', struct: [string('role'), string('content')] } },
  string('ability'),
  { name: 'reward_model', struct: [string('style'), string('ground_truth', true)] },
  {
    name: 'extra_info',
    struct: [
      string('split'),
      int64('index'),
      string('question'),
      string('answer'),
      string('ground_truth_source'),
      { name: 'accepted_sample_ids', list: int64('element') },
      string('run'),
      string('run_dir'),
      int32('round'),
      string('task_id'),
      string('family'),
      double('difficulty', true),
      int64('sample_id'),
      string('sample_kind'),
      string('policy_version'),
      SAMPLER,
      string('verifier', true),
      string('verifier_version', true),
      double('reward', true),
      boolean('pass', true),
      string('accept_reason'),
    ],
  },
];

/** The schema as Parquet's flat pre-order list; lists use the standard three levels (`<name>` LIST → repeated `list` → `element`). */
export function flattenSchema(nodes: readonly Node[]): SchemaElement[] {
  const out: SchemaElement[] = [{ name: 'root', num_children: nodes.length }];
  const visit = (node: Node) => {
    if ('leaf' in node) {
      const type = node.leaf === 'STRING' ? { type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const } : { type: node.leaf };
      out.push({ name: node.name, ...type, repetition_type: node.optional ? 'OPTIONAL' : 'REQUIRED' });
    } else if ('struct' in node) {
      out.push({ name: node.name, repetition_type: node.optional ? 'OPTIONAL' : 'REQUIRED', num_children: node.struct.length });
      node.struct.forEach(visit);
    } else {
      out.push({ name: node.name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 }, { name: 'list', repetition_type: 'REPEATED', num_children: 1 });
      visit(node.list);
    }
  };
  nodes.forEach(visit);
  return out;
}

/** A value shaped for the writer: INT64 leaves become bigint (hyparquet-writer's requirement), following the schema. */
function toWriterValue(node: Node, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if ('leaf' in node) {
    if (node.leaf !== 'INT64') return value;
    if (!Number.isSafeInteger(value)) throw new InternalError(`verl-parquet: ${node.name} must be an integer, got ${String(value)}`);
    return BigInt(value as number);
  }
  if ('struct' in node) {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(node.struct.map((child) => [child.name, toWriterValue(child, record[child.name])]));
  }
  return (value as unknown[]).map((item) => toWriterValue(node.list, item));
}

/** Writes verl rows to a Parquet file (snappy, one row group per 1,000 rows), atomically. */
export function writeVerlParquet(path: string, rows: readonly VerlRow[]): void {
  const buffer = parquetWriteBuffer({
    schema: flattenSchema(VERL_SCHEMA),
    columnData: VERL_SCHEMA.map((node) => ({ name: node.name, data: rows.map((row) => toWriterValue(node, (row as unknown as Record<string, unknown>)[node.name])) })),
    kvMetadata: [{ key: 'autodidact.format', value: 'verl-parquet' }],
    createdBy: 'autodidact',
  });
  writeAtomically(path, new Uint8Array(buffer));
}
