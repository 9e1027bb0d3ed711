#!/usr/bin/env bash
# One entry point for a fresh Debian machine (Python 3.11+, Go 1.26+ and gcc must be there):
#   ./rig.sh demo     Python setup, Sync Gateway build, then `rig run demo` end to end (no root needed)
#   ./rig.sh test     the machine setup below, then lint, types and the whole test suite
#   ./rig.sh setup    only the setup that `test` does (machine and Python)
# Anything else is passed to the `rig` CLI inside the project's virtualenv.
#
# The machine setup (root, or sudo) is idempotent: it installs only the Debian packages that
# are missing and reuses a podman Docker-API service that already answers. What the tests use:
#   podman runc docker-compose netavark aardvark-dns iptables uidmap slirp4netns
#                 the docker backend, local images and the compose stack (podman's Docker API)
#   prometheus    the dashboards check scrapes a real run; its binary goes into a test image
#   chromium      reports and comparisons opened headless; the docs' report screenshot
#   nodejs        the rendered sync functions are run under node against the oracle
#   openssl       a self-signed certificate for the TLS transport test
#   tmux          the live progress line of `rig run` on a terminal
#   curl          asks the podman service whether it answers
set -euo pipefail
cd "$(dirname "$0")"

VENV=${RIG_VENV:-.venv}
PY=${PYTHON:-python3}
RIG_PODMAN_SOCK=${RIG_PODMAN_SOCK:-/run/rig-podman.sock}
DEBIAN_PACKAGES=(podman runc docker-compose netavark aardvark-dns iptables uidmap slirp4netns
                 prometheus chromium nodejs openssl tmux curl)

_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

require_toolchain() {
  local missing=()
  command -v "$PY" >/dev/null || missing+=("$PY (Python 3.11+)")
  command -v go >/dev/null || missing+=("go (Go 1.26+, https://go.dev/doc/install)")
  command -v gcc >/dev/null || missing+=("gcc (Sync Gateway's rosmar storage uses cgo)")
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "rig.sh: missing: ${missing[*]}" >&2
    exit 2
  fi
}

setup_python() {
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

setup_packages() {
  local need=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    echo "==> machine: installing Debian packages ${need[*]} (about a minute)"
    _sudo apt-get update -qq
    # --no-install-recommends keeps it short (netavark then needs iptables named).
    _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
      >/tmp/rig-apt.log 2>&1 || { tail -30 /tmp/rig-apt.log >&2; exit 1; }
  fi
}

setup_podman() {
  # Engine settings this machine needs (runc as runtime, lowered default ulimits: shared/spec/containers.md).
  local conf=/etc/containers/containers.conf
  local want='[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"'
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    _sudo mkdir -p /etc/containers
    printf '%s\n' "$want" | _sudo tee "$conf" >/dev/null
  fi
  if ! _podman_answers; then
    echo "==> machine: starting podman's Docker API service on $RIG_PODMAN_SOCK (left running for later runs)"
    _sudo rm -f "$RIG_PODMAN_SOCK"
    _sudo setsid nohup podman system service --time=0 "unix://$RIG_PODMAN_SOCK" \
      </dev/null >/tmp/rig-podman-service.log 2>&1 &
    for _ in $(seq 1 100); do
      _podman_answers && break
      sleep 0.1
    done
    if [ "$(id -u)" -ne 0 ] && [ -S "$RIG_PODMAN_SOCK" ]; then
      _sudo chown "$(id -u):$(id -g)" "$RIG_PODMAN_SOCK"
    fi
    _podman_answers || { echo "podman's service did not answer; its log:" >&2
                         tail -20 /tmp/rig-podman-service.log >&2; exit 1; }
  fi
  export DOCKER_HOST="unix://$RIG_PODMAN_SOCK"
  echo "==> machine: $(podman --version), DOCKER_HOST=$DOCKER_HOST"
}

_podman_answers() { curl -fsS --max-time 2 --unix-socket "$RIG_PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; }

setup_machine() {
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "rig.sh: the test setup installs Debian packages: run as root or install sudo" >&2
    exit 2
  fi
  setup_packages
  setup_podman
}

case "${1:-}" in
  demo)
    shift
    require_toolchain
    setup_python
    exec "$VENV/bin/rig" run demo "$@"
    ;;
  setup)
    require_toolchain
    setup_machine
    setup_python
    ;;
  test)
    shift
    require_toolchain
    setup_machine
    setup_python
    echo "==> lint and types"
    "$VENV/bin/ruff" check rig tests
    "$VENV/bin/mypy"
    echo "==> tests (a skipped test fails the run: the setup above installed everything; RIG_ALLOW_SKIPS=1 allows)"
    export RIG_FORBID_SKIPS=${RIG_FORBID_SKIPS:-$([ "${RIG_ALLOW_SKIPS:-}" = 1 ] && echo 0 || echo 1)}
    exec "$VENV/bin/python" -m pytest -n 2 "$@"
    ;;
  "")
    echo "usage: ./rig.sh demo | test | setup | <rig arguments>" >&2
    exit 2
    ;;
  *)
    exec "$VENV/bin/rig" "$@"
    ;;
esac
