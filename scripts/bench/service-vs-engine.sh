#!/usr/bin/env bash
# The service against the engine, in one run on one machine: what a user of `chattts serve` gets next to what the
# engine makes by itself.
#
#   python3 scripts/reference/make_fixtures.py --full-size /tmp/full-asset      # once: the full-size random model
#   scripts/bench/service-vs-engine.sh [ASSETS]      # default /tmp/full-asset/asset; about 6 minutes
#
# For each max batch B in BATCHES (8 16 32):
#   engine:  `chattts say` with B copies of the text at once (94 steps each, 2.0 s of audio, no refinement): audio
#            seconds per second of synthesis (the model's load not counted), i.e. 1 / its real-time factor;
#   service: `chattts serve --max-batch B` (per-client limits off, one address sends everything), CLIENTS (16)
#            closed-loop clients of the same request on /v1/tts, PCM streamed: audio seconds per second;
#   and the ratio service / engine at the batch the service runs (min(B, CLIENTS)).
# Then one client (B = 8): time to first audio and real-time factor, exact streaming (the default) and
# `--stream-mode fast`. Then newcomers' first audio while LONG (8) long streams run, with firstAudioLead on and
# off, twice each. Output: Benchmarks/service-<date>.txt (OUT=... for another path).
set -euo pipefail
cd "$(dirname "$0")/../.."

assets=${1:-/tmp/full-asset/asset}
port=${PORT:-18095}
batches=${BATCHES:-8 16 32}
clients=${CLIENTS:-16}
LONG=${LONG:-8}
LONG_STEPS=${LONG_STEPS:-1200}
LONG_HEAD=${LONG_HEAD:-6}
NEWCOMERS=${NEWCOMERS:-6}
steps=${STEPS:-94}
binary=${BINARY:-.build/release/chattts}
text=${TEXT:-Hello from the ChatTTS benchmark.}
out=${OUT:-Benchmarks/service-$(date -u +%Y-%m-%d).txt}
[ -f "$assets/gpt/config.json" ] || { echo "no model at $assets: python3 scripts/reference/make_fixtures.py --full-size /tmp/full-asset" >&2; exit 2; }

[ -n "${BINARY:-}" ] || make release >/dev/null
work=$(mktemp -d)
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

start_server() {
    "$binary" serve --assets "$assets" --no-verify-assets --host 127.0.0.1 --port "$port" --rate-limit 0 \
        --max-concurrent-per-client 0 --no-refine --log-level warning "$@" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 600); do
        curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
        sleep 0.5
    done
    echo "the server did not become ready" >&2
    exit 1
}

request=(--endpoint tts --no-refine --min-new-tokens "$steps" --max-new-tokens "$steps" --format pcm --stream audio
         --voice '' --seed 1 --text "$text")
bench() { "$binary" bench --url "http://127.0.0.1:$port" "${request[@]}" "$@"; }
field() { awk -v key="$1" -v n="$2" 'index($0, key) == 1 {print $n; exit}'; }

{
    echo "# scripts/bench/service-vs-engine.sh $assets, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# binary: $binary; requests: /v1/tts, no refinement, $steps steps (2.0 s of audio), PCM streamed; \"$text\""
    echo "# engine: chattts say with B texts at once (its real-time factor excludes the model's load)"
    echo
    printf '%-10s %14s %14s %8s %16s %16s %10s\n' "max batch" "engine s/s" "service s/s" "ratio" "service TTFA p50" "service latency" "ok"
} >"$work/report.txt"

for b in $batches; do
    run=$(( b < clients ? b : clients ))
    texts=()
    for _ in $(seq 1 "$run"); do texts+=(--text "$text"); done
    "$binary" say --assets "$assets" "${texts[@]}" --min-new-token "$steps" --max-new-token "$steps" --no-refine --seed 1 \
        --output "$work/engine.wav" 2>"$work/say-$b.txt" >/dev/null
    engine_rtf=$(sed -n 's/.*real-time factor \([0-9.]*\).*/\1/p' "$work/say-$b.txt")
    engine=$(python3 -c "print(round(1 / $engine_rtf, 2))")
    start_server --max-batch "$b"
    bench -c "$clients" -n "$clients" >/dev/null          # warm: caches grown, the step-time estimates made
    bench -c "$clients" -n $(( clients * 3 )) >"$work/service-$b.txt"
    { echo "server's refusals and failures:"; curl -fs "http://127.0.0.1:$port/metrics" \
        | awk '/^chattts_(rejected|failed)_requests_total/ && $2 > 0'; } >>"$work/service-$b.txt"
    stop_server
    service=$(field "audio " 4 <"$work/service-$b.txt")
    ttfa=$(field "time to first audio" 6 <"$work/service-$b.txt")
    latency=$(field "latency" 3 <"$work/service-$b.txt")
    ok=$(field "requests" 3 <"$work/service-$b.txt" | tr -d '(')
    ratio=$(python3 -c "print(f'{$service / $engine:.0%}')")
    printf '%-10s %14s %14s %8s %13s ms %13s ms %10s\n' "$b" "$engine" "$service" "$ratio" "$ttfa" "$latency" "$ok/$(( clients * 3 ))" >>"$work/report.txt"
