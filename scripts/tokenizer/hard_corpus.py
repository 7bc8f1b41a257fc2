#!/usr/bin/env python3
"""Writes test/fixtures/tokenizers/corpus.json: the hard strings every golden tokenizer is checked on.

Hand-picked cases by category, then a seeded fuzz section. Every string is valid Unicode (no lone surrogates),
because neither Python's UTF-8 codec nor a JS round trip can carry a lone surrogate. Run: python3 hard_corpus.py
"""
from __future__ import annotations

import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test/fixtures/tokenizers/corpus.json"

CASES: dict[str, list[str]] = {
    "basic": [
        "", "a", " ", "Hello world", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
        "hello", " hello", "  hello", "hello ", "HELLO", "Hello", "hELLO",
    ],
    "whitespace": [
        "  ", "   ", "\n", "\n\n", "\n\n\n\n\n", " \n", "\n ", " \n ", "\t", "\t\t", "\tx", "x\t", "a\tb",
        "a  b", "a   b", "a \n b", "a  \n\n  b", "\r\n", "\r", "\r\r\n\n", "line1\r\nline2\r\n\r\nline3",
        "    indented", "trailing    ", "x\n    y\n        z\n", "\u00a0", "a\u00a0b", "\u3000x\u3000",
        "\u2028", "a\u2029b", "\u0085", "a\u0085b", "\ufeff", "\ufeffBOM at start", "a\ufeffb", "\u000b\u000c",
        "\u200b", "a\u200bb", "\u2003em space", " \t \n \r\n ", "\n\t\n\t", "end.\n\n", "  \n  \n",
    ],
    "digits": [
        "0", "7", "42", "1234567890", "3.14159", "1,000,000", "-273.15", "1e-9", "0x1F2E", "2024-11-29",
        "12:34:56", "v1.2.3", "123456789012345678901234567890", "١٢٣٤", "٣.١٤", "१२३", "١٢٣abc",
        "²³¹", "½¾", "Ⅻ ⅷ", "１２３", "𝟘𝟙𝟚", "①②③", "x2", "H2O", "3D", "100%", "$19.99", "€5,00",
    ],
    "scripts": [
        "你好，世界！", "我喜欢用TypeScript写代码。", "東京は日本の首都です。", "ひらがなとカタカナ", "ｶﾀｶﾅ",
        "안녕하세요, 세계!", "한국어 텍스트입니다.", "مرحبا بالعالم", "اللغة العربية جميلة.", "שלום עולם",
        "नमस्ते दुनिया", "हिन्दी में पाठ।", "สวัสดีชาวโลก", "Привет, мир!", "ПРИВЕТ мир", "Ёлка и ёжик",
        "Γειά σου Κόσμε", "გამარჯობა", "Բարեւ", "வணக்கம்", "নমস্কার", "ሰላም", "ᚠᚢᚦᚨᚱᚲ",
        "mixed English и русский 和中文 and العربية", "İstanbul", "ıi İI", "Straße STRASSE", "ǅemal ǈubljana",
        "ʰʲʷ", "ー々〆", "Ωmega ωmega", "ﬁne ﬂow ﬀ", "ℌ𝔢𝔩𝔩𝔬 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄",
    ],
    "combining": [
        "e\u0301", "cafe\u0301", "caf\u00e9", "a\u0308\u0304", "\u0301", "\u0301abc", " \u0301", "x\u0301\u0302\u0303",
        "Z\u0351\u0345\u0346a\u0352\u0353l\u0354g\u0355o\u0356", "A\u030a", "\u00c5", "\u212b", "\u1100\u1161\u11a8",
        "\u1112\u1161\u11ab\u1100\u1173\u11af", "n\u0303", "\u0915\u094d\u0937", "\u0e01\u0e34\u0e19",
        "\u05e9\u05c1\u05b8", "\u0627\u064e\u0644\u0652", "Ä\u0323", "\u1e0a\u0323", "q\u0307\u0323",
    ],
    "emoji": [
        "😀", "😀😀😀", "Hi 👋", "👍🏽", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈",
        "🇺🇸🇯🇵🇫🇷", "🇺", "1️⃣#️⃣", "❤️", "❤", "\u2764\ufe0f\u200d🔥", "🧑🏿\u200d🚀", "🫠🫡", "👩‍❤️‍💋‍👨",
        "emoji🚀inside🚀words", "🤖: I am a robot.", "✅ done ❌ failed ⚠️ warn", "🐍🐍 python", "😀\n😀",
    ],
    "code": [
        "def f(x):\n    return x * 2\n",
        "if (a && b || !c) { return a ?? b; }",
        "const x = {\"a\": [1, 2, 3], 'b': null};",
        "for i in range(10):\n\tprint(i)\n",
        "int main(void) {\n\treturn 0;\n}\n",
        "<html><body><h1>Title</h1><br/></body></html>",
        "SELECT * FROM t WHERE a >= 10 AND b <> 'x';",
        "$ ls -la | grep '\\.ts$' > out.txt 2>&1",
        "x=>x**2; y = a<<2 >>> 1; z = ~a ^ b",
        "/^[a-z0-9_-]{3,16}$/i.test(name)",
        "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n",
        "    \"\"\"Docstring with 'quotes' and \\\"escapes\\\".\"\"\"",
        "a//b /* c */ d",
        "path/to/file.ts:42:7 - error TS2322",
        "| col | col2 |\n|-----|------|\n| 1   | 2    |",
        "```python\nprint('hi')\n```",
        "{\n  \"key\": \"value\",\n  \"n\": 1.5e10\n}\n",
        "foo_bar_baz = FooBar.baz_qux(__init__)",
        "...!!!???---===+++***",
        "====================",
        "a.b.c.d", "C:\\Users\\name\\file.txt", "\\n\\t\\r\\\\",
    ],
    "urls": [
        "https://example.com", "https://example.com/path?q=1&r=two#frag", "http://localhost:8000/v1/completions",
        "user.name+tag@example.org", "www.example.co.uk/a-b_c/d.html", "ftp://x.y/z.tar.gz",
        "https://例え.jp/パス?キー=値", "<https://example.com>", "[link](https://x.io/a(b)c)",
    ],
    "specials": [
        "<unk>", "<s>", "</s>", "[INST]", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>",
        "</tool_call>", "<SPECIAL_4>", "<SPECIAL_9>", "<SPECIAL_16>", "<SPECIAL_999>", "<SPECIAL_1000>",
        "<|endoftext|>", "<|im_start|", "|im_start|>", "<|im_start", "<im_start>", "<|im_start |>", "<|IM_START|>",
        "<<|im_end|>>", "<|im_start|><|im_start|>", "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n",
        "<think>\nLet me think.\n</think>\n\nThe answer is 4.<|im_end|>", "<think></think>", "< think>", "<think >",
        "<THINK>", "<thin", "k>", "<think", "think>", "</think", "</ think>", "<tool_call>\n<function=get_weather>\n"
        "<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>", "<tool_response>\n{\"t\": 21}\n</tool_response>",
        "text<s>text</s>text", " <s> ", "[INST] hi [/INST]", "<unk><unk>", "x<|im_end|>y", "<|im_end|>\n\n",
        "  <|im_start|>  ", "<|im_start|>\u00e9", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
    ],
    "contractions": [
        "I'm", "don't", "IT'S", "we'LL", "'s", "'S", "'re", "'ll've", "rock'n'roll", "’s", "don’t",
        "'\u017f", "'\u212a", "o'\u212aay", "'\u0130", "McDonald's", "'''", "' s", "''s",
    ],
    "case_shapes": [
        "HTTPServer", "iPhone", "XMLHttpRequest", "camelCaseWord", "PascalCaseWord", "snake_case_word",
        "SCREAMING_SNAKE", "ALLCAPS", "aB", "Ab", "AB", "ABc", "abC", "ǅx", "Xǅ", "ÀÉÎõü", "ÉCOLE école",
        "ΣΊΣΥΦΟΣ", "ĲSSEL", "Σσς",
    ],
    "controls_edges": [
        "\u0000", "a\u0000b", "\u0001\u0002\u0003", "\u007f", "\u001b[31mred\u001b[0m", "\ufffd", "a\ufffdb",
        "\uffff", "\ufffe", "\U0010ffff", "\U000e0041", "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        "\u200d", "\u200c", "\u200e\u200f", "\u202e\u202d", "\u00ad", "\u2060", "\u180e", "\ue000\uf8ff",
        "\U000f0000", "\u0080\u0081\u009f", "\u00ff\u0100", "\u07ff\u0800", "\uffef\U00010000",
    ],
    "long": [
        "a" * 1000, " " * 500, "\n" * 300, "=" * 2000, "ab" * 400, "\t" * 100 + "x",
        "".join(str(i % 10) for i in range(600)),
        "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
        "😀" * 200, "你" * 300, "\u0301" * 100, "x\u0301" * 200,
        ("word " * 300).strip(), "-_" * 300, "<|im_start|>" * 50,
    ],
}


