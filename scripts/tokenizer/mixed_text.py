"""Deterministic mixed-language text generator.

The TypeScript twin is scripts/tokenizer/mixed-text.ts; both read mixed-text-pools.json and use the same
xorshift32 stream and the same branch table, so `mixed_text(n, seed)` is byte-identical on both sides (checked by
sha256 in the tests and in the benchmarks). Keep the two files in lockstep: any change here must be mirrored there.
"""
from __future__ import annotations

import json
from pathlib import Path

POOLS = json.loads((Path(__file__).resolve().parent / "mixed-text-pools.json").read_text(encoding="utf-8"))


class XorShift32:
    """Marsaglia xorshift32; state must be non-zero."""

    def __init__(self, seed: int) -> None:
        self.x = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next(self) -> int:
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n: int) -> int:
        return self.next() % n


def _run(rng: XorShift32, key: str, n: int) -> str:
    lo, hi = POOLS["ranges"][key]
    return "".join(chr(lo + rng.below(hi - lo + 1)) for _ in range(n))


def _piece(rng: XorShift32) -> str:
    words, punct = POOLS["words"], POOLS["punct"]
    kind = rng.below(100)
    if kind < 40:  # English-ish sentence
        n = 3 + rng.below(12)
        parts = []
        for i in range(n):
            w = words[rng.below(len(words))]
            if i == 0 or rng.below(9) == 0:
                w = w[0].upper() + w[1:]
            parts.append(w)
        return " ".join(parts) + punct[rng.below(len(punct))]
    if kind < 52:
        return POOLS["code"][rng.below(len(POOLS["code"]))] + "\n"
    if kind < 58:
        return _run(rng, "cjk", 2 + rng.below(24)) + ("。" if rng.below(2) == 0 else "，")
    if kind < 60:
        return _run(rng, "hiragana", 2 + rng.below(8)) + _run(rng, "katakana", 1 + rng.below(6)) + "、"
    if kind < 63:
        return " ".join(_run(rng, "hangul", 1 + rng.below(4)) for _ in range(1 + rng.below(5))) + ". "
    if kind < 67:
        return " ".join(_run(rng, "cyrillic_upper", rng.below(2)) + _run(rng, "cyrillic_lower", 2 + rng.below(9))
                        for _ in range(2 + rng.below(8))) + punct[rng.below(len(punct))]
    if kind < 70:
        return " ".join(_run(rng, "arabic", 2 + rng.below(7)) for _ in range(2 + rng.below(6))) + "، "
    if kind < 73:
        return " ".join("".join(_run(rng, "devanagari_consonant", 1) + _run(rng, "devanagari_sign", rng.below(2))
                                for _ in range(1 + rng.below(4))) for _ in range(2 + rng.below(5))) + "। "
    if kind < 75:
        key = ("greek", "hebrew", "thai")[rng.below(3)]
        return " ".join(_run(rng, key, 2 + rng.below(8)) for _ in range(1 + rng.below(5))) + " "
    if kind < 80:  # numbers, decimals and long digit runs
        digits = "".join(str(rng.below(10)) for _ in range(1 + rng.below(14)))
        if rng.below(3) == 0:
            digits += "." + "".join(str(rng.below(10)) for _ in range(1 + rng.below(4)))
        return digits + (" " if rng.below(2) == 0 else ", ")
    if kind < 84:
        return POOLS["emoji"][rng.below(len(POOLS["emoji"]))] + (" " if rng.below(2) == 0 else "")
    if kind < 87:
        return POOLS["urls"][rng.below(len(POOLS["urls"]))] + " "
    if kind < 94:  # whitespace runs
        return ("\n", "\n\n", "\r\n", "\t", "    ", "  ", "\n\n\n    ", " \n")[rng.below(8)]
    return punct[rng.below(len(punct))]


def mixed_text(target_bytes: int, seed: int) -> str:
    """Pieces are appended until the UTF-8 length reaches target_bytes (so the result is slightly longer)."""
    rng = XorShift32(seed)
    out: list[str] = []
    size = 0
    while size < target_bytes:
        p = _piece(rng)
        out.append(p)
        size += len(p.encode("utf-8"))
    return "".join(out)


if __name__ == "__main__":
    import hashlib
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    t = mixed_text(n, s)
    b = t.encode("utf-8")
    print(len(b), hashlib.sha256(b).hexdigest())
