#!/usr/bin/env bash
# Assets of `unimotion serve` and the browser for its test; run by scripts/setup_env.sh, idempotent, quick
# when everything is in place. Neither step is fatal: without three.js the page has no 3D viewer (the JSON
# API works); without Chromium tests/server/test_browser.py skips and says why.
#
#  1. three.js (MIT licence) from the npm registry, pinned to THREE_VERSION and checked against the
#     registry's sha512 integrity of that release: its ES module build (three.module.js + three.core.js),
#     OrbitControls and LICENSE are copied into src/unimotion/server/static/vendor/three/ (git-ignored).
#  2. Debian's chromium (headless, driven by Playwright through /usr/bin/chromium) when it is missing and
#     apt-get can be used (root). Nothing is downloaded at test time.
set -euo pipefail
cd "$(dirname "$0")/.."

THREE_VERSION=0.187.0
THREE_INTEGRITY="sha512-Qiu7R+Cmh8CstZsY1uJOSWnVlfo7ZtNLV7mF8Jltk3LB3AtDu9cRZlcnRKkAk8Y4z6KKw35z7Y7Urd7jWY8etA=="
DEST=src/unimotion/server/static/vendor/three

vendor_three() {
    if [ "$(cat "$DEST/VERSION" 2>/dev/null || true)" = "$THREE_VERSION" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "[setup-web] npm not found: three.js not vendored; the page's 3D viewer will be unavailable" >&2
        return 0
    fi
    echo "[setup-web] vendoring three.js $THREE_VERSION from the npm registry into $DEST"
    local tmp
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack --silent --no-fund --no-audit "three@$THREE_VERSION" >/dev/null); then
        echo "[setup-web] npm pack three@$THREE_VERSION failed: the page's 3D viewer will be unavailable" >&2
        rm -rf "$tmp"
        return 0
    fi
    local tgz="$tmp/three-$THREE_VERSION.tgz" got
    got=$(python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tgz")
    if [ "$got" != "$THREE_INTEGRITY" ]; then
        echo "[setup-web] three-$THREE_VERSION.tgz does not match the pinned integrity ($got): not vendored" >&2
        rm -rf "$tmp"
        return 0
    fi
    tar -xzf "$tgz" -C "$tmp" package/LICENSE package/build/three.module.js package/build/three.core.js \
        package/examples/jsm/controls/OrbitControls.js
    rm -rf "$DEST.tmp"
    mkdir -p "$DEST.tmp/addons/controls"
    cp "$tmp/package/build/three.module.js" "$tmp/package/build/three.core.js" "$tmp/package/LICENSE" "$DEST.tmp/"
    cp "$tmp/package/examples/jsm/controls/OrbitControls.js" "$DEST.tmp/addons/controls/"
    echo "$THREE_VERSION" > "$DEST.tmp/VERSION"
    rm -rf "$DEST"
    mv "$DEST.tmp" "$DEST"
    rm -rf "$tmp"
}

install_chromium() {
    if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "[setup-web] chromium is not installed and apt-get cannot be used here (needs root):" \
             "tests/server/test_browser.py will skip; install it with: sudo apt-get install chromium" >&2
        return 0
    fi
    echo "[setup-web] installing Debian's chromium for the browser test (once per machine)"
    local log
    log=$(mktemp)
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium fonts-liberation) >"$log" 2>&1; then
        echo "[setup-web] could not install chromium (apt-get failed; last lines below):" \
             "tests/server/test_browser.py will skip" >&2
        tail -n 5 "$log" >&2 || true
    fi
    rm -f "$log"
}

vendor_three
install_chromium
