#!/usr/bin/env bash
# Create a virtual environment and install unetvocalsep (editable) into it.
#
#   scripts/make-venv.sh PYTHON VENV_DIR [NUMPY_SPEC] [EXTRAS]
#
#   PYTHON      interpreter to use (python3.11, ~/.pyenv/versions/3.13.0/bin/python, ...)
#   VENV_DIR    the environment to create (reused if it already exists)
#   NUMPY_SPEC  e.g. 'numpy<2' or 'numpy>=2' (default: newest allowed by setup.py)
#   EXTRAS      comma-separated extras of unetvocalsep (default: dev)
#               e.g. dev,mpi (needs an MPI: Debian openmpi-bin libopenmpi-dev)
#
# Only PyPI is contacted (through pip). chainer 7.8.1 exists only as an sdist
# whose setup.py imports pkg_resources, so it is built first, without build
# isolation, against setuptools<70 (works on Python 3.10-3.13). On Python >= 3.12
# setuptools is then upgraded to the newest release the extras allow (the [dev]
# extra keeps setuptools<81 for chainer.testing; the package itself needs none):
# chainer's own environment check cannot work there anyway (no numpy.distutils),
# and unetvocalsep/_compat.py makes chainer independent of setuptools
# (docs/COMPAT.md). On 3.10/3.11 the old setuptools stays, so that environment
# runs chainer's real check and no compatibility patch for it.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
PYTHON=$1
VENV=$2
NUMPY_SPEC=${3:-numpy}
EXTRAS=${4:-dev}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
# 1. chainer 7.8.1 from its sdist: its setup.py needs pkg_resources.
"$PY" -m pip install -q 'setuptools<70' wheel
"$PY" -m pip install -q --no-build-isolation 'chainer==7.8.1' "$NUMPY_SPEC"
# 2. the package and its extras, with the requested NumPy series.
"$PY" -m pip install -q -e "$ROOT[$EXTRAS]" "$NUMPY_SPEC"
# 3. on Python >= 3.12, a current setuptools: nothing needs the old one at run time
#    (the newest one the extras allow: [dev] keeps pkg_resources for chainer.testing).
if "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
    "$PY" -m pip install -q --upgrade setuptools -e "$ROOT[$EXTRAS]" "$NUMPY_SPEC"
fi
"$PY" - <<'PY'
import sys

import numpy
import setuptools

import unetvocalsep.network  # noqa: F401 (imports chainer through _compat)
import chainer
from unetvocalsep import _compat

print(f"{sys.executable}: Python {sys.version.split()[0]}, NumPy {numpy.__version__}, "
      f"setuptools {setuptools.__version__}, chainer {chainer.__version__}, "
      f"compat patches: {', '.join(_compat.APPLIED) or 'none'}")
PY
