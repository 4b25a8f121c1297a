#!/usr/bin/env bash
# Install the Debian packages unetvocalsep needs (Debian 12 "bookworm").
#
#   fluidsynth, fluid-soundfont-gm  accompaniment of the synthetic corpus
#                                   (libfluidsynth for pip pyfluidsynth;
#                                   FluidR3_GM.sf2, MIT licence)
#   klettres-data                   spoken syllables sung by the synthetic
#                                   corpus (GPL-2+)
#   ffmpeg                          mp3/mp4 decoding (MUSDB18 stems, stempeg)
#   libsndfile1                     soundfile (wav/flac/ogg)
#   openmpi-bin, libopenmpi-dev     ChainerMN through mpi4py
#   chromium, chromium-driver       browser tests of the web page
#
# Usage: sudo scripts/install-system-deps.sh   (or as root, e.g. in CI)
# Does nothing when every package is already installed, so CI stays fast.
set -euo pipefail

PACKAGES=(
  fluidsynth
  fluid-soundfont-gm
  klettres-data
  ffmpeg
  libsndfile1
  openmpi-bin
  libopenmpi-dev
  chromium
  chromium-driver
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-system-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-system-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-system-deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
