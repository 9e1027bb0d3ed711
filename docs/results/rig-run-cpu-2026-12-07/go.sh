#!/bin/bash
# How the rig-run CPU rows in runs.jsonl were taken (docs/benchmarks.md, "Where a `rig run` load process's CPU goes").
# go.sh NAME PROFILE(0/1) PROFILE_SECONDS rig-run-args...
#   CODE: the rig checkout to run (default: the current directory); OUT: where runs, polls and results go.
#   PROFILE=1: py-spy (pip install --target /tmp/pyspy py-spy) attached 3 s after the run config is
#   written, for PROFILE_SECONDS of the load phase, raw stacks to OUT/NAME.raw (summarise: prof.py).
here=$(dirname "$(readlink -f "$0")")
name=$1; prof=$2; psec=$3; shift 3
OUT=${OUT:-/tmp/runcpu}
cd "${CODE:-$PWD}" || exit 1
out=$OUT/runs/$name; rm -rf "$out"; mkdir -p "$OUT/runs"
PYTHONPATH=$PWD /work/main/.venv/bin/python -m rig run "$@" --out "$out" > "$OUT/$name.log" 2>&1 &
pid=$!
/work/main/.venv/bin/python "$here/poll.py" $pid "$OUT/$name.poll" &
if [ "$prof" = 1 ]; then
  while [ ! -f "$out/run-config-0.json" ] && kill -0 $pid 2>/dev/null; do sleep 0.2; done
  sleep 3
  /tmp/pyspy/bin/py-spy record --nonblocking --rate 100 --format raw -d "$psec" -p $pid -o "$OUT/$name.raw" > "$OUT/$name.pyspy" 2>&1
fi
wait $pid
sleep 1
/work/main/.venv/bin/python "$here/analyse.py" "$out" "$OUT/$name.poll" | tee -a "$OUT/results.jsonl"
