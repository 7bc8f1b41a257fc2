/**
 * Stop strings over streamed text: text that could still turn into a stop string is held back, so a stop
 * string never reaches the client (unless include_stop_str_in_output), whatever the token boundaries.
 */
export class StopStringMatcher {
  private held = '';
  private readonly longest: number;

  constructor(
    readonly stops: readonly string[],
    readonly includeStop = false,
  ) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Feeds text; returns what may be emitted now and the stop string if one completed (then stop). */
  push(text: string): { emit: string; hit: string | null } {
    if (this.stops.length === 0) return { emit: text, hit: null };
    const buf = this.held + text;
    let at = -1;
    let hit: string | null = null;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        hit = s;
      }
    }
    if (hit !== null) {
      this.held = '';
      return { emit: buf.slice(0, at) + (this.includeStop ? hit : ''), hit };
    }
    // hold the longest suffix that is a proper prefix of some stop string
    let keep = 0;
    for (let n = Math.min(this.longest - 1, buf.length); n > 0; n--) {
      const tail = buf.slice(buf.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = n;
        break;
      }
    }
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), hit: null };
  }

  /** End of output: the held text was not a stop string after all. */
  flush(): string {
    const h = this.held;
    this.held = '';
    return h;
  }
}
