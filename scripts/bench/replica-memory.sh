#!/usr/bin/env bash
# Private memory of several `chattts serve` replicas on one host, with and without the weight cache
# (`--cache-directory`): each replica's USS (Private_Clean + Private_Dirty), PSS and RSS from /proc/PID/smaps_rollup
# once every one answers /ready, plus how much of it is file-backed and mapped with huge pages.
#
#   scripts/bench/replica-memory.sh > Benchmarks/replica-memory-$(date +%F).txt
#
# Environment: BINARY (.build/release/chattts), ASSETS (/tmp/full-asset/asset; never copied), REPLICAS (3),
# THREADS (1 per replica), PORT (first port, 18180), CACHE (an empty directory made for the run, removed after),
# EXTRA (more serve flags, e.g. "--dtype int8").
# Four runs: no cache; a cache directory that starts empty (the replicas start together and race to write it); the
# same directory again (the file is there: nothing is converted); and that file copied into private huge pages
# (`--weight-memory private`).
set -euo pipefail
cd "$(dirname "$0")/../.."

binary=${BINARY:-.build/release/chattts}
assets=${ASSETS:-/tmp/full-asset/asset}
replicas=${REPLICAS:-3}
threads=${THREADS:-1}
port0=${PORT:-18180}
cache=${CACHE:-$(mktemp -d /tmp/chattts-replica-cache.XXXXXX)}
extra=${EXTRA:-}
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap 'cleanup; [ -z "${CACHE:-}" ] && rm -rf "$cache"' EXIT

field() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$2/smaps_rollup"; }

# run LABEL [serve flags...]: starts the replicas together, waits for /ready, prints one line per replica.
run() {
    local label=$1; shift
    local started logdir
    logdir=$(mktemp -d /tmp/chattts-replica-logs.XXXXXX)
    started=$(date +%s.%N)
    for i in $(seq 1 "$replicas"); do
        # shellcheck disable=SC2086
        "$binary" serve --assets "$assets" --no-verify-assets --port $((port0 + i)) --threads "$threads" \
            --log-format json $extra "$@" > "$logdir/$i.log" 2>&1 &
        pids+=($!)
    done
    for i in $(seq 1 "$replicas"); do
        until curl -sf "http://127.0.0.1:$((port0 + i))/ready" > /dev/null; do
            kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { echo "replica $i exited:"; cat "$logdir/$i.log"; exit 1; }
            sleep 0.5
        done
    done
    local ready
    ready=$(echo "$(date +%s.%N) - $started" | bc)
    sleep 2
    echo "== $label: $replicas replicas ready after ${ready%.*} s"
    printf '%-8s %10s %10s %10s %12s %14s %14s\n' replica "USS MiB" "PSS MiB" "RSS MiB" "file MiB" "file PMD MiB" "anon huge MiB"
    local uss_total=0 pss_total=0
    for i in $(seq 1 "$replicas"); do
        local pid=${pids[$((i - 1))]}
        local uss=$(( $(field Private_Clean "$pid") + $(field Private_Dirty "$pid") ))
        local pss rss file pmd anonhuge
        pss=$(field Pss "$pid"); rss=$(field Rss "$pid"); file=$(field Pss_File "$pid")
        pmd=$(grep -E '^FilePmdMapped:' "/proc/$pid/smaps" | awk '{ s += $2 } END { print s + 0 }')
        anonhuge=$(field AnonHugePages "$pid")
        uss_total=$((uss_total + uss)); pss_total=$((pss_total + pss))
        printf '%-8s %10d %10d %10d %12d %14d %14d\n' "$i" $((uss / 1024)) $((pss / 1024)) $((rss / 1024)) \
            $((file / 1024)) $((pmd / 1024)) $((anonhuge / 1024))
    done
    printf '%-8s %10d %10d\n' total $((uss_total / 1024)) $((pss_total / 1024))
    grep -ho "\"outcome\":\"[^\"]*\"" "$logdir"/*.log | sed -E "s|$cache|CACHE|g" | sort | uniq -c || true
    cleanup
    rm -rf "$logdir"
    echo
}

echo "# replica memory, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "$(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
echo "transparent huge pages: enabled $(cat /sys/kernel/mm/transparent_hugepage/enabled)," \
     "shmem $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"
echo "binary: $binary ($(git rev-parse --short HEAD)); assets: $assets; cache: $cache"
echo "command: $binary serve --assets $assets --no-verify-assets --port P --threads $threads $extra [--cache-directory $cache]"
echo "USS = Private_Clean + Private_Dirty; PSS splits shared pages among their users; file = Pss_File"
echo

run "no cache"
rm -rf "${cache:?}"/*
run "cache, empty directory (replicas race to write it)" --cache-directory "$cache"
run "cache, file present" --cache-directory "$cache"
run "cache, file present, --weight-memory private" --cache-directory "$cache" --weight-memory private
ls -l "$cache"
