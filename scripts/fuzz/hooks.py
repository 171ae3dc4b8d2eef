"""schemathesis hooks for scripts/fuzz/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document says everything about a request that JSON Schema can say. Two things it cannot, and this
file supplies them so that schema-valid requests are valid requests:

* what a voice string and a sample are (formats `chattts-voice`, `chattts-sample`, `chattts-wav-base64`): their
  content is compressed, encoded model data, so the fuzzer draws them from real ones the script made with
  `chattts voices make` and `chattts say` for the model under test;
* `min_new_token` at most `max_new_token` (`notAbove` in the knob table): a relation between two fields. Bodies
  that break it are dropped (the server answers them 400, as a unit test shows).

Everything else (lengths, ranges, patterns for markup and control characters, pairs of sample fields) is the
document's own.
"""

import json
import os

import schemathesis
from hypothesis import strategies as st

with open(os.environ["CHATTTS_FUZZ_DATA"], encoding="utf-8") as f:
    DATA = json.load(f)

schemathesis.openapi.format("chattts-voice", st.sampled_from(DATA["voices"]))
schemathesis.openapi.format("chattts-sample", st.just(DATA["spk_smp"]))
schemathesis.openapi.format("chattts-wav-base64", st.just(DATA["sample_audio"]))

_TTS = DATA["tts_defaults"]


@schemathesis.hook
def filter_body(context, body):
    if not isinstance(body, dict):
        return True
    low = body.get("min_new_token", _TTS.get("min_new_token"))
    high = body.get("max_new_token", _TTS.get("max_new_token"))
    if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool) and not isinstance(high, bool):
        return low <= high
    return True