def fuzz(n: int, seed: int) -> list[str]:
    """Random concatenations of small fragments from every category, plus raw random code points."""
    rng = random.Random(seed)
    frags = [
        " ", "  ", "\n", "\r\n", "\t", "a", "Z", "é", "e\u0301", "ß", "İ", "ǅ", "你", "の", "한", "ж", "Ж", "ب", "क्ष",
        "ก", "α", "1", "42", "٣", "½", "😀", "👍🏽", "👨\u200d👩\u200d👧", "🇯🇵", "'s", "'S", "'\u017f", "<", ">", "|",
        "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "<s>", "</s>", "[INST]", "<|im_start|",
        "/", "//", "\\", ".", "...", ",", "!", "?", "-", "_", "=", "==", "(", ")", "{", "}", "[", "]", "\"", "`",
        "\u00a0", "\u3000", "\u0085", "\ufeff", "\u200b", "\u200d", "\u0301", "\ufe0f", "\U0001f3fd", "x", "Word",
        "word", "WORD", "http://a.b/c", "#", "@", "$", "%", "^", "&", "*", "+", "~",
    ]
    ranges = [(0x20, 0x7e), (0xa0, 0x24f), (0x300, 0x36f), (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x6ff),
              (0x900, 0x97f), (0xe00, 0xe7f), (0x1100, 0x11ff), (0x2000, 0x206f), (0x3000, 0x30ff),
              (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xff00, 0xffef), (0x1f300, 0x1faff), (0x1d400, 0x1d7ff)]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 24)):
            if rng.random() < 0.7:
                parts.append(rng.choice(frags))
            else:
                lo, hi = rng.choice(ranges)
                parts.append(chr(rng.randint(lo, hi)))
        out.append("".join(parts))
    return out


def build() -> list[dict]:
    rows = []
    for cat, items in CASES.items():
        for s in items:
            rows.append({"cat": cat, "text": s})
    for s in fuzz(200, seed=20261129):
        rows.append({"cat": "fuzz", "text": s})
    for r in rows:  # guard: no lone surrogates
        r["text"].encode("utf-8")
    return rows


if __name__ == "__main__":
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(json.dumps(r, ensure_ascii=True) for r in rows)  # one case per line: readable diffs
    OUT.write_text("[\n" + body + "\n]\n", encoding="utf-8")
    print(f"wrote {len(rows)} strings to {OUT}")
