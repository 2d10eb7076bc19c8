import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { AutodidactError, InvalidArgumentError } from '../errors.js';
import { writeThrough } from './output.js';

/**
 * The GGUF container, version 3 (llama.cpp's model file format; spec:
 * https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). All numbers are
 * little-endian:
 *
 *   magic "GGUF" · version u32 · tensor count u64 · key/value count u64
 *   key/value pairs:  key (string) · value type u32 · value
 *   tensor infos:     name (string) · n_dims u32 · dims u64[n_dims] · ggml type u32 · offset u64
 *   padding to `general.alignment` (default 32)
 *   tensor data, each tensor starting at a multiple of the alignment
 *
 * A string is a u64 byte length and UTF-8 bytes (no terminator); an array is an
 * element type u32, a u64 count and the elements. Tensor dims are ggml's `ne`
 * order: fastest-varying first, i.e. a row-major (rows, cols) matrix has
 * dims [cols, rows]. Offsets count from the start of the tensor data section.
 * This module writes and reads the container; src/export/gguf.ts decides what goes in it.
 */

/** GGUF metadata value types (`gguf_type`). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufTypeId = (typeof GgufType)[keyof typeof GgufType];

/** ggml tensor type of float32 data (the only one we write). */
export const GGML_TYPE_F32 = 0;

/** Alignment of tensor data when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const VERSION = 3;

/** One metadata value with its GGUF type; arrays carry their element type. */
export type GgufValue =
  | { type: Exclude<GgufTypeId, typeof GgufType.ARRAY | typeof GgufType.STRING | typeof GgufType.BOOL>; value: number | bigint }
  | { type: typeof GgufType.BOOL; value: boolean }
  | { type: typeof GgufType.STRING; value: string }
  | { type: typeof GgufType.ARRAY; itemType: GgufTypeId; value: readonly (number | bigint | boolean | string)[] };

/** A float32 tensor to write: `shape` in row-major (numpy/PyTorch) order, as in safetensors. */
export interface GgufTensorInput {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** A tensor description read back from a file. */
export interface GgufTensorInfo {
  name: string;
  /** ggml `ne` order (fastest-varying first): the reverse of the row-major shape. */
  dims: number[];
  /** ggml type id (0 = F32). */
  type: number;
  /** Byte offset from the start of the tensor data section. */
  offset: number;
}

/** What readGgufHeader finds. */
export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute byte offset of the tensor data section. */
  dataOffset: number;
  /** File size in bytes. */
  fileSize: number;
}

