#!/usr/bin/env python3
"""The official ChatTTS implementation timed on the same model, for `chattts bench engine`.

Our own code: it imports and calls the official package (chattts 0.2.5, AGPL) and copies none of it.
Loads an asset folder made by scripts/reference/make_fixtures.py (--full-size), the same weights the Swift engine
reads, with the official loader, then measures on CPU with a fixed thread count:

- GPT steps per second at each batch size: `Chat._infer_code` with min_new_token = max_new_token, run once with
  `--warm` steps and once with `--warm + --steps`; the difference is the time of `--steps` decode steps
  (prefill and set-up cancel out). steps/s counts every sequence: batch * steps / time.
- the vocoder (Decoder + Vocos, `Chat._decode_to_wavs`) per second of audio.

Prints one JSON object on stdout. Usage:
    /root/chattts-venv/bin/python scripts/bench/reference_engine.py --assets /tmp/full-asset/asset --threads 2
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reference"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", required=True, help="asset folder (its parent holds chattts_config.json)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--warm", type=int, default=4)
    ap.add_argument("--text", default="Hello, this is a speed test of the speech engine.")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.set_grad_enabled(False)
    import numpy as np
    import make_fixtures as mf
    import ChatTTS

    asset = Path(args.assets)
    summary = json.loads((asset.parent / "chattts_config.json").read_text())
    ntext = summary["gpt"]["num_text_tokens"]
    cfg = mf.make_config(mf.FULL_DIMS, ntext, summary["spk_stat"])
    t0 = time.perf_counter()
    chat = mf.load_chat(asset, cfg)
    load_s = time.perf_counter() - t0
    torch.manual_seed(0)
    voice = chat.speaker.sample_random()

    def params(n):
        return ChatTTS.Chat.InferCodeParams(
            prompt="[speed_5]", spk_emb=voice, temperature=0.3, top_P=0.7, top_K=20, repetition_penalty=1.05,
            min_new_token=n, max_new_token=n, manual_seed=1, show_tqdm=False, ensure_non_empty=True)

    def generate(batch, n):
        start = time.perf_counter()
        res = next(chat._infer_code([args.text] * batch, False, torch.device("cpu"), True, params(n)))
        return time.perf_counter() - start, res

    out = {"torch": torch.__version__, "threads": args.threads, "load_s": load_s, "steps": args.steps, "batches": {}}
    generate(1, 2)  # warm-up: first calls allocate and page in the weights
    hiddens = None
    for b in [int(x) for x in args.batches.split(",")]:
        short, _ = generate(b, args.warm)
        long, res = generate(b, args.warm + args.steps)
        seconds = max(long - short, 1e-9)
        out["batches"][str(b)] = {"steps_per_s": b * args.steps / seconds, "step_ms": 1000 * seconds / args.steps}
        if hiddens is None:
            hiddens = [h.clone() for h in res.hiddens[:1]]
    best = float("inf")
    samples = 0
    for _ in range(3):
        start = time.perf_counter()
        wavs = chat._decode_to_wavs([h.clone() for h in hiddens], True)
        best = min(best, time.perf_counter() - start)
        samples = int(np.asarray(wavs[0]).size)
    audio = samples / 24000
    out["vocoder"] = {"seconds": best, "audio_s": audio, "s_per_audio_s": best / audio}
    b1 = out["batches"].get("1")
    if b1:
        out["rtf_batch1"] = 46.875 / b1["steps_per_s"] + best / audio
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
