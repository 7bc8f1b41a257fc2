/**
 * On-disk format of packed SFT data: JSON Lines for the index plus flat little-endian binaries, checked on
 * read. A pack directory holds
 *
 *   meta.json       {"format": "nemotron-ts/sft-packs", "version": 1, pack_size, vocab_size, counts, files with sha256}
 *   packs.jsonl     one line per pack: {"offset", "length", "seq_start_id": [...], "sequence_ids": [...]}
 *   input_ids.bin   all packs' token ids back to back (uint16 when the vocabulary fits, else int32)
 *   loss_mask.bin   the shifted loss mask, one uint8 (0/1) per token
 *
 * The columns are those of the Nemotron packed-Parquet schema (input_ids, loss_mask, seq_start_id);
 * scripts/train/train.py reads the same files with the same checks.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pack } from './pack.js';

export const PACK_FORMAT = 'nemotron-ts/sft-packs';
export const PACK_FORMAT_VERSION = 1;

/** Thrown when a pack directory is missing, inconsistent or corrupted; names the file and the problem. */
export class PackFormatError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'PackFormatError';
  }
}

interface FileEntry {
  file: string;
  dtype: 'uint16' | 'int32' | 'uint8';
  bytes: number;
  sha256: string;
}

/** Contents of meta.json. */
export interface PackMeta {
  format: string;
  version: number;
  pack_size: number;
  vocab_size: number;
  num_packs: number;
  num_sequences: number;
  num_tokens: number;
  num_loss_tokens: number;
  input_ids: FileEntry;
  loss_mask: FileEntry;
  index: { file: string; sha256: string };
  /** Free-form provenance (generator seed, template, tokenizer hash...). */
  info?: Record<string, unknown>;
}

function sha256(buf: Uint8Array | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Writes packs to `dir` (created if needed). Returns the meta written. */
export function writePacks(dir: string, packs: readonly Pack[], opts: { packSize: number; vocabSize: number; info?: Record<string, unknown> }): PackMeta {
  mkdirSync(dir, { recursive: true });
  const total = packs.reduce((s, p) => s + p.inputIds.length, 0);
  const wide = opts.vocabSize > 65536;
  const ids = wide ? new Int32Array(total) : new Uint16Array(total);
  const mask = new Uint8Array(total);
  const lines: string[] = [];
  let offset = 0;
  let sequences = 0;
  let lossTokens = 0;
  for (const p of packs) {
    validatePack(p, opts.packSize, opts.vocabSize, 'packs', lines.length);
    ids.set(p.inputIds, offset);
    mask.set(p.lossMask, offset);
    for (const m of p.lossMask) lossTokens += m;
    lines.push(JSON.stringify({ offset, length: p.inputIds.length, seq_start_id: p.seqStartId, sequence_ids: p.sequenceIds }));
    offset += p.inputIds.length;
    sequences += p.seqStartId.length;
  }
  const idBytes = new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
  if (!littleEndian()) throw new Error('big-endian hosts are not supported');
  const index = lines.join('\n') + (lines.length ? '\n' : '');
  writeFileSync(join(dir, 'input_ids.bin'), idBytes);
  writeFileSync(join(dir, 'loss_mask.bin'), mask);
  writeFileSync(join(dir, 'packs.jsonl'), index);
  const meta: PackMeta = {
    format: PACK_FORMAT,
    version: PACK_FORMAT_VERSION,
    pack_size: opts.packSize,
    vocab_size: opts.vocabSize,
    num_packs: packs.length,
    num_sequences: sequences,
    num_tokens: total,
    num_loss_tokens: lossTokens,
    input_ids: { file: 'input_ids.bin', dtype: wide ? 'int32' : 'uint16', bytes: idBytes.byteLength, sha256: sha256(idBytes) },
    loss_mask: { file: 'loss_mask.bin', dtype: 'uint8', bytes: mask.byteLength, sha256: sha256(mask) },
    index: { file: 'packs.jsonl', sha256: sha256(index) },
    info: opts.info,
  };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** Structural checks of one pack; `where` names the file in errors. */
function validatePack(p: Pick<Pack, 'inputIds' | 'lossMask' | 'seqStartId'>, packSize: number, vocabSize: number, where: string, k: number): void {
  const fail = (msg: string): never => {
    throw new PackFormatError(where, `pack ${k}: ${msg}`);
  };
  const n = p.inputIds.length;
  if (n === 0) fail('is empty');
  if (n > packSize) fail(`has ${n} tokens, more than pack_size ${packSize}`);
  if (p.lossMask.length !== n) fail(`loss_mask has ${p.lossMask.length} entries for ${n} tokens`);
  const starts = p.seqStartId;
  if (!Array.isArray(starts) || starts.length === 0 || starts[0] !== 0) fail('seq_start_id must start with 0');
  for (let i = 1; i < starts.length; i++) {
    if (!Number.isInteger(starts[i]) || starts[i] <= starts[i - 1] || starts[i] >= n) fail(`seq_start_id[${i}] = ${starts[i]} is not increasing inside the pack`);
  }
  for (let j = 0; j < n; j++) {
    const id = p.inputIds[j];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) fail(`token ${j} = ${id} is outside the vocabulary [0, ${vocabSize})`);
    const m = p.lossMask[j];
    if (m !== 0 && m !== 1) fail(`loss_mask[${j}] = ${m} is not 0 or 1`);
  }
  // The mask is shifted per sequence: the last position of each sequence never carries loss.
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1] : n;
    if (p.lossMask[end - 1] !== 0) fail(`loss_mask is set on the last token of sequence ${i} (a label would cross a boundary)`);
  }
}

