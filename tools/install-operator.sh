#!/usr/bin/env bash
# Install the modeldeploy operator into a fresh virtualenv. The Dockerfile runs exactly this script, and
# tests/unit/test_delivery.py runs it again outside Docker, so the image recipe is tested without an engine.
#
#   tools/install-operator.sh VENV_DIR [SOURCE_DIR]
#
# SOURCE_DIR (default: the repository holding this script) must contain requirements.txt,
# requirements-tfserving.txt, pyproject.toml, README.md and operator/.
#
# tensorflow-serving-api is installed with --no-deps: the operator only uses its config protos, and its
# declared dependency on TensorFlow would add gigabytes to the image.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 VENV_DIR [SOURCE_DIR]" >&2
  exit 2
fi
venv=$1
src=${2:-$(cd "$(dirname "$0")/.." && pwd)}
python=${PYTHON:-python3}

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet)
"${pip[@]}" --requirement "$src/requirements.txt"
"${pip[@]}" --no-deps --requirement "$src/requirements-tfserving.txt"
"${pip[@]}" --no-deps "$src"

# pip and setuptools are only needed to install; the runtime image never installs anything.
"$venv/bin/python" -m pip uninstall --quiet --yes pip setuptools >/dev/null 2>&1 || true

if "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)'; then
  echo "install-operator: tensorflow ended up in $venv; it must never be installed" >&2
  exit 1
fi