/** Grows a byte buffer as values are appended. */
class ByteWriter {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
  u8(value: number): void {
    this.reserve(1);
    this.buffer.writeUInt8(value, this.length);
    this.length += 1;
  }
  i8(value: number): void {
    this.reserve(1);
    this.buffer.writeInt8(value, this.length);
    this.length += 1;
  }
  u16(value: number): void {
    this.reserve(2);
    this.buffer.writeUInt16LE(value, this.length);
    this.length += 2;
  }
  i16(value: number): void {
    this.reserve(2);
    this.buffer.writeInt16LE(value, this.length);
    this.length += 2;
  }
  u32(value: number): void {
    this.reserve(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
  }
  i32(value: number): void {
    this.reserve(4);
    this.buffer.writeInt32LE(value, this.length);
    this.length += 4;
  }
  f32(value: number): void {
    this.reserve(4);
    this.buffer.writeFloatLE(value, this.length);
    this.length += 4;
  }
  u64(value: number | bigint): void {
    this.reserve(8);
    this.buffer.writeBigUInt64LE(BigInt(value), this.length);
    this.length += 8;
  }
  i64(value: number | bigint): void {
    this.reserve(8);
    this.buffer.writeBigInt64LE(BigInt(value), this.length);
    this.length += 8;
  }
  f64(value: number): void {
    this.reserve(8);
    this.buffer.writeDoubleLE(value, this.length);
    this.length += 8;
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.reserve(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }
  padTo(alignment: number): void {
    const padding = (alignment - (this.length % alignment)) % alignment;
    this.reserve(padding);
    this.buffer.fill(0, this.length, this.length + padding);
    this.length += padding;
  }
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

function writeScalar(out: ByteWriter, type: GgufTypeId, value: number | bigint | boolean | string, key: string): void {
  const number = () => {
    if (typeof value !== 'number' && typeof value !== 'bigint') throw new InvalidArgumentError(`metadata.${key}`, `needs a number for GGUF type ${type}, got ${typeof value}`);
    return value;
  };
  switch (type) {
    case GgufType.UINT8: return out.u8(Number(number()));
    case GgufType.INT8: return out.i8(Number(number()));
    case GgufType.UINT16: return out.u16(Number(number()));
    case GgufType.INT16: return out.i16(Number(number()));
    case GgufType.UINT32: return out.u32(Number(number()));
    case GgufType.INT32: return out.i32(Number(number()));
    case GgufType.FLOAT32: return out.f32(Number(number()));
    case GgufType.UINT64: return out.u64(number());
    case GgufType.INT64: return out.i64(number());
    case GgufType.FLOAT64: return out.f64(Number(number()));
    case GgufType.BOOL:
      if (typeof value !== 'boolean') throw new InvalidArgumentError(`metadata.${key}`, `needs a boolean, got ${typeof value}`);
      return out.u8(value ? 1 : 0);
    case GgufType.STRING:
      if (typeof value !== 'string') throw new InvalidArgumentError(`metadata.${key}`, `needs a string, got ${typeof value}`);
      return out.string(value);
    default:
      throw new InvalidArgumentError(`metadata.${key}`, `GGUF type ${type} cannot be an array element here (nested arrays are not supported)`);
  }
}

/**
 * Writes a GGUF v3 file: the metadata in insertion order, then float32 tensors
 * in the given order, each aligned to `general.alignment` (when the metadata
 * sets it, else 32). Atomic: the file appears complete at `path` or not at
 * all. Returns the number of bytes written.
 */
export function writeGguf(path: string, metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorInput[]): number {
  const alignmentValue = metadata.get('general.alignment');
  const alignment = alignmentValue ? Number(alignmentValue.value) : GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment < 8 || (alignment & (alignment - 1)) !== 0) throw new InvalidArgumentError('metadata.general.alignment', `must be a power of two ≥ 8 (gguf-py requires a power of two), got ${alignment}`);
  const head = new ByteWriter();
  head.u32(MAGIC);
  head.u32(VERSION);
  head.u64(tensors.length);
  head.u64(metadata.size);
  for (const [key, entry] of metadata) {
    head.string(key);
    head.u32(entry.type);
    if (entry.type === GgufType.ARRAY) {
      head.u32(entry.itemType);
      head.u64(entry.value.length);
      for (const item of entry.value) writeScalar(head, entry.itemType, item, key);
    } else writeScalar(head, entry.type, entry.value, key);
  }
  const names = new Set<string>();
  let offset = 0;
  const offsets: number[] = [];
  for (const tensor of tensors) {
    if (names.has(tensor.name)) throw new InvalidArgumentError('tensors', `tensor name ${tensor.name} appears twice`);
    names.add(tensor.name);
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    if (count !== tensor.data.length) throw new InvalidArgumentError(`tensors.${tensor.name}`, `shape [${tensor.shape}] holds ${count} values, data has ${tensor.data.length}`);
    head.string(tensor.name);
    head.u32(tensor.shape.length);
    for (const dim of [...tensor.shape].reverse()) head.u64(dim); // ggml ne order: fastest-varying first
    head.u32(GGML_TYPE_F32);
    head.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensor.data.byteLength / alignment) * alignment;
  }
  head.padTo(alignment);
  // Streamed into a temporary next to `path` and renamed into place (src/export/output.ts), fsynced first.
  return writeThrough(path, (temporary) => {
    let written = 0;
    const fd = openSync(temporary, 'w');
    try {
      written += writeSync(fd, head.bytes());
      const zeros = Buffer.alloc(alignment);
      for (const tensor of tensors) {
        written += writeSync(fd, new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
        const padding = (alignment - (tensor.data.byteLength % alignment)) % alignment;
        if (padding > 0) written += writeSync(fd, zeros, 0, padding);
      }
      fsyncSync(fd); // the data is on disk before the name points at it
    } finally {
      closeSync(fd);
    }
    return written;
  });
}

/** A GGUF file that cannot be read: names the file and what is wrong. */
export class GgufFormatError extends AutodidactError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`Bad GGUF file ${path}: ${message}`);
    this.path = path;
  }
}

