/**
 * Packing of tokenized SFT sequences into fixed-size packs, as the Nemotron SFT pipeline does
 * (agents-and-training.md 2.2): sequences are placed whole into bins of `packSize` tokens (default
 * first-fit after a seeded shuffle), each pack records where each sequence starts (`seqStartId`), and the
 * loss mask is shifted per sequence so no label crosses a boundary. A sequence is never split across packs:
 * one longer than the pack is dropped (or cut, if asked) and reported.
 */
import { Rng } from '../engine/rng.js';
import { alignMask, type SftSequence } from './sft.js';

export type PackAlgorithm = 'first_fit_shuffle' | 'first_fit_decreasing' | 'concatenative';

export interface PackOptions {
  packSize: number;
  /** Shuffle seed for `first_fit_shuffle` (default 0). */
  seed?: number;
  algorithm?: PackAlgorithm;
  /** What to do with a sequence longer than the pack: drop it (default) or keep its first packSize tokens. */
  tooLong?: 'drop' | 'truncate';
}

/** One pack: the concatenated sequences, the shifted loss mask and the start offset of each sequence. */
export interface Pack {
  inputIds: number[];
  /** Shifted per sequence (see alignMask): lossMask[j] = 1 when token j+1 is a trained token of the same sequence. */
  lossMask: number[];
  /** Offset of each sequence in the pack; starts with 0, strictly increasing. */
  seqStartId: number[];
  /** Ids of the packed sequences, in pack order. */
  sequenceIds: string[];
}

export interface PackResult {
  packs: Pack[];
  dropped: string[];
  truncated: string[];
}

/** Packs sequences into bins of `packSize` tokens. */
export function packSequences(seqs: readonly SftSequence[], opts: PackOptions): PackResult {
  const size = opts.packSize;
  if (!Number.isInteger(size) || size < 2) throw new RangeError('packSize must be an integer >= 2');
  const dropped: string[] = [];
  const truncated: string[] = [];
  let items: SftSequence[] = [];
  for (const s of seqs) {
    if (s.inputIds.length === 0) continue;
    if (s.inputIds.length <= size) items.push(s);
    else if (opts.tooLong === 'truncate') {
      items.push({ id: s.id, inputIds: s.inputIds.slice(0, size), lossMask: s.lossMask.slice(0, size) });
      truncated.push(s.id);
    } else dropped.push(s.id);
  }
  const algorithm = opts.algorithm ?? 'first_fit_shuffle';
  if (algorithm === 'first_fit_shuffle') items = shuffled(items, opts.seed ?? 0);
  else if (algorithm === 'first_fit_decreasing') items = [...items].sort((a, b) => b.inputIds.length - a.inputIds.length);

  const bins: SftSequence[][] = [];
  const used: number[] = [];
  for (const s of items) {
    const n = s.inputIds.length;
    let bin = -1;
    if (algorithm === 'concatenative') {
      if (bins.length && used[bins.length - 1] + n <= size) bin = bins.length - 1;
    } else {
      for (let b = 0; b < bins.length; b++) {
        if (used[b] + n <= size) {
          bin = b;
          break;
        }
      }
    }
    if (bin < 0) {
      bins.push([]);
      used.push(0);
      bin = bins.length - 1;
    }
    bins[bin].push(s);
    used[bin] += n;
  }
  return { packs: bins.map(materialize), dropped, truncated };
}

function materialize(seqs: SftSequence[]): Pack {
  const pack: Pack = { inputIds: [], lossMask: [], seqStartId: [], sequenceIds: [] };
  for (const s of seqs) {
    pack.seqStartId.push(pack.inputIds.length);
    pack.sequenceIds.push(s.id);
    for (const id of s.inputIds) pack.inputIds.push(id);
    for (const m of alignMask(s.lossMask)) pack.lossMask.push(m);
  }
  return pack;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rng = new Rng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** The [start, end) token ranges of a pack's sequences. */
export function sequenceRanges(pack: Pick<Pack, 'inputIds' | 'seqStartId'>): [number, number][] {
  return pack.seqStartId.map((s, k) => [s, k + 1 < pack.seqStartId.length ? pack.seqStartId[k + 1] : pack.inputIds.length]);
}
