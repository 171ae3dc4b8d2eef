#!/usr/bin/env python3
"""Seed-voice fixtures: what the official ChatTTS makes of ``torch.manual_seed(N)``
followed by ``Chat.sample_random_speaker()``, for speaker statistics of our own.

What this script does
---------------------
1. Draws random speaker statistics (std then mean, float32) from its own seeded
   generator -- never the official data -- for dim 768 (the real hidden size)
   and dim 32 (the tiny test model's), and writes each with ``torch.save`` as a
   real-layout ``spk_stat.pt`` (one float32 tensor of 2 x dim values).
2. Builds the official ``Speaker`` from those statistics exactly as the official
   ``Chat`` does: from the base16384 string of the float16 values.
3. For every seed of ``SEEDS_768`` / ``SEEDS_32`` records the official voice
   string and its float16 bit patterns in ``seed_voices.json``, plus plain
   ``torch.randn`` draws of sizes 16 does not divide, and the dim-32 statistics
   saved again as float16 and bfloat16 (with their bit patterns).
4. ``--check`` regenerates into a temporary directory and compares the sha256
   of every file it writes with the committed one.

The official package is only imported and called; nothing of its code or data is
copied here. Run it with the venv described in ``scripts/reference/README.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import hashlib
import json
import platform
import sys
import tempfile
from importlib.metadata import version as pkg_version
from pathlib import Path

import numpy as np
import pybase16384 as b14
import torch
from ChatTTS.model.speaker import Speaker

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Tests" / "Fixtures" / "reference"
DEFAULT_SEED = 20241202

#: Small and large seeds: torch keeps only the low 32 bits of a seed for its CPU
#: generator, so 2**32 + 5 and 2**63 + 5 give the voice of seed 5; a port that
#: uses the whole seed fails on them. 1001...1013 are the OpenAI aliases.
SEEDS_768 = [0, 1, 2, 5, 7, 42] + list(range(1001, 1014)) + [
    2**31 - 1, 2**32 - 1, 2**32, 2**32 + 5, 2**63 + 5, 2**64 - 1]
SEEDS_32 = [0, 1, 1001, 2**32 + 5, 2**64 - 1]

#: (file, dim, generator offset) of each statistics file.
STATISTICS = [("spk_stat.pt", 768, 0), ("spk_stat_dim32.pt", 32, 1)]
#: The dim-32 statistics saved again as float16 and bfloat16 (the other storages the Swift reader takes).
NARROW = [("spk_stat_dim32_f16.pt", torch.float16), ("spk_stat_dim32_bf16.pt", torch.bfloat16)]
#: torch.randn(count, dtype=float16) alone, for counts that 16 does not divide (the kernel recomputes the last 16),
#: and seed 474, whose first uniform is 0: u1 = 1 makes the radius -0, which the kernel's `+ mean` turns into +0.
RANDN = [(count, seed) for count in [16, 17, 40, 100] for seed in [3, 2**32 + 3]] + [(16, 474)]
OUTPUTS = [name for name, _, _ in STATISTICS] + [name for name, _ in NARROW] + ["seed_voices.json"]


def make_statistics(dim: int, gen: torch.Generator) -> torch.Tensor:
    """float32 [std(dim), mean(dim)] with full mantissas, so that the float16
    conversion rounds. The first four std values sit exactly halfway between two
    float16 values (1 + 1/2048, 1 + 3/2048, 0.5 + 1/4096, 2 + 3/1024): they pin
    round-to-nearest-even."""
    std = torch.rand((dim,), generator=gen, dtype=torch.float32) * 0.8 + 0.4
    std[:4] = torch.tensor([1 + 1 / 2048, 1 + 3 / 2048, 0.5 + 1 / 4096, 2 + 3 / 1024])
    mean = torch.randn((dim,), generator=gen, dtype=torch.float32) * 0.5
    return torch.cat([std, mean]).contiguous()


def f16_hex(values: np.ndarray) -> str:
    """float16 values as 4 hex digits (the IEEE bit pattern) each, in order."""
    return "".join(f"{b:04x}" for b in values.astype(np.float16).view(np.uint16).tolist())


def bits_hex(tensor: torch.Tensor) -> str:
    """A 16-bit tensor's bit patterns, 4 hex digits each, in order."""
    return "".join(f"{b & 0xFFFF:04x}" for b in tensor.view(torch.int16).tolist())


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": f"{platform.system()}-{platform.machine()}"}
    for name in ["torch", "chattts", "numpy", "pybase16384"]:
        out[name] = pkg_version(name)
    return out


