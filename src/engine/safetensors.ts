import { openSync, readSync, closeSync, fstatSync, writeFileSync } from 'node:fs';
import { CheckpointFormatError, InternalError } from '../errors.js';

/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length, a JSON header mapping tensor names to dtype,
 * shape and byte offsets, then the raw little-endian data. We read and write
 * F32 tensors, which is what the engine trains in.
 */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export function writeSafetensors(path: string, tensors: { name: string; shape: number[]; data: Float32Array }[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const tensor of tensors) {
    const expected = tensor.shape.reduce((a, b) => a * b, 1);
    if (expected !== tensor.data.length) throw new InternalError(`tensor ${tensor.name}: shape [${tensor.shape}] holds ${expected} values, data has ${tensor.data.length}`);
    header[tensor.name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const tensor of tensors) {
    Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).copy(out, at);
    at += tensor.data.byteLength;
  }
  writeFileSync(path, out);
}

/** Reads every tensor of a safetensors file; anything malformed is a CheckpointFormatError naming the problem. */
export function readSafetensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new CheckpointFormatError(path, `cannot open file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new CheckpointFormatError(path, `file has ${size} bytes, too short for a safetensors header`);
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength <= 0 || 8 + headerLength > size) throw new CheckpointFormatError(path, `header length ${headerLength} does not fit in a ${size}-byte file (truncated or not safetensors)`);
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw new CheckpointFormatError(path, 'header is not valid JSON (not a safetensors file?)');
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw new CheckpointFormatError(path, 'header is not a JSON object (not a safetensors file?)');
    const dataStart = 8 + headerLength;
    const dataSize = size - dataStart;
    const tensors = new Map<string, Tensor>();
    const ranges: { name: string; begin: number; end: number }[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = (entry ?? {}) as Record<string, string>;
        continue;
      }
      const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (dtype !== 'F32') throw new CheckpointFormatError(path, `tensor ${name} has dtype ${String(dtype)}; the engine reads F32 only (convert with model.float() before saving)`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new CheckpointFormatError(path, `tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o))) throw new CheckpointFormatError(path, `tensor ${name} has invalid data_offsets`);
      const [begin, end] = offsets as [number, number];
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      if (end - begin !== count * 4 || begin < 0 || end > dataSize) throw new CheckpointFormatError(path, `tensor ${name}: data_offsets [${begin}, ${end}] do not match shape [${shape}] within ${dataSize} data bytes (truncated file?)`);
      ranges.push({ name, begin, end });
      const bytes = Buffer.alloc(end - begin);
      readSync(fd, bytes, 0, end - begin, dataStart + begin);
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes);
      tensors.set(name, { shape: shape as number[], data });
    }
    // The format lays tensors out back to back: overlapping ranges mean a corrupt (or forged) header.
    ranges.sort((x, y) => x.begin - y.begin);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i].begin < ranges[i - 1].end) throw new CheckpointFormatError(path, `tensors ${ranges[i - 1].name} and ${ranges[i].name} overlap in the file`);
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}
