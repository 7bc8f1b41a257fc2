// Byte-level BPE model: vocabulary, merge ranks and the merge loop.
//
// The merge loop reproduces the Rust `tokenizers` algorithm exactly, not just "lowest rank first": a heap of
// candidate merges ordered by (rank, position), entries invalidated lazily, an entry accepted when the pair now
// at its position still produces the same token id. The distinction matters for vocabularies in which two
// different pairs produce the same token (tiktoken conversions have such pairs).
import { BYTE_TO_CHAR } from './byte-level.js';

export class BpeLoadError extends Error {}

export interface BpeConfig {
  vocab: Record<string, number>;
  merges: (string | [string, string])[];
  ignoreMerges: boolean;
  unkToken: string | null;
  fuseUnk: boolean;
}

const CACHE_MAX_WORD = 256; // longer words are not cached
const CACHE_MAX_SLOTS = 1 << 18; // past this the cache is emptied rather than grown (bounds memory to ~30 MB)

/** FNV-1a over the UTF-16 code units of text[start, end). */
function hashRange(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

/**
 * Word -> ids cache probed with a range of the input text, so a hit allocates no substring (creating ~one string
 * per word was the largest cost of encoding).
 */
class WordCache {
  private mask = (1 << 16) - 1;
  private hashes = new Int32Array(1 << 16);
  private keys: (string | undefined)[] = new Array<string | undefined>(1 << 16);
  private vals: number[][] = new Array<number[]>(1 << 16);
  private count = 0;

  get(text: string, start: number, end: number, h: number): number[] | undefined {
    const len = end - start;
    let i = h & this.mask;
    for (;;) {
      const k = this.keys[i];
      if (k === undefined) return undefined;
      if (this.hashes[i] === h && k.length === len && text.startsWith(k, start)) return this.vals[i];
      i = (i + 1) & this.mask;
    }
  }

  set(key: string, h: number, ids: number[]): void {
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) {
      if (this.mask + 1 >= CACHE_MAX_SLOTS) this.reset(this.mask + 1);
      else this.rehash((this.mask + 1) * 2);
    }
    let i = h & this.mask;
    while (this.keys[i] !== undefined) i = (i + 1) & this.mask;
    this.keys[i] = key;
    this.hashes[i] = h;
    this.vals[i] = ids;
    this.count++;
  }

  private reset(cap: number): void {
    this.mask = cap - 1;
    this.hashes = new Int32Array(cap);
    this.keys = new Array<string | undefined>(cap);
    this.vals = new Array<number[]>(cap);
    this.count = 0;
  }

  private rehash(cap: number): void {
    const { keys, vals, hashes } = this;
    this.reset(cap);
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j];
      if (k !== undefined) this.set(k, hashes[j], vals[j]);
    }
  }
}

/** Open-addressing hash from a (left id, right id) pair to merge rank and result id. */
class PairTable {
  private readonly mask: number;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  readonly rank: Int32Array;
  readonly result: Int32Array;

  constructor(n: number) {
    let cap = 16;
    while (cap < n * 2) cap <<= 1;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rank = new Int32Array(cap);
    this.result = new Int32Array(cap);
  }

  private slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  /** Inserts or overwrites (a later duplicate merge wins, as in the Rust map construction). */
  set(a: number, b: number, rank: number, result: number): void {
    let i = this.slot(a, b) & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== a || this.right[i] !== b)) i = (i + 1) & this.mask;
    this.left[i] = a;
    this.right[i] = b;
    this.rank[i] = rank;
    this.result[i] = result;
  }

  /** Slot index of the pair, or -1. */
  find(a: number, b: number): number {
    let i = this.slot(a, b) & this.mask;
    for (;;) {
      const l = this.left[i];
      if (l === -1) return -1;
      if (l === a && this.right[i] === b) return i;
      i = (i + 1) & this.mask;
    }
  }
}

export class BpeModel {
  readonly vocab: Map<string, number>;
  /** id -> token string (holes where the vocabulary skips ids). */
  readonly idToToken: string[] = [];
  private readonly pairs: PairTable;
  /** id of the one-byte token for each byte value, -1 when the vocabulary lacks it. */
  private readonly byteIds = new Int32Array(256);
  private readonly ignoreMerges: boolean;
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  private readonly cache = new WordCache();
  private readonly encoder = new TextEncoder();
  // Scratch buffers for the merge loop, grown on demand.
  private bytes = new Uint8Array(1024);
  private sym = new Int32Array(1024);
  private prev = new Int32Array(1024);
  private next = new Int32Array(1024);
  private heapKey = new Float64Array(1024);
  private heapRes = new Int32Array(1024);

  constructor(cfg: BpeConfig) {
    this.vocab = new Map(Object.entries(cfg.vocab));
    for (const [tok, id] of this.vocab) {
      if (!Number.isInteger(id) || id < 0) throw new BpeLoadError(`vocab entry ${JSON.stringify(tok)} has id ${id}`);
      this.idToToken[id] = tok;
    }
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(BYTE_TO_CHAR[b]) ?? -1;
    this.pairs = new PairTable(cfg.merges.length);
    cfg.merges.forEach((m, rank) => {
      let a: string;
      let b: string;
      if (typeof m === 'string') {
        const parts = m.split(' ');
        if (parts.length !== 2) throw new BpeLoadError(`merge ${rank} ${JSON.stringify(m)} is not "a b"`);
        [a, b] = parts;
      } else if (Array.isArray(m) && m.length === 2) {
        [a, b] = m;
      } else {
        throw new BpeLoadError(`merge ${rank} is neither "a b" nor [a, b]`);
      }
      const ia = this.vocab.get(a);
      const ib = this.vocab.get(b);
      const ir = this.vocab.get(a + b);
      if (ia === undefined || ib === undefined || ir === undefined) {
        throw new BpeLoadError(`merge ${rank} (${JSON.stringify(a)}, ${JSON.stringify(b)}) uses a token not in the vocab`);
      }
      this.pairs.set(ia, ib, rank, ir);
    });
    this.ignoreMerges = cfg.ignoreMerges;
    this.unkId = cfg.unkToken === null ? -1 : (this.vocab.get(cfg.unkToken) ?? -1);
    if (cfg.unkToken !== null && this.unkId < 0) throw new BpeLoadError(`unk_token ${cfg.unkToken} is not in the vocab`);
    this.fuseUnk = cfg.fuseUnk;
  }

