#!/usr/bin/env python3
"""Writes a small byte-level BPE tokenizer.json (+ tokenizer_config.json) into each fixture model directory,
so the CLI can take text prompts on the tiny golden models. Pure Python (no `tokenizers` needed): it learns
merges on a fixed English text until the vocabulary reaches the model's vocab_size.

Layout follows Nemotron 3 Nano: ids 0-15 special tokens (<unk> <s> </s> ... <|im_start|>=10 <|im_end|>=11
<think>=12 </think>=13 <tool_call>=14 </tool_call>=15), then the 256 byte tokens, then merges.
Usage: python3 scripts/golden/make_fixture_tokenizer.py test/fixtures/models
"""
import collections
import json
import os
import re
import sys

SPECIAL = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "<SPECIAL_5>", "<SPECIAL_6>", "<SPECIAL_7>",
           "<SPECIAL_8>", "<SPECIAL_9>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>",
           "</tool_call>"]
TEXT = """The quick brown fox jumps over the lazy dog. A hybrid model mixes Mamba layers, attention layers and
experts. Tokens flow through the network one at a time when it decodes, and many at once when it reads the prompt.
Hello, world! What is seventeen times twenty three? It is three hundred ninety one. The weather is nice today,
and the river runs to the sea. Numbers like 2026, 42 and 3.14 appear in text; so do names, places and questions.
Once upon a time there was a small model that learned to count, to add and to answer in short sentences.
Mountains, valleys, forests and deserts cover the planet; oceans hold most of its water. Scientists measure
temperature in kelvin, engineers often in celsius, and cooks in fahrenheit. Every program begins with a plan,
grows through testing, and ends with documentation that explains why each choice was made. Quietly, the
jazz musician played seven variations of the melody while the audience whispered about breakfast."""
PAT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build(vocab_size):
    b2u = bytes_to_unicode()
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    words = collections.Counter(tuple(b2u[b] for b in w.encode("utf-8")) for w in PAT.findall(TEXT))
    merges = []
    while len(vocab) < vocab_size:
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        vocab[a + b] = len(vocab)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, t in enumerate(SPECIAL)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def main():
    root = sys.argv[1]
    for name in sorted(os.listdir(root)):
        cfg_path = os.path.join(root, name, "config.json")
        if not os.path.isfile(cfg_path):
            continue
        with open(cfg_path) as f:
            vocab_size = int(re.search(r'"vocab_size":\s*(\d+)', f.read()).group(1))
        tok = build(vocab_size)
        with open(os.path.join(root, name, "tokenizer.json"), "w") as f:
            json.dump(tok, f, ensure_ascii=False, indent=1)
        with open(os.path.join(root, name, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "<|im_end|>",
                       "unk_token": "<unk>", "pad_token": "<unk>", "add_bos_token": False, "add_eos_token": False,
                       "model_max_length": 4096}, f, indent=1)
        print(name, "vocab", len(tok["model"]["vocab"]), "merges", len(tok["model"]["merges"]))


if __name__ == "__main__":
    main()
