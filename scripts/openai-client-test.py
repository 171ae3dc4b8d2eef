#!/usr/bin/env python3
"""The official `openai` Python client, unchanged, against a running `chattts serve`.

For every supported response format it asks for speech whole and streamed (stream_format "audio" and "sse"),
decodes each answer with ffmpeg, and checks that the streamed audio is the whole audio (same seed). It also checks
that `aac` is refused with a 400 that names `response_format`, and that models and errors come back in OpenAI's
shapes. Exits 0 when everything holds; prints one line per check.

    python scripts/openai-client-test.py --base-url http://127.0.0.1:8080/v1

Run by Tests/ServerTests/OpenAIClientTests.swift in a venv under .build/ (python3 -m venv, pip install openai).
"""

import argparse
import base64
import json
import subprocess
import sys
import time

import openai
from openai import OpenAI

FORMATS = ["mp3", "opus", "flac", "wav", "pcm"]
TEXT = "Hello from the official OpenAI client."


def decode(data: bytes, fmt: str) -> int:
    """Decodes with ffmpeg to 24 kHz mono s16le; returns the number of samples (fails the test if ffmpeg fails)."""
    args = ["ffmpeg", "-v", "error", "-nostdin"]
    if fmt == "pcm":
        args += ["-f", "s16le", "-ar", "24000", "-ac", "1"]
    args += ["-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "24000", "pipe:1"]
    result = subprocess.run(args, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"ffmpeg could not decode {fmt} ({len(data)} bytes): {result.stderr.decode()[:400]}")
    return len(result.stdout) // 2


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    client = OpenAI(base_url=args.base_url, api_key="not-needed", max_retries=0, timeout=120)
    common = dict(model="tts-1", voice="alloy", input=TEXT, extra_body={"seed": args.seed})
    failures = 0

    def run(name, fn):
        nonlocal failures
        started = time.monotonic()
        try:
            detail = fn()
            print(f"ok   {name} ({(time.monotonic() - started) * 1000:.0f} ms){': ' + detail if detail else ''}")
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the exit code says it
            failures += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")

    def models():
        ids = [m.id for m in client.models.list()]
        check("tts-1" in ids and "chattts" in ids, f"models: {ids}")
        return ", ".join(ids)

    run("models.list", models)

    for fmt in FORMATS:
        whole = {}

        def non_streamed(fmt=fmt):
            response = client.audio.speech.create(response_format=fmt, **common)
            data = response.content
            whole[fmt] = data
            n = decode(data, fmt)
            check(n > 0, "no samples")
            return f"{len(data)} bytes, {n} samples"

        def streamed(fmt=fmt):
            chunks = []
            with client.audio.speech.with_streaming_response.create(
                response_format=fmt, stream_format="audio", **common
            ) as response:
                check(response.status_code == 200, f"status {response.status_code}")
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
            data = b"".join(chunks)
            n = decode(data, fmt)
            check(n > 0, "no samples")
            if fmt == "pcm":
                check(data == whole.get(fmt), "streamed pcm differs from the whole response")
            elif fmt in whole:
                m = decode(whole[fmt], fmt)
                check(abs(m - n) <= 2048, f"streamed {n} samples, whole {m}")
            return f"{len(chunks)} chunks, {len(data)} bytes, {n} samples"

        def sse(fmt=fmt):
            audio = b""
            done = None
            with client.audio.speech.with_streaming_response.create(
                response_format=fmt, stream_format="sse", **common
            ) as response:
                check(response.headers.get("content-type", "").startswith("text/event-stream"), "content type")
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[len("data: "):])
                    if event["type"] == "speech.audio.delta":
                        audio += base64.b64decode(event["audio"])
                    elif event["type"] == "speech.audio.done":
                        done = event
                    else:
                        raise AssertionError(f"unexpected event {event}")
            check(done is not None and "usage" in done, "no speech.audio.done event with usage")
            n = decode(audio, fmt)
            check(n > 0, "no samples")
            if fmt == "pcm":
                check(audio == whole.get(fmt), "sse pcm differs from the whole response")
            return f"{len(audio)} bytes, {n} samples"

        run(f"speech {fmt} whole", non_streamed)
        run(f"speech {fmt} stream_format=audio", streamed)
        run(f"speech {fmt} stream_format=sse", sse)

    def aac_refused():
        try:
            client.audio.speech.create(response_format="aac", **common)
        except openai.BadRequestError as error:
            body = error.body or {}
            check(body.get("param") == "response_format", f"error body {body}")
            return body.get("message", "")
        raise AssertionError("aac was accepted")

    def bad_speed():
        try:
            client.audio.speech.create(speed=9.0, **common)
        except openai.BadRequestError as error:
            body = error.body or {}
            check(body.get("param") == "speed" and "0.25" in body.get("message", ""), f"error body {body}")
            return body.get("message", "")
        raise AssertionError("speed 9 was accepted")

    run("aac answers 400 on response_format", aac_refused)
    run("speed out of range answers 400 naming the limit", bad_speed)

    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