done

# One client: the engine's b=1 real-time factor (chattts say) measured before, between and after the two service
# runs, so both sides see the same minutes of this machine; the ratio uses the median of the three.
engine_one() {
    "$binary" say --assets "$assets" --text "$text" --min-new-token "$steps" --max-new-token "$steps" --no-refine --seed 1 \
        --output "$work/one.wav" 2>"$work/say-1-$1.txt" >/dev/null
    sed -n 's/.*real-time factor \([0-9.]*\).*/\1/p' "$work/say-1-$1.txt"
}
one_rtfs=()
for mode in exact fast; do
    one_rtfs+=("$(engine_one "$mode")")
    start_server --max-batch 8 --stream-mode "$mode"
    bench -c 1 -n 2 >/dev/null
    bench -c 1 -n 8 >"$work/one-$mode.txt"
    stop_server
done
one_rtfs+=("$(engine_one after)")
engine_one_median=$(printf '%s\n' "${one_rtfs[@]}" | sort -n | sed -n 2p)
{
    echo
    echo "one client, max batch 8, 8 requests each; engine alone (chattts say, b=1) before, between and after:"
    echo "engine b=1: real-time factor ${one_rtfs[*]} (median $engine_one_median)"
    for mode in exact fast; do
        rtf=$(field "real-time factor" 4 <"$work/one-$mode.txt")
        printf 'stream_mode %-6s time to first audio p50 %s ms (p95 %s ms), real-time factor p50 %s (%s of the engine'"'"'s)\n' \
            "$mode" "$(field "time to first audio" 6 <"$work/one-$mode.txt")" \
            "$(field "time to first audio" 9 <"$work/one-$mode.txt")" "$rtf" \
            "$(python3 -c "print(f'{$rtf / $engine_one_median:.0%}')")"
    done
} >>"$work/report.txt"
# First audio first (firstAudioLead): LONG (8) streams of LONG_STEPS (1200) steps run (each ahead of real time once
# its first audio left), then one client sends NEWCOMERS (6) short requests one after another: their first audio,
# with the lead at 0.5 s and at 0 (off, the default), twice each in turn.
{
    echo
    echo "$LONG streams of $LONG_STEPS steps running, then $NEWCOMERS requests of $steps steps one after another (max batch 16): firstAudioLead 0.5 s against 0 (off, the default):"
} >>"$work/report.txt"
run=0
for lead in 0.5 0 0.5 0; do
    run=$((run + 1))
    start_server --max-batch 16 --first-audio-lead "$lead"
    bench -c 1 -n 2 >/dev/null
    bench -c "$LONG" -n "$LONG" --min-new-tokens "$LONG_STEPS" --max-new-tokens "$LONG_STEPS" >"$work/long-$lead-$run.txt" &
    long_pid=$!
    sleep "$LONG_HEAD"
    bench -c 1 -n "$NEWCOMERS" >"$work/newcomers-$lead-$run.txt"
    wait "$long_pid"
    first=$(curl -fs "http://127.0.0.1:$port/metrics" | awk '/^chattts_first_audio_steps_total/ {print $2}')
    stop_server
    printf 'firstAudioLead %-4s newcomers: time to first audio p50 %s ms (p95 %s ms), latency p50 %s ms; long streams: real-time factor p50 %s, %s ok; steps run by newcomers alone %s\n' "$lead" \
        "$(field "time to first audio" 6 <"$work/newcomers-$lead-$run.txt")" "$(field "time to first audio" 9 <"$work/newcomers-$lead-$run.txt")" \
        "$(field "latency" 3 <"$work/newcomers-$lead-$run.txt")" "$(field "real-time factor" 4 <"$work/long-$lead-$run.txt")" \
        "$(field "requests" 3 <"$work/long-$lead-$run.txt" | tr -d '(')/$LONG" "${first:-?}" >>"$work/report.txt"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/report.txt"
{
    echo
    echo "## raw outputs"
    for f in "$work"/say-*.txt "$work"/service-*.txt "$work"/one-*.txt "$work"/long-*.txt "$work"/newcomers-*.txt; do
        echo "### $(basename "$f")"
        cat "$f"
    done
} >>"$work/report.txt"
mkdir -p "$(dirname "$out")"
cp "$work/report.txt" "$out"
sed -n '1,/^## raw/p' "$out"