  /** Appends the ids of the pre-tokenized word text[start, end). */
  encodeRange(text: string, start: number, end: number, out: number[]): void {
    const cacheable = end - start <= CACHE_MAX_WORD;
    let h = 0;
    if (cacheable) {
      h = hashRange(text, start, end);
      const hit = this.cache.get(text, start, end, h);
      if (hit !== undefined) {
        for (let i = 0; i < hit.length; i++) out.push(hit[i]);
        return;
      }
    }
    const word = text.slice(start, end);
    const ids = this.tokenizeWord(word);
    if (cacheable) this.cache.set(word, h, ids);
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  /** Appends the ids of one pre-tokenized word. */
  encodeWord(word: string, out: number[]): void {
    this.encodeRange(word, 0, word.length, out);
  }

  private tokenizeWord(word: string): number[] {
    // UTF-8 bytes of the word.
    if (this.bytes.length < word.length * 3) this.bytes = new Uint8Array(word.length * 3 + 16);
    const n = this.encoder.encodeInto(word, this.bytes).written;
    const bytes = this.bytes;
    if (this.ignoreMerges) {
      let s = '';
      for (let i = 0; i < n; i++) s += BYTE_TO_CHAR[bytes[i]];
      const id = this.vocab.get(s);
      if (id !== undefined) return [id];
    }
    if (this.sym.length < n) this.grow(n);
    const sym = this.sym;
    // Initial symbols: one per byte. Bytes missing from the vocab become unk (fused if asked) or vanish.
    let len = 0;
    let lastUnk = false;
    for (let i = 0; i < n; i++) {
      const id = this.byteIds[bytes[i]];
      if (id >= 0) {
        sym[len++] = id;
        lastUnk = false;
      } else if (this.unkId >= 0) {
        if (!(this.fuseUnk && lastUnk)) sym[len++] = this.unkId;
        lastUnk = true;
      }
    }
    if (len <= 1) return len === 1 ? [sym[0]] : [];
    if (len === 2) {
      const s = this.pairs.find(sym[0], sym[1]);
      return s < 0 ? [sym[0], sym[1]] : [this.pairs.result[s]];
    }
    return this.mergeAll(len);
  }

  private grow(n: number): void {
    const cap = n * 2;
    this.sym = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.heapKey = new Float64Array(cap * 2);
    this.heapRes = new Int32Array(cap * 2);
  }

  /** The merge loop over sym[0..len): linked list of live symbols plus a binary min-heap of candidates. */
  private mergeAll(len: number): number[] {
    const { sym, prev, next, pairs } = this;
    // Key = rank * 2^26 + position: lower rank first, then leftmost (exact in a double up to 2^53).
    const POS = 67108864;
    if (len >= POS) throw new RangeError('word too long for the BPE merge loop');
    let heapKey = this.heapKey;
    let heapRes = this.heapRes;
    let size = 0;
    const push = (key: number, res: number): void => {
      if (size === heapKey.length) {
        const k2 = new Float64Array(size * 2);
        k2.set(heapKey);
        const r2 = new Int32Array(size * 2);
        r2.set(heapRes);
        heapKey = this.heapKey = k2;
        heapRes = this.heapRes = r2;
      }
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heapKey[p] <= key) break;
        heapKey[i] = heapKey[p];
        heapRes[i] = heapRes[p];
        i = p;
      }
      heapKey[i] = key;
      heapRes[i] = res;
    };
    const popInto = (): void => {
      // Removes the root; caller has read it.
      const key = heapKey[--size];
      const res = heapRes[size];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && heapKey[c + 1] < heapKey[c]) c++;
        if (heapKey[c] >= key) break;
        heapKey[i] = heapKey[c];
        heapRes[i] = heapRes[c];
        i = c;
      }
      heapKey[i] = key;
      heapRes[i] = res;
    };

    for (let i = 0; i < len; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < len ? i + 1 : -1;
    }
    for (let i = 0; i + 1 < len; i++) {
      const s = pairs.find(sym[i], sym[i + 1]);
      if (s >= 0) push(pairs.rank[s] * POS + i, pairs.result[s]);
    }
    while (size > 0) {
      const key = heapKey[0];
      const res = heapRes[0];
      popInto();
      const pos = key % POS;
      if (sym[pos] < 0) continue; // merged into its left neighbour already
      const nx = next[pos];
      if (nx < 0) continue;
      const s = pairs.find(sym[pos], sym[nx]);
      if (s < 0 || pairs.result[s] !== res) continue; // stale entry
      sym[pos] = res;
      sym[nx] = -1;
      const nn = next[nx];
      next[pos] = nn;
      if (nn >= 0) prev[nn] = pos;
      const pv = prev[pos];
      if (pv >= 0) {
        const t = pairs.find(sym[pv], res);
        if (t >= 0) push(pairs.rank[t] * POS + pv, pairs.result[t]);
      }
      if (nn >= 0) {
        const t = pairs.find(res, sym[nn]);
        if (t >= 0) push(pairs.rank[t] * POS + pos, pairs.result[t]);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }
}
