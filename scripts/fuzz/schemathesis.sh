#!/usr/bin/env bash
# Fuzz the running service against its own OpenAPI document with schemathesis, every check on.
#
#   scripts/fuzz/schemathesis.sh [MAX_EXAMPLES]      # default 2000 per operation and pass, 2 passes: over 10,000 requests
#
# It builds the release binary, starts `chattts serve` on the tiny fixture model (ASSETS=... for another) with rate
# limits off, makes real voice strings and a real sample for the hooks (scripts/fuzz/hooks.py), runs
# `schemathesis run --checks all`, and then checks what the issue asks: no 5xx but 503, every 503 with Retry-After
# (the document makes that header required, so response_headers_conformance checks it), the process alive and
# exiting 0 on SIGTERM, and memory stable. The run is PASSES passes (default 2) of schemathesis with different seeds
# against the same process: a leak grows RSS in every pass alike, while the allocator's arenas fill up to their
# high-water marks once (heaptrack measured the live heap flat at about 2.5 MiB over such a run, while RSS grew) and
# then level off. Stable: the last pass grew RSS by at most MAX_LAST_PASS_GROWTH_MIB (default 8) and by at most a
# quarter of the first pass' growth (whichever is larger), and the whole run by at most MAX_RSS_GROWTH_MIB. The report goes to
# Benchmarks/fuzz-<date>.txt (OUT=... for another path). Exit status 0 only when every check held.
#
# The virtual environment lives outside the repository (FUZZ_VENV, default ~/.cache/chattts-fuzz-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

examples=${1:-2000}
passes=${PASSES:-2}
max_last_pass=${MAX_LAST_PASS_GROWTH_MIB:-8}
assets=${ASSETS:-Tests/Fixtures/tiny/asset}
venv=${FUZZ_VENV:-$HOME/.cache/chattts-fuzz-venv}
port=${PORT:-18093}
seed=${SEED:-20261203}
max_growth=${MAX_RSS_GROWTH_MIB:-64}
out=${OUT:-Benchmarks/fuzz-$(date -u +%Y-%m-%d).txt}
schemathesis_version=4.32.5

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$schemathesis_version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
make release >/dev/null
binary=.build/release/chattts

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The server: rate limits off (the fuzzer is one client), short syntheses so that the run is about the API.
# The tiny model is held to its committed checksums; another model's folder is not checked.
if [ "$assets" = Tests/Fixtures/tiny/asset ]; then verify=(--asset-checksums Tests/Fixtures/tiny.checksums.json); else verify=(--no-verify-assets); fi
flags=(--assets "$assets" "${verify[@]}" --host 127.0.0.1 --port "$port" --rate-limit 0 --max-concurrent-per-client 0
       --max-new-tokens 32 --max-input-characters 200 --max-text-characters 400 --log-level info)
"$binary" serve "${flags[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.2
done
url="http://127.0.0.1:$port"

# Real values for the formats JSON Schema cannot describe (see hooks.py).
voices=()
for s in 1 2 3; do voices+=("$("$binary" voices make --assets "$assets" --seed "$s")"); done
"$binary" say --assets "$assets" --max-new-token 24 --seed 1 --output "$work/sample.wav" --text "Hello sample." >/dev/null
spk_smp=$("$binary" voices make --assets "$assets" --sample "$work/sample.wav" --transcript "Hello sample.")
curl -fs "$url/openapi.json" >"$work/openapi.json"
python3 - "$work" "$spk_smp" "${voices[@]}" <<'EOF'
import base64, json, sys
work, spk_smp, voices = sys.argv[1], sys.argv[2], sys.argv[3:]
doc = json.load(open(f"{work}/openapi.json"))
props = doc["components"]["schemas"]["TTSRequest"]["properties"]
defaults = {k: v["default"] for k, v in props.items() if "default" in v}
audio = base64.b64encode(open(f"{work}/sample.wav", "rb").read()).decode()
json.dump({"voices": voices, "spk_smp": spk_smp, "sample_audio": audio, "tts_defaults": defaults},
          open(f"{work}/data.json", "w"))
EOF

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
# Warm up every path once so that RSS before counts the arenas a first synthesis grows.
curl -fs -o /dev/null -H 'Content-Type: application/json' -d '{"text": "warm up", "max_new_token": 32}' "$url/v1/tts"
curl -fs -o /dev/null -H 'Content-Type: application/json' \
    -d '{"model": "tts-1", "input": "warm up", "voice": "alloy", "stream_format": "sse"}' "$url/v1/audio/speech"
rss_before=$(rss)
started=$(date +%s)
# RSS every 30 s during the run, to show whether it levels off.
( while kill -0 "$server_pid" 2>/dev/null; do echo "$(( $(date +%s) - started )) s: $(rss) KiB"; sleep 30; done ) >"$work/rss.txt" 2>/dev/null &
sampler=$!

