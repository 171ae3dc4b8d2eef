#!/usr/bin/env bash
# Overload: an open loop at twice the sustainable rate on the full-size model, from many client identities.
#
#   python3 scripts/reference/make_fixtures.py --full-size /tmp/full-asset      # once: the full-size random model
#   scripts/bench/overload.sh [ASSETS]       # default /tmp/full-asset/asset
#
# 1. Starts the release `chattts serve` with its default protections (rate limit, per-client share, deadlines),
#    trusting this host as a proxy so that each request can come from its own identity (X-Forwarded-For).
# 2. Measures the sustainable rate: a closed loop of MAX_BATCH clients (the batch the server runs), QPS.
# 3. Sends Poisson arrivals at FACTOR (2) times that rate for DURATION (60) seconds from IDENTITIES (256) identities,
#    each request with `X-Request-Timeout: DEADLINE` (10 s to the first audio: an interactive client), probing
#    /health every 100 ms.
# 4. Checks what the issue asks: every accepted request completes, every other answer is 429 or 503 and comes
#    within 10 ms (p99), /health answers within 50 ms (p99), none fails. The report goes to
#    Benchmarks/overload-<date>.txt (OUT=... for another path); exit status 0 only when every check held.
set -euo pipefail
cd "$(dirname "$0")/../.."

assets=${1:-/tmp/full-asset/asset}
port=${PORT:-18094}
factor=${FACTOR:-2}
duration=${DURATION:-60}
identities=${IDENTITIES:-256}
deadline=${DEADLINE:-10}
steps=${STEPS:-94}
max_batch=${MAX_BATCH:-8}
out=${OUT:-Benchmarks/overload-$(date -u +%Y-%m-%d).txt}
[ -f "$assets/gpt/config.json" ] || { echo "no model at $assets: python3 scripts/reference/make_fixtures.py --full-size /tmp/full-asset" >&2; exit 2; }

make release >/dev/null
binary=.build/release/chattts
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

flags=(--assets "$assets" --no-verify-assets --host 127.0.0.1 --port "$port" --max-batch "$max_batch" --trusted-proxies 127.0.0.1
       --no-refine)
"$binary" serve "${flags[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.5
done
url="http://127.0.0.1:$port"
request=(--endpoint tts --no-refine --min-new-tokens "$steps" --max-new-tokens "$steps" --format mp3 --stream audio --voice ''
         --seed 1 --text "Hello from the ChatTTS benchmark.")

# Sustainable: the server's batch kept full, one identity per client so that no per-client limit applies.
"$binary" bench --url "$url" -c "$max_batch" -n $(( max_batch * 3 )) --identities "$max_batch" "${request[@]}" >"$work/closed.txt"
sustainable=$(awk '$1 == "QPS" {print $2}' "$work/closed.txt")
rate=$(python3 -c "print(round($sustainable * $factor, 3))")

"$binary" bench --url "$url" --rate "$rate" --duration "$duration" --identities "$identities" --health-interval 0.1 \
    --request-timeout "$deadline" "${request[@]}" --json >"$work/open.json" || true
python3 - "$work/open.json" >"$work/open.txt" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["openLoop"]
ms = lambda p: f"p50 {p['p50']*1000:.1f} ms, p99 {p['p99']*1000:.1f} ms, max {p['max']*1000:.1f} ms"
print(f"offered {o['offeredRate']:.2f}/s for {o['duration']:.0f} s: {r['requests']} requests from {o['identities']} identities")
print("statuses", json.dumps(r["statuses"], sort_keys=True))
print("refusals", json.dumps(o["refusals"], sort_keys=True))
print(f"accepted and complete {r['succeeded']}, broken 200s {o['broken']}")
print(f"accepted latency {ms(r['latency'])}; time to first audio {ms(r['timeToFirstAudio'])}")
print(f"served {r['qps']:.2f}/s, {r['audioSecondsPerSecond']:.2f} s of audio per second")
print(f"rejected {o['rejected']}: time to answer {ms(o['rejectionLatency'])}")
print(f"/health {o['healthProbes']} probes, {o['healthFailures']} failed: {ms(o['healthLatency'])}")
bad = {k: v for k, v in r["statuses"].items() if k not in ("200", "429", "503")}
problems = []
if bad: problems.append(f"answers other than 200/429/503: {bad}")
if o["broken"]: problems.append(f"{o['broken']} accepted requests did not complete")
if o["rejected"] and o["rejectionLatency"]["p99"] >= 0.010: problems.append("rejection p99 >= 10 ms")
if o["healthFailures"] or o["healthLatency"]["p99"] >= 0.050: problems.append("/health p99 >= 50 ms or failed")
if not o["rejected"]: problems.append("nothing was rejected: not overloaded")
print("verdict:", "pass" if not problems else "fail: " + "; ".join(problems))
EOF
curl -fs "$url/metrics" | grep -E '^chattts_(rejected|failed)_requests_total|^chattts_(completed|cancelled)' >"$work/metrics.txt" || true
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=

{
    echo "# overload: open loop at ${factor}x the sustainable rate, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# model: $assets (full-size architecture, random weights from scripts/reference/make_fixtures.py --full-size)"
    echo "# server: $binary serve ${flags[*]}   (default rateLimit, rateBurst, maxConcurrentPerClient, maxQueue)"
    echo "# requests: /v1/tts, one sentence, $steps steps each ($(python3 -c "print(round($steps/46.875, 2))") s of audio), mp3 streamed, X-Request-Timeout $deadline s"
    echo "# command: scripts/bench/overload.sh $assets   (FACTOR=$factor DURATION=$duration IDENTITIES=$identities DEADLINE=$deadline)"
    echo
    echo "## sustainable rate: closed loop, $max_batch clients"
    cat "$work/closed.txt"
    echo
    echo "## open loop at $rate requests/s (${factor} x $sustainable)"
    cat "$work/open.txt"
    echo
    echo "## server counters after the run"
    cat "$work/metrics.txt"
} >"$out"
cat "$out"
grep -q "^verdict: pass" "$work/open.txt"
