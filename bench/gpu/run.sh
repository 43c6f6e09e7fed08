#!/usr/bin/env bash
# The prepared GPU run (issue #12): one command on the device machine, ≤ 9 minutes, results under $OUT.
#   device:    bench/gpu/run.sh                 (carry .whl and .gpu_inputs, made by bench/gpu/prepare.sh)
#   rehearsal: bench/gpu/run.sh --cpu --quick   (here, same script end to end; tests/test_gpu_rehearsal.py)
# Steps, each time-boxed, each writing its results as it goes: correctness (GPU = CPU edge energies),
# throughput sweep, `e3d batch` on 100,000 molecules, then training the largest emergence configuration
# for the time left.  $OUT/summary.md holds the figures and the command.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$(mktemp -d)}
PY=python3
if [ -x .venv/bin/python ] && [[ " $* " == *" --cpu "* ]]; then PY=.venv/bin/python; fi
if ls .whl/*.whl >/dev/null 2>&1 && [[ " $* " != *" --cpu "* ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "error: could not install the carried wheels"; exit 3; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec $PY bench/gpu/run.py --out "$OUT" "$@"
