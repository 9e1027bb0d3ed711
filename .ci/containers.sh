#!/usr/bin/env bash
# Sourced by .ci/run (also runnable by hand): a Docker-API engine without Docker.
# Installs Debian's podman, runc, docker-compose and prometheus (its binary goes
# into the test image), writes the engine settings this machine needs (runc as
# runtime, lowered default ulimits; see shared/spec/containers.md), starts
# podman's Docker API service on a unix socket and exports DOCKER_HOST.
# Idempotent: a second run on the same machine installs nothing and reuses a
# service that already answers.
set -euo pipefail

RIG_PODMAN_SOCK=${RIG_PODMAN_SOCK:-/run/rig-podman.sock}
export DOCKER_HOST="unix://${RIG_PODMAN_SOCK}"

_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

_need=()
for _pkg in podman runc docker-compose prometheus iptables netavark aardvark-dns; do
  dpkg-query -W -f='${Status}' "$_pkg" 2>/dev/null | grep -q "install ok installed" || _need+=("$_pkg")
done
if [ "${#_need[@]}" -gt 0 ]; then
  echo "==> containers: installing ${_need[*]}"
  _sudo apt-get update -qq
  # --no-install-recommends keeps the install short (netavark then needs iptables named);
  # prometheus is used only for its binary.
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${_need[@]}" iptables uidmap slirp4netns netavark aardvark-dns >/dev/null
fi

_conf=/etc/containers/containers.conf
_want='[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"'
if [ ! -f "$_conf" ] || [ "$(cat "$_conf")" != "$_want" ]; then
  _sudo mkdir -p /etc/containers
  printf '%s\n' "$_want" | _sudo tee "$_conf" >/dev/null
fi

_answers() { curl -fsS --max-time 2 --unix-socket "$RIG_PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; }
if ! _answers; then
  echo "==> containers: starting podman system service on $RIG_PODMAN_SOCK"
  _sudo rm -f "$RIG_PODMAN_SOCK"
  nohup podman system service --time=0 "unix://${RIG_PODMAN_SOCK}" >/tmp/rig-podman-service.log 2>&1 &
  for _ in $(seq 1 100); do
    _answers && break
    sleep 0.1
  done
  _answers || { echo "podman service did not answer; log:" >&2; tail -20 /tmp/rig-podman-service.log >&2; exit 1; }
fi
echo "==> containers: $(podman --version), DOCKER_HOST=$DOCKER_HOST"
