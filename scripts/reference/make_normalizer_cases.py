#!/usr/bin/env python3
"""Writes Tests/Fixtures/reference/normalizer_cases.json: what the official ChatTTS ``Normalizer`` returns for a
set of strings, for the Swift ``Normalizer`` tests.

The official normalizer is only imported and called (``ChatTTS.norm.Normalizer.__call__``), exactly as
``Chat.infer`` calls it, with no language normalizer registered (the package registers none by default).
Its homophone map (``res/homophones_map.json``) is data we do not ship, so:

* cases without ``homophones`` run with ``do_homophone_replacement=False``;
* cases with ``homophones`` load a tiny map written by this script to a temporary file and run with
  ``do_homophone_replacement=True``; the Swift tests inject the same map.

Each case is also run with identity normalizers registered for zh and en (``expected_registered``): the text is
unchanged, but the tag splitting of a registered normalizer runs, with its quirks, as it does under the Swift
default normalizer, whose zh/en rules are registered the same way. It is null where the official code raises
(an empty text leaves its split with no stretch: ``IndexError``).

Environment: the venv of ``scripts/reference/requirements.txt`` (CPython 3.11, ``chattts==0.2.5``; only the
package's ``norm.py`` and its numba dependency are exercised), see ``scripts/reference/README.md``.
On the development machines it lives at ``/root/chattts-venv``::

    /root/chattts-venv/bin/python scripts/reference/make_normalizer_cases.py            # rewrite the fixture
    /root/chattts-venv/bin/python scripts/reference/make_normalizer_cases.py --check    # compare, exit 1 on drift
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from importlib.metadata import version as pkg_version
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"

from ChatTTS.norm import Normalizer  # noqa: E402  (after the environment is set)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "reference" / "normalizer_cases.json"

HOMOPHONES = {"的": "地", "了": "啦", "行": "形"}

# (text, forced language or None, do_text_normalization, use the tiny homophone map)
CASES: list[tuple[str, str | None, bool, bool]] = [
    # Chinese: half-width punctuation to full width, pauses simplified, the rest deleted
    ("你好，世界。", None, True, False),
    ("今天天气很好！我们去公园吧？", None, True, False),
    ("价格是100元，约合$14.5。", None, True, False),
    ('他说:"你好"', None, True, False),
    ("《红楼梦》是一本书（清代）", None, True, False),
    ("【注意】请勿吸烟；谢谢「合作」『配合』", None, True, False),
    ("e-mail地址：test@example.com", None, True, False),
    ("100%的人都说～好", None, True, False),
    ("“引号”和‘单引号’", None, True, False),
    ("省略号……破折号——间隔号·", None, True, False),
    ("  多个   空格  ", None, True, False),
    ("换行\n测试\t制表\r回车", None, True, False),
    ("开心😀快乐", None, True, False),
    ("龘靐齉㐀𠀀", None, True, False),
    ("全角ＡＢＣ和半角abc", None, True, False),
    ("こんにちは世界", None, True, False),
    ("中文English混合text测试", None, True, False),
    ("Hello 世界", None, True, False),
    ("你好、世界,再见.", None, True, False),
    # tags and the official tag scanner's quirks
    ("你好[uv_break]世界[laugh]！", None, True, False),
    ("[Stts][spk_emb][speed_5]你好。[Ptts]", None, True, False),
    ("你好[uv_break世界！", None, True, False),
    ("a]b[x]c中文中文！", None, True, False),
    ("[[uv_break]]你好！", None, True, False),
    ("中文[a,b]文本!", None, True, False),
    ("中文[中文]！", None, True, False),
    ("[oral_2][laugh_0][break_6]", None, True, False),
    # English
    ("Hello, world!", None, True, False),
    ("It's 5 o'clock: time for tea (and cake).", None, True, False),
    ("Dr. Smith; Ph.D. - expert <b>bold</b>", None, True, False),
    ("snake_case and CamelCase", None, True, False),
    ("Price: $9.99 & tax #1", None, True, False),
    ("[uv_break]Hello[laugh] world![lbreak]", None, True, False),
    ("What? Really?!", None, True, False),
    ("café naïve", None, True, False),
    ("A-B-C", None, True, False),
    ("x]y", None, True, False),
    ('"Quoted" text\'s', None, True, False),
    ("abc123 def 中文", None, True, False),
    ("tie 中", None, True, False),
    ("123", None, True, False),
    ("", None, True, False),
    ("plain words only", None, True, False),
    # numbers: the official front end deletes the digits (the Swift default reads them, on purpose)
    ("2024年3月5日", None, True, False),
    ("下午3点，第3名", None, True, False),
    ("¥1,280.50", None, True, False),
    ("3.5%", None, True, False),
    ("0", None, True, False),
    ("Call 13800138000 now!", None, True, False),
    ("2024年3月5日", None, False, False),
    # forced language, normalization off
    ("Hello, world!", "zh", True, False),
    ("你好!世界?", "en", True, False),
    ("你好!世界?", None, False, False),
    ("你好，世界。", None, False, False),
    # homophone replacement with a tiny injected map
    ("我的书丢了", None, True, True),
    ("行不行[的]了！", None, True, True),
    ("我的书丢了!", None, False, True),
]


def generate() -> dict:
    logger = logging.getLogger("normalizer-cases")
    logger.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        empty_map = Path(tmp) / "empty.json"
        empty_map.write_text("{}", encoding="utf-8")
        tiny_map = Path(tmp) / "tiny.json"
        tiny_map.write_text(json.dumps(HOMOPHONES, ensure_ascii=False), encoding="utf-8")
        plain = Normalizer(str(empty_map), logger)
        with_map = Normalizer(str(tiny_map), logger)
        registered = {False: Normalizer(str(empty_map), logger), True: Normalizer(str(tiny_map), logger)}
        for normalizer in registered.values():
            for name in ("zh", "en"):
                normalizer.register(name, lambda s: s)
        cases = []
        for text, lang, normalize, homophones in CASES:
            normalizer = with_map if homophones else plain
            expected = normalizer(text, do_text_normalization=normalize, do_homophone_replacement=homophones,
                                  lang=lang)
            try:
                expected_registered = registered[homophones](text, do_text_normalization=normalize,
                                                             do_homophone_replacement=homophones, lang=lang)
            except IndexError:
                expected_registered = None
            cases.append({
                "text": text,
                "lang": lang,
                "normalize": normalize,
                "homophones": HOMOPHONES if homophones else {},
                "detected": plain._detect_language(text),
                "expected": expected,
                "expected_registered": expected_registered,
            })
    return {
        "_comment": "Official ChatTTS Normalizer(text, do_text_normalization=normalize, "
                    "do_homophone_replacement=bool(homophones), lang=lang) with no registered language "
                    "normalizer ('expected') and with identity normalizers registered for zh and en "
                    "('expected_registered'); 'detected' is its _detect_language(text). Made by "
                    "scripts/reference/make_normalizer_cases.py.",
        "versions": {"python": sys.version.split()[0], "chattts": pkg_version("chattts"),
                     "numba": pkg_version("numba")},
        "cases": cases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args()
    text = json.dumps(generate(), ensure_ascii=False, indent=1) + "\n"
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT}: {'up to date' if same else 'DIFFERS'}")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