/** Reads and validates a pack directory. @throws PackFormatError naming the file and the problem. */
export function readPacks(dir: string): { meta: PackMeta; packs: Pack[] } {
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch (e) {
      throw new PackFormatError(join(dir, name), `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const metaPath = join(dir, 'meta.json');
  let meta: PackMeta;
  try {
    meta = JSON.parse(read('meta.json').toString('utf8')) as PackMeta;
  } catch (e) {
    if (e instanceof PackFormatError) throw e;
    throw new PackFormatError(metaPath, `not valid JSON (${(e as Error).message})`);
  }
  if (meta.format !== PACK_FORMAT) throw new PackFormatError(metaPath, `format is ${JSON.stringify(meta.format)}, expected ${PACK_FORMAT}`);
  if (meta.version !== PACK_FORMAT_VERSION) throw new PackFormatError(metaPath, `version ${meta.version} is not supported (expected ${PACK_FORMAT_VERSION})`);
  for (const k of ['pack_size', 'vocab_size', 'num_packs', 'num_tokens'] as const) {
    if (!Number.isInteger(meta[k]) || meta[k] < 0) throw new PackFormatError(metaPath, `${k} must be a non-negative integer`);
  }
  const checked = (entry: { file: string; sha256: string; bytes?: number }): Buffer => {
    const buf = read(entry.file);
    if (entry.bytes !== undefined && buf.byteLength !== entry.bytes) throw new PackFormatError(join(dir, entry.file), `has ${buf.byteLength} bytes, meta.json says ${entry.bytes}`);
    if (sha256(buf) !== entry.sha256) throw new PackFormatError(join(dir, entry.file), 'sha256 does not match meta.json (file corrupted or replaced)');
    return buf;
  };
  const idsBuf = checked(meta.input_ids);
  const maskBuf = checked(meta.loss_mask);
  const indexBuf = checked(meta.index);
  const width = meta.input_ids.dtype === 'uint16' ? 2 : meta.input_ids.dtype === 'int32' ? 4 : 0;
  if (!width) throw new PackFormatError(join(dir, meta.input_ids.file), `unsupported dtype ${meta.input_ids.dtype}`);
  if (idsBuf.byteLength !== meta.num_tokens * width) throw new PackFormatError(join(dir, meta.input_ids.file), `holds ${idsBuf.byteLength / width} tokens, meta.json says ${meta.num_tokens}`);
  if (maskBuf.byteLength !== meta.num_tokens) throw new PackFormatError(join(dir, meta.loss_mask.file), `holds ${maskBuf.byteLength} entries, meta.json says ${meta.num_tokens}`);
  const aligned = new Uint8Array(idsBuf.byteLength);
  aligned.set(idsBuf);
  const ids = width === 2 ? new Uint16Array(aligned.buffer) : new Int32Array(aligned.buffer);

  const indexPath = join(dir, meta.index.file);
  const lines = indexBuf.toString('utf8').split('\n').filter((l) => l.length > 0);
  if (lines.length !== meta.num_packs) throw new PackFormatError(indexPath, `has ${lines.length} packs, meta.json says ${meta.num_packs}`);
  const packs: Pack[] = [];
  let offset = 0;
  let sequences = 0;
  lines.forEach((line, k) => {
    let row: { offset: number; length: number; seq_start_id: number[]; sequence_ids?: string[] };
    try {
      row = JSON.parse(line);
    } catch {
      throw new PackFormatError(indexPath, `line ${k + 1} is not valid JSON`);
    }
    if (row.offset !== offset) throw new PackFormatError(indexPath, `pack ${k}: offset ${row.offset}, expected ${offset}`);
    if (!Number.isInteger(row.length) || row.length < 1 || offset + row.length > meta.num_tokens) throw new PackFormatError(indexPath, `pack ${k}: bad length ${row.length}`);
    const pack: Pack = {
      inputIds: Array.from(ids.subarray(offset, offset + row.length)),
      lossMask: Array.from(maskBuf.subarray(offset, offset + row.length)),
      seqStartId: row.seq_start_id,
      sequenceIds: row.sequence_ids ?? [],
    };
    validatePack(pack, meta.pack_size, meta.vocab_size, indexPath, k);
    packs.push(pack);
    offset += row.length;
    sequences += row.seq_start_id.length;
  });
  if (offset !== meta.num_tokens) throw new PackFormatError(indexPath, `packs cover ${offset} tokens, meta.json says ${meta.num_tokens}`);
  if (meta.num_sequences !== undefined && sequences !== meta.num_sequences) throw new PackFormatError(indexPath, `holds ${sequences} sequences, meta.json says ${meta.num_sequences}`);
  return { meta, packs };
}