st_status=0
pass_rss=()
: >"$work/schemathesis.txt"
for pass in $(seq 1 "$passes"); do
    echo "### pass $pass of $passes, seed $(( seed + pass - 1 ))" >>"$work/schemathesis.txt"
    set +e
    CHATTTS_FUZZ_DATA="$work/data.json" SCHEMATHESIS_HOOKS="$root/scripts/fuzz/hooks.py" \
        "$venv/bin/schemathesis" --no-color --config-file scripts/fuzz/schemathesis.toml run "$url/openapi.json" \
        --checks all --max-examples "$examples" --seed $(( seed + pass - 1 )) --suppress-health-check all \
        --continue-on-failure --request-timeout 60 >>"$work/schemathesis.txt" 2>&1
    status=$?
    set -e
    [ "$status" -eq 0 ] || st_status=$status
    pass_rss+=("$(rss)")
done
elapsed=$(( $(date +%s) - started ))
sleep 1
rss_after=$(rss || echo 0)
kill "$sampler" 2>/dev/null || true
alive=no; curl -fs "$url/health" >/dev/null && alive=yes
kill -TERM "$server_pid"
exit_code=0; wait "$server_pid" || exit_code=$?
server_pid=

# The server's own log: one line per request with its status.
python3 - "$work/server.log" >"$work/statuses.txt" <<'EOF'
import collections, json, sys
counts = collections.Counter()
retry = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("msg") == "request":
        counts[entry["status"]] += 1
print("requests", sum(counts.values()))
for status in sorted(counts):
    print(f"  {status}: {counts[status]}")
bad = [s for s in counts if s >= 500 and s != 503]
print("server errors other than 503:", sum(counts[s] for s in bad))
EOF

requests=$(awk '/^requests/ {print $2}' "$work/statuses.txt")
others=$(awk -F': ' '/server errors other than 503/ {print $2}' "$work/statuses.txt")
growth_kib=$(( rss_after - rss_before ))
first_pass_kib=$(( pass_rss[0] - rss_before ))
previous_kib=$rss_before
[ "$passes" -lt 2 ] || previous_kib=${pass_rss[$(( passes - 2 ))]}
last_pass_kib=$(( pass_rss[passes - 1] - previous_kib ))
last_limit_kib=$(( max_last_pass * 1024 > first_pass_kib / 4 ? max_last_pass * 1024 : first_pass_kib / 4 ))
verdict=pass
problems=()
[ "$st_status" -eq 0 ] || problems+=("schemathesis reported failures (exit $st_status)")
[ "${requests:-0}" -ge 10000 ] || problems+=("only ${requests:-0} requests (at least 10,000 asked)")
[ "${others:-1}" -eq 0 ] || problems+=("$others responses 5xx other than 503")
[ "$alive" = yes ] || problems+=("/health did not answer after the run")
[ "$exit_code" -eq 0 ] || problems+=("exit code $exit_code on SIGTERM")
[ "$growth_kib" -le $(( max_growth * 1024 )) ] || problems+=("RSS grew $growth_kib KiB (limit $max_growth MiB)")
[ "$passes" -lt 2 ] || [ "$last_pass_kib" -le "$last_limit_kib" ] \
    || problems+=("the last pass grew RSS by $last_pass_kib KiB (limit $last_limit_kib KiB): memory not levelling off")
[ ${#problems[@]} -eq 0 ] || verdict=fail

{
    echo "# schemathesis against chattts serve, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "# command: scripts/fuzz/schemathesis.sh $examples   (schemathesis $schemathesis_version, $passes passes from seed $seed, --checks all,"
    echo "#          config scripts/fuzz/schemathesis.toml, hooks scripts/fuzz/hooks.py)"
    echo "# server: $binary serve ${flags[*]}"
    echo "# verdict: $verdict${problems:+: ${problems[*]}}"
    echo
    echo "## server side (its request log)"
    cat "$work/statuses.txt"
    echo "RSS after warm-up $rss_before KiB, after the run $rss_after KiB (growth $growth_kib KiB, limit $max_growth MiB)"
    echo "RSS after each pass: ${pass_rss[*]} KiB; first pass +$first_pass_kib KiB, last pass +$last_pass_kib KiB (limit $last_limit_kib KiB)"
    echo "RSS during the run: $(paste -sd, "$work/rss.txt" | sed 's/,/, /g')"
    echo "/health after the run: $alive; exit code on SIGTERM: $exit_code; wall time ${elapsed} s"
    echo
    echo "## schemathesis"
    cat "$work/schemathesis.txt"
} >"$out"
sed -n 1,20p "$out"
[ "$verdict" = pass ]
