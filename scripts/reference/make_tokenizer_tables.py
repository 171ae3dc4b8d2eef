"""Derives the character classes embedded in Sources/ChatTTS/BertCharacterClass.swift.

Runs every code point through the `tokenizers` library's BertNormalizer and BertPreTokenizer (the version pinned
in requirements.txt) and writes, as sorted inclusive ranges: characters the normalizer removes ("other"),
characters the pre-tokenizer splits off as punctuation ("punct") and nonspacing marks accent stripping drops ("mn").

    /root/chattts-venv/bin/python scripts/reference/make_tokenizer_tables.py ranges.json
"""
import json
import sys

from tokenizers import normalizers, pre_tokenizers


def ranges(values):
    out = []
    for v in sorted(values):
        if out and out[-1][1] + 1 == v:
            out[-1][1] = v
        else:
            out.append([v, v])
    return out


def main(path):
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    pre = pre_tokenizers.BertPreTokenizer()
    removed, punct, marks = [], [], []
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        if clean.normalize_str(ch) == "" and c not in (0, 0xFFFD):
            removed.append(c)
        if strip.normalize_str(ch) == "":
            marks.append(c)
        if [t[0] for t in pre.pre_tokenize_str("a" + ch + "a")] == ["a", ch, "a"]:
            punct.append(c)
    tables = {"other": ranges(removed), "punct": ranges(punct), "mn": ranges(marks)}
    with open(path, "w") as f:
        json.dump(tables, f)
    print({k: len(v) for k, v in tables.items()})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ranges.json")
