/**
 * The sampler's filters without sorting the vocabulary. Tokens are ranked by logit, descending, ties to the lower
 * id (the host sampler's order); every step that needs that order (top-k, the top-p prefix, the draw) is a
 * selection over the candidates (quickselect, expected linear time) instead of a sort: sorting 131,072 logits per
 * token with a comparator took 80-100 ms, more than a decode step. The result is the same token as walking the
 * sorted list, up to float64 summation order.
 */

/** True when token a ranks before token b. */
function before(l: Float64Array, a: number, b: number): boolean {
  return l[a] > l[b] || (l[a] === l[b] && a < b);
}

/** Median of three candidates (by rank) as the pivot. */
function pivotOf(l: Float64Array, ids: Int32Array, lo: number, hi: number): number {
  const a = ids[lo];
  const b = ids[(lo + hi) >>> 1];
  const c = ids[hi - 1];
  if (before(l, a, b)) return before(l, b, c) ? b : before(l, a, c) ? c : a;
  return before(l, a, c) ? a : before(l, b, c) ? c : b;
}

/**
 * Partitions ids[lo, hi) around `pivot`: the tokens ranked before it first, then the pivot, then the rest.
 * Returns the pivot's position. Ranks are unique (ties broken by id), so the pivot is one element.
 */
function partition(l: Float64Array, ids: Int32Array, lo: number, hi: number, pivot: number): number {
  let i = lo;
  for (let j = lo; j < hi; j++) {
    const t = ids[j];
    if (before(l, t, pivot)) {
      ids[j] = ids[i];
      ids[i++] = t;
    }
  }
  let p = i;
  while (ids[p] !== pivot) p++;
  ids[p] = ids[i];
  ids[i] = pivot;
  return i;
}

/** Reorders ids so that ids[0, k) are the k best-ranked candidates (in no order). */
export function selectTopK(l: Float64Array, ids: Int32Array, k: number): void {
  let lo = 0;
  let hi = ids.length;
  while (hi - lo > 1) {
    const at = partition(l, ids, lo, hi, pivotOf(l, ids, lo, hi));
    if (at === k || at === k - 1) return;
    if (at < k) lo = at + 1;
    else hi = at;
  }
}

/**
 * The rank position at which the running sum of w over the candidates in rank order crosses `target`: the first
 * position whose inclusive sum is >= target (`inclusive`) or > target (otherwise). Reorders ids so that the
 * candidates ranked before it come first (in no order) and it sits at the returned position; returns the last
 * position when the sum never crosses.
 */
export function selectCrossing(l: Float64Array, w: Float64Array, ids: Int32Array, n: number, target: number, inclusive: boolean): number {
  let lo = 0;
  let hi = n;
  let acc = 0; // weight of the candidates known to rank before ids[lo]
  const crosses = (v: number) => (inclusive ? v >= target : v > target);
  while (hi - lo > 1) {
    const at = partition(l, ids, lo, hi, pivotOf(l, ids, lo, hi));
    let mass = 0;
    for (let j = lo; j < at; j++) mass += w[ids[j]];
    if (crosses(acc + mass)) hi = at; // the crossing is among those ranked before the pivot
    else if (crosses(acc + mass + w[ids[at]])) return at;
    else {
      acc += mass + w[ids[at]];
      lo = at + 1;
    }
  }
  return lo < n ? lo : n - 1;
}
