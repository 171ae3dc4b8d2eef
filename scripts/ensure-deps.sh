#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, or says exactly how to.
# Run as root: installs missing packages with apt-get. Otherwise: prints the apt-get line and exits 1.
set -euo pipefail

packages=(pkg-config libopenblas-dev liblzma-dev libmp3lame-dev libopus-dev libogg-dev libflac-dev libsoxr-dev libespeak-ng-dev espeak-ng-data ffmpeg python3-venv chromium chromium-driver nginx prometheus)

if ! command -v swift >/dev/null 2>&1; then
    echo "error: swift is not on PATH. Install Swift 6.x for Debian 12 (swift.org) and re-run." >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    echo "missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi
