#!/usr/bin/env bash
# One entry point for a fresh machine (Python 3.11+, Go 1.26+, gcc):
#   ./rig.sh demo   set everything up, then run the demo end to end on a locally built Sync Gateway
#   ./rig.sh test   set everything up, then run the whole test suite
# Anything else is passed to the `rig` CLI inside the project's virtualenv.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${RIG_VENV:-.venv}
PY=${PYTHON:-python3}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV with $($PY --version)"
    "$PY" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    echo "==> installing the rig and its Python dependencies"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
    touch "$VENV/.installed"
  fi
  echo "==> building Sync Gateway from source (cached after the first build)"
  "$VENV/bin/rig" gateway build
}

case "${1:-}" in
  demo)
    shift
    setup
    exec "$VENV/bin/rig" run demo "$@"
    ;;
  test)
    shift
    setup
    echo "==> lint and types"
    "$VENV/bin/ruff" check rig tests
    "$VENV/bin/mypy"
    echo "==> tests"
    exec "$VENV/bin/python" -m pytest -n 2 "$@"
    ;;
  "")
    echo "usage: ./rig.sh demo | test | <rig arguments>" >&2
    exit 2
    ;;
  *)
    exec "$VENV/bin/rig" "$@"
    ;;
esac
