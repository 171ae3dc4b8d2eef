#!/usr/bin/env bash
# `make serve`'s first run: serves the asset folder with ChatTTS; when the folder has no model, fetches the official
# release first if its host answers within 5 s (so an offline machine does not wait), and otherwise, or when the
# download fails, serves at once with the espeak engine (formant speech, no model files), saying so.
#
#   BINARY=.build/release/chattts ASSETS=asset scripts/serve.sh [serve flags...]
#
# HF_ENDPOINT replaces https://huggingface.co, as for `chattts download`; its scheme and port decide the probe's port.
set -euo pipefail
binary=${BINARY:-.build/release/chattts}
assets=${ASSETS:-asset}
engine=auto
if [ ! -f "$assets/gpt/config.json" ]; then
    endpoint=${HF_ENDPOINT:-https://huggingface.co}
    hostport=$(echo "$endpoint" | sed -E 's|^[a-zA-Z]+://||; s|/.*||')
    host=${hostport%:*}
    port=${hostport##*:}
    if [ "$port" = "$hostport" ]; then
        case "$endpoint" in http://*) port=80 ;; *) port=443 ;; esac
    fi
    if timeout 5 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
        "$binary" download --to "$assets" || { echo "download failed: serving with espeak"; engine=espeak; }
    else
        echo "$host:$port unreachable: serving with espeak (run chattts download later for ChatTTS)"
        engine=espeak
    fi
fi
exec "$binary" serve --assets "$assets" --engine "$engine" "$@"
