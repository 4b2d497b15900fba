#!/usr/bin/env bash
# The system libraries FFCV builds and runs against (its extension links the system OpenCV
# and libturbojpeg). Installs them with apt when they are missing and we are root on a
# Debian/Ubuntu machine; otherwise prints the command for an administrator and fails.
set -euo pipefail

packages=(pkg-config libopencv-dev libturbojpeg0-dev)

# Not `grep -q`: it exits at the first match, ldconfig then dies of SIGPIPE, and under
# pipefail the whole check fails now and then although the library is there.
have_all() {
    command -v pkg-config >/dev/null 2>&1 \
        && pkg-config --exists opencv4 \
        && ldconfig -p 2>/dev/null | grep libturbojpeg >/dev/null
}

if have_all; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing FFCV's system packages: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    have_all && exit 0
    echo "error: ${packages[*]} installed but opencv4/libturbojpeg still not found" >&2
    exit 1
fi

echo "error: FFCV needs system packages; run as root:" >&2
echo "  apt-get install -y --no-install-recommends ${packages[*]}" >&2
exit 1
