#!/usr/bin/env bash
# The app's and the race's first chart (benchmarks/app_first_chart.py, race_first_chart.py) on a
# loaded machine: BUSY shell loops (default 8) spin for 75 s first, so that the 1-minute load
# average of a 2-core machine climbs to about 10, and go on until both benchmarks are done. The
# load average is printed before, between and after. From the repository root, with the
# environment's Python as PY:  PY=... benchmarks/first_chart_under_load.sh [REPEATS]
set -u
PY=${PY:-python}
BUSY=${BUSY:-8}
REPEATS=${1:-3}
export PYTHONPATH=$PWD OMP_NUM_THREADS=1
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
for _ in $(seq "$BUSY"); do (while :; do :; done) & pids+=($!); done
sleep 75
echo "load before: $(uptime)"
"$PY" benchmarks/app_first_chart.py --repeats "$REPEATS"
echo "load between: $(uptime)"
"$PY" benchmarks/race_first_chart.py --repeats "$REPEATS"
echo "load after: $(uptime)"
