#!/usr/bin/env bash
# Run HERE (not on the device) before a GPU run: what the device machine lacks, into ignored folders
# that the device tool carries (`carry: [".whl", ".gpu_inputs"]`, ≤ 64 MiB with the repo).
#   .whl/         Python 3.12 wheels the device image lacks (its KINDS.md lists what it has):
#                 nequip, nequip-allegro, hydra-core, omegaconf, antlr4, ase, rdkit, lmdb, matscipy,
#                 tblite (+ cffi, pycparser) for the GFN2-xTB labels of the training step
#   .gpu_inputs/  QM9 molecules with their B3LYP geometries and perceived bonds (SDF, gzip): the
#                 throughput/batch library and the training parents (no qm9pack, no RDKit embedding there)
# Usage: bench/gpu/prepare.sh [N_TRAIN_QM9 (default 1500: 3,000 took 66 s to label on the device's 15 workers and
#        51 s of nequip statistics on 2026-12-04, leaving the train step no time to train)]
# The checkout itself outgrew the tool's 64 MiB (precomputed/ is 189 MB): `python bench/gpu/slim_tree.py hide`
# before the device call, `python bench/gpu/slim_tree.py restore` right after it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
N=${1:-1500}
mkdir -p .whl .gpu_inputs
plat="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
for p in nequip==0.19.1 nequip-allegro==0.8.3 hydra-core==1.3.8 omegaconf==2.3.1 ase==3.29.0 rdkit==2026.9.1 \
         lmdb==3.0.0 matscipy==1.3.1 tblite==0.8.0 cffi==2.1.1 pycparser==3.12; do
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $plat -d .whl "$p"
done
$PY -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3   # sdist only on PyPI: pure Python
$PY bench/gpu/slim_wheel.py .whl/rdkit-*.whl rdkit/Contrib/
$PY bench/gpu/slim_wheel.py .whl/ase-*.whl ase/test/ ase/gui/
PYTHONPATH=. $PY bench/gpu/run.py --export-inputs .gpu_inputs --n-train "$N"
# what the device tool carries: tracked + untracked-not-ignored files + the two folders (≤ 64 MiB)
total=$( (git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1; du -sb .whl .gpu_inputs | cut -f1) \
        | awk '{s += $1} END {print s}')
echo "carried in all: $((total / 1048576)) MiB of 64"
[ "$total" -le 67108864 ] || {
  echo "error: over the device tool's 64 MiB: run 'python bench/gpu/slim_tree.py hide' (or use a smaller N_TRAIN)"
  exit 1
}