/** Reads sequentially from a file, failing with a GgufFormatError on truncation. */
class FileReader {
  private at = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly path: string,
  ) {}
  get position(): number {
    return this.at;
  }
  take(bytes: number): Buffer {
    if (this.at + bytes > this.size) throw new GgufFormatError(this.path, `truncated: needs ${bytes} bytes at offset ${this.at}, file has ${this.size}`);
    const buffer = Buffer.alloc(bytes);
    readSync(this.fd, buffer, 0, bytes, this.at);
    this.at += bytes;
    return buffer;
  }
  u32(): number {
    return this.take(4).readUInt32LE(0);
  }
  u64(): number {
    const value = this.take(8).readBigUInt64LE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError(this.path, `u64 ${value} at offset ${this.at - 8} is implausibly large`);
    return Number(value);
  }
  string(): string {
    return this.take(this.u64()).toString('utf8');
  }
  scalar(type: number): number | bigint | boolean | string {
    switch (type) {
      case GgufType.UINT8: return this.take(1).readUInt8(0);
      case GgufType.INT8: return this.take(1).readInt8(0);
      case GgufType.UINT16: return this.take(2).readUInt16LE(0);
      case GgufType.INT16: return this.take(2).readInt16LE(0);
      case GgufType.UINT32: return this.take(4).readUInt32LE(0);
      case GgufType.INT32: return this.take(4).readInt32LE(0);
      case GgufType.FLOAT32: return this.take(4).readFloatLE(0);
      case GgufType.BOOL: return this.take(1).readUInt8(0) !== 0;
      case GgufType.STRING: return this.string();
      case GgufType.UINT64: return this.take(8).readBigUInt64LE(0);
      case GgufType.INT64: return this.take(8).readBigInt64LE(0);
      case GgufType.FLOAT64: return this.take(8).readDoubleLE(0);
      default: throw new GgufFormatError(this.path, `unknown value type ${type} at offset ${this.position - 4}`);
    }
  }
}

/** Reads the header of a GGUF file (v2 or v3): metadata, tensor infos, alignment and where the data starts. */
export function readGgufHeader(path: string): GgufHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new GgufFormatError(path, `cannot open (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const reader = new FileReader(fd, fstatSync(fd).size, path);
    if (reader.u32() !== MAGIC) throw new GgufFormatError(path, 'does not start with the magic "GGUF"');
    const version = reader.u32();
    if (version < 2 || version > 3) throw new GgufFormatError(path, `version ${version}; this reader knows versions 2 and 3`);
    const tensorCount = reader.u64();
    const keyCount = reader.u64();
    const metadata = new Map<string, GgufValue>();
    for (let k = 0; k < keyCount; k++) {
      const key = reader.string();
      const type = reader.u32();
      if (type === GgufType.ARRAY) {
        const itemType = reader.u32() as GgufTypeId;
        const count = reader.u64();
        const value = Array.from({ length: count }, () => reader.scalar(itemType));
        metadata.set(key, { type: GgufType.ARRAY, itemType, value });
      } else metadata.set(key, { type, value: reader.scalar(type) } as GgufValue);
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = reader.string();
      const dimCount = reader.u32();
      const dims = Array.from({ length: dimCount }, () => reader.u64());
      tensors.push({ name, dims, type: reader.u32(), offset: reader.u64() });
    }
    const alignment = metadata.has('general.alignment') ? Number(metadata.get('general.alignment')!.value) : GGUF_DEFAULT_ALIGNMENT;
    const dataOffset = Math.ceil(reader.position / alignment) * alignment;
    return { version, metadata, tensors, alignment, dataOffset, fileSize: reader.size };
  } finally {
    closeSync(fd);
  }
}

/** Reads one F32 tensor's values (row-major, as written) from a GGUF file whose header was read. */
export function readGgufTensor(path: string, header: GgufHeader, name: string): Float32Array {
  const info = header.tensors.find((tensor) => tensor.name === name);
  if (!info) throw new GgufFormatError(path, `has no tensor ${name}`);
  if (info.type !== GGML_TYPE_F32) throw new GgufFormatError(path, `tensor ${name} has ggml type ${info.type}; this reader reads F32 (0) only`);
  const count = info.dims.reduce((a, b) => a * b, 1);
  const start = header.dataOffset + info.offset;
  if (start + count * 4 > header.fileSize) throw new GgufFormatError(path, `tensor ${name} runs past the end of the file (truncated?)`);
  const data = new Float32Array(count);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, new Uint8Array(data.buffer), 0, count * 4, start);
  } finally {
    closeSync(fd);
  }
  return data;
}
