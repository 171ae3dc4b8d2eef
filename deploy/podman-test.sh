#!/usr/bin/env bash
# Opt-in (a few minutes, root, Debian's podman): builds deploy/Dockerfile offline and runs the image for real.
#
#   deploy/podman-test.sh            # BINARY=... to choose the binary (default below)
#
# 1. Installs podman, runc, catatonit (--init) and mmdebstrap from Debian when missing (root).
# 2. Makes the base: `mmdebstrap --variant=minbase bookworm` from the Debian mirror, `podman import` as
#    localhost/debian:bookworm-slim (once; kept in podman's store).
# 3. Builds the image with `podman build --pull=never --format docker` (docker format keeps HEALTHCHECK). The binary is
#    .build-static/release/chattts when it exists (`swift build -c release --product chattts --static-swift-stdlib
#    --scratch-path .build-static`: the Dockerfile as it is); otherwise .build/release/chattts, whose Swift runtime
#    libraries (ldd) are added by one extra COPY in a copy of the Dockerfile, so the same stages are exercised.
# 4. Smoke test: the container read-only, as uid 10001, the tiny model mounted read-only; /ready, one synthesis,
#    `podman healthcheck run`, the image's user/healthcheck/stop signal, SIGTERM -> exit 0.
# 5. `podman kube play` of deploy/kubernetes/deployment.yaml (its PVC as a podman volume holding the tiny model):
#    podman 4.3 runs no probes, so this script polls /ready and /health itself.
# 6. podman-compose (PyPI) brings up deploy/compose.yaml: every health check healthy, syntheses through nginx, a
#    replica SIGKILLed and another SIGTERMed (exit 0) with every synthesis still answered 200. (A container started
#    again keeps its fixed address but gets a new MAC, and nginx's stale ARP entry made it unreachable for tens of
#    seconds here; restarting is not part of this test.)
#
# podman 4.3 here needs runc (crun fails on this machine's cgroups), ulimits within the hard limit and --network host
# (no firewall changes): a containers.conf of its own says so (CONTAINERS_CONF), the system's is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "run as root (podman's rootful store, apt-get)" >&2; exit 2; }
need=()
for p in podman runc mmdebstrap catatonit; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

