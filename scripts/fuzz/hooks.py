"""schemathesis hooks for scripts/fuzz/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document says everything about a request that JSON Schema can say. Three things it cannot, and this
file supplies them so that schema-valid requests are valid requests:

* what a voice string and a sample are (formats `chattts-voice`, `chattts-sample`, `chattts-wav-base64`): their
  content is compressed, encoded model data, so the fuzzer draws them from real ones the script made with
  `chattts voices make` and `chattts say` for the model under test;
* `min_new_token` at most `max_new_token` (`notAbove` in the knob table): a relation between two fields. Requests
  that break it are dropped from the schema-valid ones (the server answers them 400 `out_of_range`, as a unit test shows);
* whether a text holds anything the model can say: that depends on the model's vocabulary (the tiny test model
  knows ASCII letters, not most of Unicode), on `normalize` (digits are words only after normalization), and on
  brackets (normalization drops an unclosed `[` and what follows it, as the official code does; a `[tag]` is not
  speech). Requests whose text holds no ASCII letter (or digit, when normalized) outside brackets are dropped (the
  server answers them 400 `empty_text`).

Everything else (lengths, ranges, markup and control characters, prompt tags, pairs of sample fields) is the
document's own.
"""

import json
import os
import re

import schemathesis
from hypothesis import strategies as st

with open(os.environ["CHATTTS_FUZZ_DATA"], encoding="utf-8") as f:
    DATA = json.load(f)

schemathesis.openapi.format("chattts-voice", st.sampled_from(DATA["voices"]))
schemathesis.openapi.format("chattts-sample", st.just(DATA["spk_smp"]))
schemathesis.openapi.format("chattts-wav-base64", st.just(DATA["sample_audio"]))

_TTS = DATA["tts_defaults"]


def _is_int(value):
    # JSON Schema integers may come as 30.0, which the server reads as 30.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _sayable(body):
    if not isinstance(body, dict):
        return True
    low = body.get("min_new_token", _TTS.get("min_new_token"))
    high = body.get("max_new_token", _TTS.get("max_new_token"))
    if _is_int(low) and _is_int(high) and low > high:
        return False
    for field in ("text", "input"):
        text = body.get(field)
        if isinstance(text, str):
            normalized = body.get("normalize") is not False
            text = re.sub(r"\[[^\]]*(\]|$)", "", text)
            if not any(c.isascii() and (c.isalpha() or (normalized and c.isdigit())) for c in text):
                return False
    return True


@schemathesis.hook
def filter_case(context, case):
    # Only schema-valid requests are held to these rules: a negative one is meant to break something.
    meta = getattr(case, "meta", None)
    if meta is not None and not meta.generation.mode.is_positive:
        return True
    return _sayable(case.body)
