#!/usr/bin/env python3
"""Writes Tests/Fixtures/clone/: voice samples and what the official ChatTTS makes of them
(``Chat.sample_audio_speaker``, the ``spk_smp`` string, and the DVAE codes behind it), for the Swift
voice-cloning tests.

The samples are synthetic and analytic (harmonic tones with a moving pitch and a syllable-like envelope), so
the same sound can be sampled at any rate:

* four 24 kHz mono 16-bit WAVs of different lengths (mel frame counts 31, 79, 94 and 141: odd and even);
* the sound of ``b`` sampled again at 44.1 kHz as a stereo 16-bit WAV whose channels differ (left = s + d,
  right = s - d), for the decode, mix-down and resampling path; the official code is not run on it (it takes
  24 kHz mono only): the Swift test compares its clone with the 24 kHz one.

The official code is given exactly what the Swift WAV decoder returns for the committed files: the 16-bit
integers divided by 32768, as float32.

The tiny model is the one of ``make_fixtures.py`` (``Tests/Fixtures/tiny``), loaded with the official
``Chat._load`` through that script's helpers (imported, not edited). Its output lives in its own folder, so that
``make_fixtures.py`` (which rewrites ``tiny/`` and ``reference/``) and its ``--check`` leave it alone.

Environment: the venv of ``scripts/reference/requirements.txt`` (see ``scripts/reference/README.md``)::

    /root/chattts-venv/bin/python scripts/reference/make_clone_fixtures.py            # rewrite Tests/Fixtures/clone
    /root/chattts-venv/bin/python scripts/reference/make_clone_fixtures.py --check    # compare sha256, exit 1 on drift
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (sets the deterministic environment before torch is imported)

import numpy as np  # noqa: E402
import torch  # noqa: E402

OUT = mf.DEFAULT_FIXTURES / "clone"
TINY = mf.DEFAULT_FIXTURES / "tiny"

#: name -> (samples at 24 kHz, fundamental in Hz, vibrato depth in Hz, syllables per second). Lengths give
#: 1 + n // 256 mel frames: 31, 79, 94, 141.
SAMPLES = {
    "a": (7777, 180.0, 12.0, 5.0),
    "b": (20000, 120.0, 20.0, 4.0),
    "c": (24000, 210.0, 8.0, 6.0),
    "d": (36000, 95.0, 15.0, 3.5),
}
#: The sample that is written again at 44.1 kHz stereo.
RESAMPLED = "b"
RESAMPLED_RATE = 44100


#: The noise floor: this many sinusoids of random frequency (50 Hz to 11.9 kHz) and phase, -40 dBFS in all.
NOISE_TONES = 600
NOISE_RMS = 0.01


def sound(name: str, rate: int, count: int) -> np.ndarray:
    """The analytic signal of sample `name` at `rate`, `count` samples, in float64: 8 harmonics of a pitch
    that moves by vibrato (the phase is the exact integral of the frequency), with a formant-like 1/k roll-off,
    under a raised-cosine syllable envelope and 20 ms fades at both ends, over a noise floor.

    The noise floor is there because real recordings have one, and because without it the reference is
    ill-conditioned: mel bands left at the 16-bit quantization floor make torch's own float32 log-mel differ from
    the exact one by up to 5e-3, so the codes would depend on float rounding rather than on the sound. It is
    a sum of sinusoids below 12 kHz (not sampled noise), so the 44.1 kHz file carries the same floor."""
    _, f0, depth, syllables = SAMPLES[name]
    t = np.arange(count, dtype=np.float64) / rate
    vibrato = 5.3
    phase = 2 * math.pi * (f0 * t - depth / (2 * math.pi * vibrato) * np.cos(2 * math.pi * vibrato * t))
    tone = sum(np.sin(k * phase + 0.37 * k) / k for k in range(1, 9))
    envelope = 0.25 + 0.75 * (0.5 - 0.5 * np.cos(2 * math.pi * syllables * t))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    rng = np.random.default_rng(mf.DEFAULT_SEED + ord(name))
    frequencies = rng.uniform(50.0, 11900.0, NOISE_TONES)
    phases = rng.uniform(0.0, 2 * math.pi, NOISE_TONES)
    floor = NOISE_RMS * math.sqrt(2.0 / NOISE_TONES) * sum(
        np.sin(2 * math.pi * f * t + p) for f, p in zip(frequencies, phases))
    return (0.3 * tone * envelope + floor) * fade


def channel_difference(rate: int, count: int) -> np.ndarray:
    """What the two channels of the stereo file differ by (+d left, -d right): a quiet 3 kHz tone."""
    t = np.arange(count, dtype=np.float64) / rate
    return 0.02 * np.sin(2 * math.pi * 3000.0 * t)


def pcm16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")


def write_wav(path: Path, frames: np.ndarray, rate: int) -> None:
    """frames: int16 [n] (mono) or [n, channels], written as a plain 44-byte-header PCM WAV."""
    channels = 1 if frames.ndim == 1 else frames.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(frames).tobytes())


def gfsq_margin(chat, pre_vq: torch.Tensor) -> float:
    """The smallest distance, over every quantized value of every residual level, between the value that is
    floored and the nearest integer (a floor boundary): how far float rounding is from changing a code."""
    q = chat.dvae.vq_layer.quantizer
    x = pre_vq.transpose(1, 2)  # [1, T, vq_dim]
    margin = float("inf")
    for g, rvq in enumerate(q.rvqs):
        chunk = x.chunk(len(q.rvqs), dim=-1)[g]
        z = rvq.project_in(chunk)
        c = rvq.soft_clamp_input_value
        residual = (z / c).tanh() * c
        for layer, scale in zip(rvq.layers, rvq.scales):
            u = (residual / scale).clamp(-1, 1)
            lm1 = layer._levels - 1
            bracket = lm1 * (u + 1) / 2.0 + 0.5
            interior = (u > -1) & (u < 1)  # clamped values sit on a level exactly, by construction
            if interior.any():
                margin = min(margin, float((bracket - bracket.round()).abs()[interior].min()))
            quantized, _ = layer(residual / scale)
            residual = residual - quantized * scale
    return margin


def generate(out: Path) -> None:
    mf.setup_torch()
    summary = json.loads((TINY / "chattts_config.json").read_text(encoding="utf-8"))
    cfg = mf.make_config(mf.TINY_DIMS, summary["gpt"]["num_text_tokens"], summary["spk_stat"])
    torch.manual_seed(mf.DEFAULT_SEED)
    chat = mf.load_chat(TINY / "asset", cfg)
    from ChatTTS.model import Speaker

    out.mkdir(parents=True, exist_ok=True)
    tensors = mf.TensorFile("clone.safetensors")
    meta: dict = {"samples": {}}
    for name, (count, *_rest) in SAMPLES.items():
        ints = pcm16(sound(name, 24000, count))
        write_wav(out / f"{name}-24k.wav", ints, 24000)
        wav = (ints.astype(np.float32) / np.float32(32768.0)).astype(np.float32)
        cap = mf.Capture(chat.dvae.encoder)
        codes = chat.dvae.sample_audio(wav.copy()).clone()
        cap.remove()
        pre_vq = cap.items[0][1]
        spk_smp = chat.sample_audio_speaker(wav.copy())
        assert torch.equal(Speaker.decode_prompt(spk_smp).long(), codes.long())
        tensors.add(f"{name}.codes", codes, f"(4,T//2) official DVAE codes of {name}-24k.wav")
        tensors.add(f"{name}.pre_vq", pre_vq, f"(1,vq_dim,T//2) encoder output of {name}-24k.wav (GFSQ input)")
        meta["samples"][name] = {
            "file": f"{name}-24k.wav", "sample_rate": 24000, "samples": count,
            "mel_frames": 1 + count // 256, "code_frames": int(codes.shape[1]),
            "spk_smp": spk_smp, "gfsq_margin": gfsq_margin(chat, pre_vq),
        }

    count = round(SAMPLES[RESAMPLED][0] * RESAMPLED_RATE / 24000)
    s = sound(RESAMPLED, RESAMPLED_RATE, count)
    d = channel_difference(RESAMPLED_RATE, count)
    stereo_name = f"{RESAMPLED}-44k-stereo.wav"
    write_wav(out / stereo_name, np.stack([pcm16(s + d), pcm16(s - d)], axis=1), RESAMPLED_RATE)
    meta["resampled"] = {"file": stereo_name, "sample_rate": RESAMPLED_RATE, "channels": 2, "samples": count,
                         "same_sound_as": RESAMPLED}
    meta["versions"] = mf.versions()
    index: dict = {}
    tensors.save(out, index)
    meta["tensors"] = index["clone.safetensors"]
    mf.write_json(out / "clone.json", meta)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare sha256")
    args = parser.parse_args()
    if not args.check:
        generate(OUT)
        for p in sorted(OUT.iterdir()):
            print(f"  {p.stat().st_size:>8}  {p.relative_to(mf.DEFAULT_FIXTURES)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="chattts-clone-") as tmp:
        generate(Path(tmp))
        fresh = {p.name: mf.sha256_file(p) for p in Path(tmp).iterdir()}
    committed = {p.name: mf.sha256_file(p) for p in OUT.iterdir()} if OUT.exists() else {}
    bad = sorted(n for n in set(fresh) | set(committed) if fresh.get(n) != committed.get(n))
    for n in bad:
        print(f"  {n}: {'missing' if n not in committed else 'not regenerated' if n not in fresh else 'differs'}")
    print("OK: identical (sha256)" if not bad else "MISMATCH")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
