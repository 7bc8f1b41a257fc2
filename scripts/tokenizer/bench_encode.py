#!/usr/bin/env python3
"""Python `tokenizers` encode throughput on the same deterministic mixed text as bench/tokenizer-encode.ts.

    python3 scripts/tokenizer/bench_encode.py --tokenizer PATH [--tokenizer PATH ...] [--mb 10] [--json OUT]

Reports MB/s (MB = 2**20 bytes of UTF-8 input) for one `encode()` call over the whole text (the call is
single-threaded inside the library, like ours) and for `encode_batch()` over 64-line chunks (every core through
rayon; run with TOKENIZERS_PARALLELISM=false for the one-core batch figure). Prints the text's sha256 and the ids' sha256 so the TypeScript numbers can be checked to be on
the same text with the same result.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mixed_text import mixed_text  # noqa: E402

SEED = 42


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", action="append", required=True)
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--skip-single", action="store_true", help="only measure encode_batch")
    args = ap.parse_args()

    import tokenizers
    from tokenizers import Tokenizer

    t0 = time.perf_counter()
    text = mixed_text(int(args.mb * (1 << 20)), SEED)
    raw = text.encode("utf-8")
    mb = len(raw) / (1 << 20)
    lines = text.split("\n")
    chunks = ["\n".join(lines[i:i + 64]) for i in range(0, len(lines), 64)]
    env = {"python": sys.version.split()[0], "tokenizers": tokenizers.__version__, "cpu": cpu_model(),
           "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "(unset)"),
           "cpus": os.cpu_count(), "text_bytes": len(raw), "text_sha256": hashlib.sha256(raw).hexdigest(),
           "seed": SEED, "gen_seconds": round(time.perf_counter() - t0, 2)}
    print(json.dumps(env), flush=True)
    results = []
    for path in args.tokenizer:
        tok = Tokenizer.from_file(path)
        tok.encode(text[:200_000], add_special_tokens=False)  # warm-up
        single, batch, ids = [], [], None
        for _ in range(1 if args.skip_single else args.runs):  # with --skip-single: one untimed run for the ids
            t = time.perf_counter()
            ids = tok.encode(text, add_special_tokens=False).ids
            single.append(time.perf_counter() - t)
        for _ in range(args.runs):
            t = time.perf_counter()
            tok.encode_batch(chunks, add_special_tokens=False)
            batch.append(time.perf_counter() - t)
        r = {"tokenizer": path, "tokens": len(ids), "skip_single": args.skip_single,
             "ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest(),
             "encode_mb_s_median": round(mb / statistics.median(single), 2),
             "encode_mb_s_best": round(mb / min(single), 2),
             "encode_batch_mb_s_median": round(mb / statistics.median(batch), 2),
             "seconds_single": [round(x, 3) for x in single], "seconds_batch": [round(x, 3) for x in batch]}
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.json:
        args.json.write_text(json.dumps({"env": env, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