port=${PORT:-18480}
base=localhost/debian:bookworm-slim
image=localhost/chattts:latest
work=$(mktemp -d /tmp/chattts-podman.XXXXXX)
# 10000 each: within what runc may set here (higher nproc values were refused with EPERM even below `ulimit -Hu`).
limit=$(( $(ulimit -Hn) < 10000 ? $(ulimit -Hn) : 10000 ))
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$limit:$limit", "nproc=$limit:$limit"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"
# Without systemd, podman logs that it cannot make healthcheck timers (`podman healthcheck run` is used instead).
exec 2> >(grep --line-buffered -v 'unable to get systemd connection' >&2)
compose_venv=${COMPOSE_VENV:-$HOME/.cache/chattts-podman-compose}
compose() {
    CHATTTS_ASSETS_DIR="$PWD/Tests/Fixtures/tiny/asset" CHATTTS_CPUS=1 \
        "$compose_venv/bin/podman-compose" -f deploy/compose.yaml -f "$work/override.yaml" "$@"
}
cleanup() {
    podman rm -f -t 0 chattts-smoke >/dev/null 2>&1 || true
    podman kube down "$work/kube.yaml" >/dev/null 2>&1 || true
    podman volume rm -f chattts-assets >/dev/null 2>&1 || true
    if [ -f "$work/override.yaml" ]; then compose down -t 5 >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
wait_ready() {
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$1/ready" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

echo "== base image"
if ! podman image exists "$base"; then
    mmdebstrap --quiet --variant=minbase bookworm "$work/base.tar" http://deb.debian.org/debian
    podman import --quiet "$work/base.tar" "$base" >/dev/null
    rm -f "$work/base.tar"
fi
podman image exists "$base" && echo "ok: $base"

echo "== build"
mkdir -p "$work/ctx"
cp deploy/Dockerfile "$work/ctx/Containerfile"
binary=${BINARY:-}
if [ -z "$binary" ]; then
    if [ -x .build-static/release/chattts ]; then binary=.build-static/release/chattts; else binary=.build/release/chattts; fi
fi
[ -x "$binary" ] || { echo "no binary at $binary (swift build -c release --product chattts ...)" >&2; exit 2; }
cp "$binary" "$work/ctx/chattts"
swift_libs=$(ldd "$binary" | awk '$3 ~ /\/swift\// {print $3}')
if [ -n "$swift_libs" ]; then
    echo "note: $binary links the Swift runtime dynamically: adding its $(echo "$swift_libs" | wc -l) libraries to the image"
    mkdir -p "$work/ctx/swift-runtime"
    cp $swift_libs "$work/ctx/swift-runtime/"
    sed -i 's|^COPY --from=binary /out/chattts /usr/local/bin/chattts$|&\nCOPY swift-runtime/ /usr/local/lib/swift/\nRUN echo /usr/local/lib/swift > /etc/ld.so.conf.d/swift.conf \&\& ldconfig|' \
        "$work/ctx/Containerfile"
    grep -q 'COPY swift-runtime/' "$work/ctx/Containerfile" || { echo "could not add the Swift runtime COPY" >&2; exit 1; }
fi
podman build --quiet --pull=never --format docker --network host --build-arg BASE="$base" --build-arg BINARY=chattts \
    -t "$image" -f "$work/ctx/Containerfile" "$work/ctx" >/dev/null
podman image inspect "$image" --format 'ok: built {{.Id}}, {{.Size}} bytes, user {{.Config.User}}, stop signal {{.Config.StopSignal}}, healthcheck {{.Config.Healthcheck.Test}}' \
    || bad "image built"
[ "$(podman image inspect "$image" --format '{{.Config.User}}')" = 10001:10001 ] || bad "image user is not 10001:10001"
[ "$(podman image inspect "$image" --format '{{.Config.StopSignal}}')" = SIGTERM ] || bad "stop signal"
podman image inspect "$image" --format '{{.Config.Healthcheck.Test}}' | grep -q /health || bad "HEALTHCHECK on /health"

echo "== smoke test: read-only, non-root, assets read-only"
podman run -d --name chattts-smoke --read-only --tmpfs /tmp --network host --init --stop-timeout 45 \
    -v "$PWD/Tests/Fixtures/tiny/asset:/models/asset:ro" -v "$PWD/Tests/Fixtures/tiny.checksums.json:/models/checksums.json:ro" \
    -e CHATTTS_PORT="$port" -e CHATTTS_ASSET_CHECKSUMS=/models/checksums.json -e CHATTTS_THREADS=1 "$image" >/dev/null
if wait_ready "$port"; then echo "ok: /ready 200"; else bad "/ready"; podman logs chattts-smoke | tail -20; fi
bytes=$(curl -fs "http://127.0.0.1:$port/v1/tts" -H 'Content-Type: application/json' \
    -d '{"text": "Hello from the container.", "seed": 1, "max_new_token": 24, "refine": false, "response_format": "wav"}' | wc -c)
[ "$bytes" -gt 44 ] && echo "ok: one synthesis, $bytes bytes of wav" || bad "synthesis"
podman healthcheck run chattts-smoke && echo "ok: podman healthcheck run" || bad "healthcheck"
[ "$(podman exec chattts-smoke id -u)" = 10001 ] && echo "ok: runs as uid 10001" || bad "uid"
podman exec chattts-smoke touch /probe 2>/dev/null && bad "root filesystem is writable" || echo "ok: root filesystem read-only"
podman exec chattts-smoke touch /models/asset/probe 2>/dev/null && bad "assets writable" || echo "ok: assets read-only"
podman stop -t 45 chattts-smoke >/dev/null
rc=$(podman inspect chattts-smoke --format '{{.State.ExitCode}}')
[ "$rc" = 0 ] && echo "ok: SIGTERM -> drained, exit 0" || bad "exit status $rc after SIGTERM"
podman rm -f chattts-smoke >/dev/null

echo "== podman kube play deploy/kubernetes/deployment.yaml"
# The PVC is a podman volume with the tiny model; the tiny model's checksums and the test port go in through env.
podman volume create chattts-assets >/dev/null
mnt=$(podman volume mount chattts-assets 2>/dev/null || podman volume inspect chattts-assets --format '{{.Mountpoint}}')
cp -r Tests/Fixtures/tiny/asset "$mnt/asset"
cp Tests/Fixtures/tiny.checksums.json "$mnt/checksums.json"
chmod -R a+rX "$mnt"
# With --network host podman refuses port mappings: the ports list goes, probes name the port by number.
python3 - "$port" deploy/kubernetes/deployment.yaml >"$work/kube.yaml" <<'PY'
import re, sys
port, text = sys.argv[1], open(sys.argv[2]).read()
text = text.replace('value: "8080"', f'value: "{port}"').replace("port: http", f"port: {port}")
text = re.sub(r"\n          ports:\n(            .*\n|              .*\n)+?(?=          resources:)", "\n", text)
text = text.replace("            - name: CHATTTS_LOG_FORMAT",
                    "            - name: CHATTTS_ASSET_CHECKSUMS\n              value: /models/checksums.json\n"
                    "            - name: CHATTTS_LOG_FORMAT")
assert "containerPort" not in text and "CHATTTS_ASSET_CHECKSUMS" in text
print(text, end="")
PY
podman kube play --network host "$work/kube.yaml" >/dev/null 2>"$work/kube.err" || { cat "$work/kube.err"; bad "kube play"; }
if wait_ready "$port"; then echo "ok: the Deployment's pod is ready (/ready polled: podman runs no probes)"; else bad "kube pod /ready"; podman pod logs "$(podman pod ps -q | head -1)" 2>/dev/null | tail -20; fi
curl -fs "http://127.0.0.1:$port/health" >/dev/null && echo "ok: /health" || bad "/health"
ctr=$(podman ps --filter label=io.kubernetes.container.name=chattts -q | head -1)
[ -z "$ctr" ] && ctr=$(podman ps --format '{{.Names}}' | grep -- '-chattts$' | head -1)
if [ -n "$ctr" ]; then
    [ "$(podman inspect "$ctr" --format '{{.HostConfig.ReadonlyRootfs}}')" = true ] && echo "ok: readOnlyRootFilesystem" || bad "read-only root in kube play"
    [ "$(podman exec "$ctr" id -u)" = 10001 ] && echo "ok: runAsUser 10001" || bad "uid in kube play"
    podman exec "$ctr" touch /models/asset/probe 2>/dev/null && bad "assets writable in kube play" || echo "ok: assets volume read-only"
else
    bad "the pod's container was not found"
fi
podman kube down "$work/kube.yaml" >/dev/null 2>&1 || true
podman volume rm -f chattts-assets >/dev/null 2>&1 || true

echo "== podman-compose: deploy/compose.yaml (3 replicas + nginx with deploy/nginx.conf unchanged)"
# podman-compose from PyPI; Debian's dnsname CNI plugin resolves the service names nginx's upstream uses. Docker Hub's
# nginx image cannot be pulled offline: an override runs Debian's nginx on the same base, and gives the replicas the
# tiny model's checksums. Port 8080 of the host must be free.
dpkg-query -W -f='${Status}' golang-github-containernetworking-plugin-dnsname 2>/dev/null | grep -q "ok installed" \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-github-containernetworking-plugin-dnsname >/dev/null
[ -x "$compose_venv/bin/podman-compose" ] || { python3 -m venv "$compose_venv"; "$compose_venv/bin/pip" install -q podman-compose==1.6.0; }
mkdir -p "$work/nginx-image"
printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends nginx && rm -rf /var/lib/apt/lists/*\n' "$base" \
    >"$work/nginx-image/Containerfile"
podman build --quiet --pull=never --network host -t localhost/nginx-debian:test "$work/nginx-image" >/dev/null
{
    echo "x-test: &test"
    echo "  image: $image"
    echo "  environment:"
    echo "    CHATTTS_ASSET_CHECKSUMS: /models/checksums.json"
    echo "  volumes:"
    echo "    - $PWD/Tests/Fixtures/tiny.checksums.json:/models/checksums.json:ro"
    echo "services:"
    echo "  chattts-1: {<<: *test}"
    echo "  chattts-2: {<<: *test}"
    echo "  chattts-3: {<<: *test}"
    echo "  nginx:"
    echo "    image: localhost/nginx-debian:test"
    echo "    tmpfs: [/var/lib/nginx, /run]"
} >"$work/override.yaml"
compose down -t 5 >/dev/null 2>&1 || true
compose up -d >/dev/null 2>&1 || bad "podman-compose up"
synth() {
    curl -s -o /dev/null -w '%{http_code}\n' http://127.0.0.1:8080/v1/tts -H 'Content-Type: application/json' \
        -d '{"text": "Hello through nginx.", "seed": 1, "max_new_token": 24, "refine": false, "response_format": "pcm"}'
}
for _ in $(seq 1 100); do [ "$(synth)" = 200 ] && break; sleep 0.2; done
for c in chattts-1 chattts-2 chattts-3 nginx; do
    podman healthcheck run "chattts_${c}_1" >/dev/null && echo "ok: $c healthy" || bad "$c healthcheck"
done
count_200() { local n=0; for _ in $(seq 1 "$1"); do [ "$(synth)" = 200 ] && n=$((n + 1)); sleep 0.2; done; echo "$n"; }
n=$(count_200 6); [ "$n" = 6 ] && echo "ok: 6 of 6 syntheses through nginx" || bad "syntheses through nginx: $n of 6"
podman kill -s KILL chattts_chattts-2_1 >/dev/null
n=$(count_200 10); [ "$n" = 10 ] && echo "ok: chattts-2 SIGKILLed: 10 of 10 syntheses answered 200" || bad "after SIGKILL: $n of 10"
podman stop -t 45 chattts_chattts-1_1 >/dev/null
rc=$(podman inspect chattts_chattts-1_1 --format '{{.State.ExitCode}}')
[ "$rc" = 0 ] && echo "ok: chattts-1 SIGTERM -> exit 0" || bad "chattts-1 exit $rc after SIGTERM"
n=$(count_200 10); [ "$n" = 10 ] && echo "ok: one replica left: 10 of 10 syntheses answered 200" || bad "one replica left: $n of 10"
compose down -t 10 >/dev/null 2>&1 || true

echo
if [ "$fail" = 0 ]; then echo "podman-test: pass"; else echo "podman-test: FAIL"; fi
exit "$fail"
