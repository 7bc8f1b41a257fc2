#!/usr/bin/env python3
"""Trains the project's Tekken-style tokenizer and writes tokenizer goldens from the Python `tokenizers` library.

Run on a machine that has `tokenizers` (the GPU machine does; this one does not):

    python3 scripts/tokenizer/make_goldens.py --out DIR

writes, under DIR:
  nemotron-tekken-32k/tokenizer.json   the trained tokenizer (copy to test/fixtures/tokenizers/nemotron-tekken-32k/)
  training-meta.json                   corpus sizes and hashes, Python and tokenizers versions
  golden-<name>.json                   one per golden tokenizer (copy to test/fixtures/tokenizers/goldens/)

Steps
  (a) train a byte-level BPE with the Nemotron 3 Nano pre-tokenizer (Split on the Tekken regex, behaviour Isolated,
      then ByteLevel without prefix space and without its own regex), special tokens at ids 0..999 as Tekken lays
      them out (0 <unk>, 1 <s>, 2 </s>, 3 [INST], 10 <|im_start|>, 11 <|im_end|>, 12 <think>, 13 </think>,
      14 <tool_call>, 15 </tool_call>, the rest <SPECIAL_n>), raw bytes at 1000 + byte value, merges after that.
      Corpus: the .py files of this Python's stdlib (sorted, capped) plus mixed_text.py output (seeded). The corpus
      depends only on the Python version and this repo, and its sha256 is recorded in training-meta.json.
  (b) encode corpus.json (hard strings) with the trained tokenizer and with the committed real tokenizers, and
      record ids (special-token parsing on and off, with and without post-processor specials) and decodes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import sysconfig
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIX = REPO / "test/fixtures/tokenizers"
sys.path.insert(0, str(HERE))
from mixed_text import mixed_text  # noqa: E402

# Nemotron 3 Nano / Mistral Tekken pre-tokenizer split (docs/model-spec.md 1.3).
TEKKEN_REGEX = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|"
    r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
VOCAB_SIZE = 32768
NUM_CONTROL = 1000  # Tekken reserves ids 0..999 for control tokens; bytes follow at 1000..1255
NAMED_CONTROL = {0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 10: "<|im_start|>", 11: "<|im_end|>",
                 12: "<think>", 13: "</think>", 14: "<tool_call>", 15: "</tool_call>"}
STDLIB_CAP_BYTES = 24 << 20
MIXED_TRAIN_BYTES = 10 << 20
MIXED_TRAIN_SEED = 1311
BULK_BYTES, BULK_SEED = 300_000, 7  # the bulk golden: mixed_text(300000, 7), checked by hash


def control_tokens() -> list[str]:
    return [NAMED_CONTROL.get(i, f"<SPECIAL_{i}>") for i in range(NUM_CONTROL)]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (what ByteLevel uses)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def stdlib_texts() -> tuple[list[str], dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idlelib"}  # test suites hold odd synthetic strings
    files = sorted(p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts))
    texts, total, used = [], 0, 0
    h = hashlib.sha256()
    for p in files:
        try:
            t = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        b = len(t.encode("utf-8"))
        if total + b > STDLIB_CAP_BYTES:
            continue
        texts.append(t)
        h.update(t.encode("utf-8"))
        total += b
        used += 1
    return texts, {"stdlib_root": str(root), "stdlib_files_seen": len(files), "stdlib_files_used": used,
                   "stdlib_bytes": total, "stdlib_sha256": h.hexdigest()}


def training_corpus(mixed_bytes: int = MIXED_TRAIN_BYTES) -> tuple[list[str], dict]:
    texts, meta = stdlib_texts()
    mixed = mixed_text(mixed_bytes, MIXED_TRAIN_SEED)
    # Chunk the generated text at newlines so no single training string is huge.
    lines = mixed.split("\n")
    chunk, chunks = [], []
    for ln in lines:
        chunk.append(ln)
        if len(chunk) == 64:
            chunks.append("\n".join(chunk) + "\n")
            chunk = []
    if chunk:
        chunks.append("\n".join(chunk))
    meta.update({"mixed_bytes": len(mixed.encode("utf-8")), "mixed_seed": MIXED_TRAIN_SEED,
                 "mixed_sha256": hashlib.sha256(mixed.encode("utf-8")).hexdigest()})
    return texts + chunks, meta


def remap_tekken_layout(tj: dict) -> dict:
    """Control tokens keep ids 0..999, byte b moves to 1000 + b, merged tokens follow in training order.

    BPE ranks come from the merges list, not from ids, so renumbering changes no tokenization.
    """
    vocab: dict[str, int] = tj["model"]["vocab"]
    b2u = bytes_to_unicode()
    byte_chars = {c: b for b, c in b2u.items()}
    new: dict[str, int] = {}
    for tok, i in vocab.items():
        if i < NUM_CONTROL:
            new[tok] = i
        elif tok in byte_chars:
            new[tok] = NUM_CONTROL + byte_chars[tok]
    rest = sorted((i, tok) for tok, i in vocab.items() if tok not in new)
    for k, (_, tok) in enumerate(rest):
        new[tok] = NUM_CONTROL + 256 + k
    assert len(new) == len(vocab) and sorted(new.values()) == list(range(len(vocab)))
    tj["model"]["vocab"] = dict(sorted(new.items(), key=lambda kv: kv[1]))
    return tj


def train(out_dir: Path, log) -> tuple[Path, dict]:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(TEKKEN_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False, special_tokens=control_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    for mixed_bytes in (MIXED_TRAIN_BYTES, 3 * MIXED_TRAIN_BYTES):  # more text only if the first pass falls short
        texts, meta = training_corpus(mixed_bytes)
        log(f"training corpus: {len(texts)} strings, {meta}")
        t0 = time.time()
        tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
        meta["train_seconds"] = round(time.time() - t0, 2)
        log(f"trained in {meta['train_seconds']} s, vocab {tok.get_vocab_size()}")
        if tok.get_vocab_size() >= VOCAB_SIZE:
            break

    # Mistral-NeMo/Pixtral Tekken files prepend <s> through a TemplateProcessing post-processor; whether the
    # Nano file does is open (model-spec Q3). Chat prompts are encoded with add_special_tokens=False anyway.
    # <s> is id 1 before and after the renumbering below (control ids do not move).
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", 1)])
    tj = remap_tekken_layout(json.loads(tok.to_str()))
    tok2 = Tokenizer.from_str(json.dumps(tj, ensure_ascii=False))
    # The renumbering must not change any tokenization.
    sample = mixed_text(200_000, 99)
    a, b = tok.encode(sample, add_special_tokens=False).tokens, tok2.encode(sample, add_special_tokens=False).tokens
    assert a == b, "remap changed tokenization"
    assert tok2.token_to_id("Ċ") == 1010 and tok2.token_to_id("<|im_end|>") == 11, "layout check failed"
    mdir = out_dir / "nemotron-tekken-32k"
    mdir.mkdir(parents=True, exist_ok=True)
    path = mdir / "tokenizer.json"
    path.write_text(tok2.to_str(pretty=False), encoding="utf-8")
    meta.update({"vocab_size": tok2.get_vocab_size(), "merges": len(tj["model"]["merges"]),
                 "tokenizer_sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    return path, meta


def decode_cases(tok, corpus_ids: list[list[int]], vocab_size: int, seed: int) -> list[dict]:
    """Id sequences whose decodes test byte-level edge cases: random ids (broken UTF-8 included), every added
    token alone, and prefixes that cut multi-byte characters."""
    rng = random.Random(seed)
    seqs: list[list[int]] = []
    added = sorted(tok.get_added_tokens_decoder().keys())
    seqs += [[i] for i in added[:40]]
    for _ in range(60):
        seqs.append([rng.randrange(vocab_size) for _ in range(rng.randint(1, 12))])
    for ids in corpus_ids:
        if len(ids) >= 3 and rng.random() < 0.15:
            seqs.append(ids[: rng.randint(1, len(ids) - 1)])
    out = []
    for ids in seqs:
        out.append({"ids": ids, "decode": tok.decode(ids, skip_special_tokens=False),
                     "decode_skip": tok.decode(ids, skip_special_tokens=True)})
    return out


def goldens_for(name: str, path: Path, corpus: list[dict], log) -> dict:
    import tokenizers
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    cases = []
    for row in corpus:
        s = row["text"]
        tok.encode_special_tokens = False
        ids = tok.encode(s, add_special_tokens=False).ids
        ids_add = tok.encode(s, add_special_tokens=True).ids
        tok.encode_special_tokens = True
        ids_noparse = tok.encode(s, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        cases.append({
            "cat": row["cat"], "text": s, "ids": ids,
            "ids_add_special": ids_add, "ids_no_special_parse": ids_noparse,
            "decode": tok.decode(ids, skip_special_tokens=False),
            "decode_skip": tok.decode(ids, skip_special_tokens=True),
            "decode_noparse": tok.decode(ids_noparse, skip_special_tokens=False),
        })
    bulk = mixed_text(BULK_BYTES, BULK_SEED)
    bulk_ids = tok.encode(bulk, add_special_tokens=False).ids
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    added = {str(k): {"content": v.content, "special": v.special} for k, v in tok.get_added_tokens_decoder().items()}
    g = {
        "tokenizer": name, "tokenizer_path": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name,
        "tokenizer_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "python_tokenizers_version": tokenizers.__version__,
        "vocab_size_with_added": vocab_size, "vocab_size_model": tok.get_vocab_size(with_added_tokens=False),
        "added_tokens": added,
        "cases": cases,
        "decode_cases": decode_cases(tok, [c["ids"] for c in cases], vocab_size, seed=5),
        "bulk": {"bytes": BULK_BYTES, "seed": BULK_SEED, "count": len(bulk_ids),
                 "ids_sha256": hashlib.sha256(",".join(map(str, bulk_ids)).encode()).hexdigest(),
                 "first_ids": bulk_ids[:64]},
    }
    log(f"{name}: {len(cases)} cases, {len(g['decode_cases'])} decode cases, bulk {len(bulk_ids)} ids")
    return g


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--skip-train", action="store_true", help="use the committed trained tokenizer")
    ap.add_argument("--train-only", action="store_true", help="train (e.g. again, to check determinism) and stop")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    import tokenizers
    log(f"python {sys.version.split()[0]}, tokenizers {tokenizers.__version__}")
    corpus = json.loads((FIX / "corpus.json").read_text(encoding="utf-8"))
    failures = 0
    trained = FIX / "nemotron-tekken-32k/tokenizer.json"
    if not args.skip_train:
        try:
            trained, meta = train(args.out, log)
            meta.update({"python": sys.version.split()[0], "tokenizers": tokenizers.__version__,
                         "vocab_target": VOCAB_SIZE, "tekken_regex": TEKKEN_REGEX})
            (args.out / "training-meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
            log(f"tokenizer sha256 {meta['tokenizer_sha256']}")
        except Exception:
            traceback.print_exc()
            failures += 1
    if args.train_only:
        return 1 if failures else 0
    targets = [("nemotron-tekken-32k", trained), ("qwen3", FIX / "qwen3/tokenizer.json"),
               ("gpt35-cl100k", FIX / "gpt35-cl100k/tokenizer.json")]
    for name, path in targets:
        if not path.exists():
            log(f"{name}: {path} missing, skipped")
            failures += 1
            continue
        try:
            g = goldens_for(name, path, corpus, log)
            (args.out / f"golden-{name}.json").write_text(json.dumps(g, ensure_ascii=True) + "\n", encoding="utf-8")
        except Exception:
            traceback.print_exc()
            failures += 1
    log(f"done, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
