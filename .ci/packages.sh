#!/usr/bin/env bash
# Sourced by .ci/run (also runnable by hand): Debian packages the tests use besides the
# container engine of .ci/containers.sh.
#   chromium    headless browser that opens the run reports and comparisons (tests/report)
#   prometheus  scrapes a real run for the dashboards check (tests/dashboards); also in containers.sh
#   nodejs      runs sync functions side by side: equivalent mutants (rig conform --mutants), tests/unit/oracle
# Idempotent: installs only what is missing.
set -euo pipefail

_sudo_pkgs() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

_rig_need=()
for _pkg in chromium prometheus nodejs; do
  dpkg-query -W -f='${Status}' "$_pkg" 2>/dev/null | grep -q "install ok installed" || _rig_need+=("$_pkg")
done
if [ "${#_rig_need[@]}" -gt 0 ]; then
  echo "==> packages: installing ${_rig_need[*]}"
  _sudo_pkgs apt-get update -qq
  _sudo_pkgs env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${_rig_need[@]}" >/dev/null
fi
unset _rig_need _pkg
