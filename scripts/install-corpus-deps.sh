#!/usr/bin/env bash
# Debian packages of the real-music training corpus (issue 12, docs/MODEL.md):
# game-music packages used as instrumental beds (about 14.6 h, 1.0 GB) and the
# KLettres voices. Not needed by the tests; scripts/install-system-deps.sh covers those.
#
#   ufoai-music, nexuiz-music, warzone2100-music, planetblupi-music-ogg,
#   hyperrogue-music, drascula-music, asc-music    training beds
#   singularity-music                              held out (validation only)
#
# Wesnoth's music and Frets on Fire are reserved for independent testing and are
# never installed or used here.
set -euo pipefail
PACKAGES=(ufoai-music nexuiz-music warzone2100-music planetblupi-music-ogg hyperrogue-music
          drascula-music asc-music singularity-music klettres-data fluidsynth fluid-soundfont-gm)
SUDO=()
[ "$(id -u)" -ne 0 ] && SUDO=(sudo)
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
