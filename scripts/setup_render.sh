#!/usr/bin/env bash
# System libraries of the mannequin renderer (`unimotion data render bandai`, tests/data/test_bandai_render.py);
# run by scripts/setup_env.sh, idempotent, quick when everything is in place.
#
# pyrender (pip, pinned in constraints.txt) draws off-screen through PyOpenGL with PYOPENGL_PLATFORM=egl,
# which needs an EGL library and a Mesa driver; on a machine without a GPU Mesa's llvmpipe rasterises on
# the CPU. Debian packages (all MIT-style Mesa / libglvnd licences): libegl1 (the EGL dispatcher),
# libegl-mesa0 (Mesa's EGL vendor), libgl1-mesa-dri (the llvmpipe/swrast driver), libgl1 + libglx-mesa0
# (libGL, which PyOpenGL loads as well) and libosmesa6 (the OSMesa fallback: PYOPENGL_PLATFORM=osmesa).
# Not fatal: without them the render tests skip (outside CI) and the command says what is missing.
set -euo pipefail

PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libglx-mesa0 libosmesa6)

have_libs() {
    # the EGL dispatcher, Mesa's EGL vendor, libGL and the software rasteriser driver
    ldconfig -p 2>/dev/null | grep -q 'libEGL\.so\.1 ' \
        && ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa\.so\.0 ' \
        && ldconfig -p 2>/dev/null | grep -q 'libGL\.so\.1 ' \
        && ldconfig -p 2>/dev/null | grep -q 'libOSMesa\.so' \
        && { ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || ls /usr/lib/*/dri/kms_swrast_dri.so >/dev/null 2>&1; }
}

if have_libs; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup-render] Mesa's EGL/OSMesa libraries are missing and apt-get cannot be used here (needs root):" \
         "the mannequin renderer will not start; install them with: sudo apt-get install ${PACKAGES[*]}" >&2
    exit 0
fi
echo "[setup-render] installing Mesa's off-screen OpenGL libraries for the mannequin renderer (once per machine)"
log=$(mktemp)
if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${PACKAGES[@]}") >"$log" 2>&1; then
    echo "[setup-render] could not install ${PACKAGES[*]} (apt-get failed; last lines below):" \
         "the mannequin renderer will not start" >&2
    tail -n 5 "$log" >&2 || true
fi
rm -f "$log"