def generate(out: Path, seed: int) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, dim, offset in STATISTICS:
        stats = make_statistics(dim, torch.Generator().manual_seed(seed + offset))
        torch.save(stats, out / name)
        # The official Chat builds its Speaker from a base16384 string of float16 values.
        spk_stat = b14.encode_to_string(stats.to(torch.float16).numpy().astype("<f2").tobytes())
        speaker = Speaker(dim, spk_stat, torch.device("cpu"))
        voices = []
        for s in SEEDS_768 if dim == 768 else SEEDS_32:
            torch.manual_seed(s)
            string = speaker.sample_random()
            voices.append({"seed": str(s), "string": string, "f16_hex": f16_hex(Speaker._decode(string))})
        cases.append({"dim": dim, "statistics": name, "spk_stat": spk_stat,
                      "std_f16_hex": f16_hex(speaker.std.numpy()), "mean_f16_hex": f16_hex(speaker.mean.numpy()),
                      "voices": voices})
        if dim == 32:
            narrow = []
            for narrow_name, dtype in NARROW:
                torch.save(stats.to(dtype), out / narrow_name)
                narrow.append({"file": narrow_name, "dtype": str(dtype).removeprefix("torch."),
                               "bits_hex": bits_hex(stats.to(dtype))})
    randn = []
    for count, s in RANDN:
        torch.manual_seed(s)
        randn.append({"count": count, "seed": str(s), "f16_hex": bits_hex(torch.randn(count, dtype=torch.float16))})
    document = {
        "_comment": "Official seed voices: torch.manual_seed(seed) then Speaker.sample_random() on our own random "
                    "statistics (the .pt file named by 'statistics', float32 std then mean; the Speaker is built "
                    "from spk_stat, their float16 base16384 string). Seeds are decimal strings (they reach 2^64-1); "
                    "*_hex are 16-bit patterns (float16, or bfloat16 where 'dtype' says so), 4 hex digits per "
                    "value. narrow_statistics: the dim-32 statistics saved as float16 and bfloat16. randn: "
                    "torch.manual_seed(seed) then torch.randn(count, dtype=float16). Made by "
                    "scripts/reference/make_speaker_fixtures.py.",
        "generator_seed": seed,
        "versions": versions(),
        "cases": cases,
        "narrow_statistics": narrow,
        "randn": randn,
    }
    with open(out / "seed_voices.json", "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(out: Path, seed: int) -> int:
    with tempfile.TemporaryDirectory(prefix="chattts-speaker-fixtures-") as tmp:
        generate(Path(tmp), seed)
        bad = [name for name in OUTPUTS
               if not (out / name).exists() or sha256(out / name) != sha256(Path(tmp) / name)]
    print(f"versions: {json.dumps(versions())}")
    if bad:
        print("MISMATCH: " + ", ".join(bad))
        return 1
    print(f"OK: {len(OUTPUTS)} files identical (sha256)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of our random statistics")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: Tests/Fixtures/reference)")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare sha256")
    args = ap.parse_args()
    if args.check:
        return check(args.out, args.seed)
    generate(args.out, args.seed)
    for name in OUTPUTS:
        print(f"  {(args.out / name).stat().st_size:>7}  {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
