"""`e3d batch`'s work around the forward: molecules/s on an SDF library, with a model whose forward costs little.

    python bench/batch_throughput.py [--n 10000] [--workers 0 1] [--model tests/models/tiny_allegro.nequip.zip]

On a GPU the forward of 50,000 QM9 molecules takes under a second (bench/gpu/results/): the rest — reading the
molecules, graphs, pair tables, Parquet — sets the rate.  Here the shipped tiny test model stands in for that
forward.  The library: QM9 test-split molecules at their B3LYP geometries (`.gpu_inputs/`, made by
`bench/gpu/prepare.sh`, else exported here), repeated to N records.  Each setting runs `python -m e3d batch` afresh
in its own process (float32, shards of 2,048, CPU) — once on one molecule for the start-up (imports, model load),
once on N — and prints the wall times and the rate after start-up.
"""

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

from _common import ROOT, machine

sys.path.insert(0, os.path.join(ROOT, "bench", "gpu"))
from run import LIBRARY, export_inputs  # noqa: E402

from e3d.molecule import sdf_records  # noqa: E402


def library_records():
    folder = os.path.join(ROOT, ".gpu_inputs")
    if not os.path.exists(os.path.join(folder, LIBRARY)):
        folder = tempfile.mkdtemp()
        export_inputs(folder, n_train=0)
    with gzip.open(os.path.join(folder, LIBRARY), "rt") as fh:
        return sdf_records(fh.read())


def batch_wall(sdf: str, model: str, workers: int, work: str) -> float:
    out = os.path.join(work, f"out-{workers}-{os.path.basename(sdf)}.parquet")
    cmd = [sys.executable, "-m", "e3d", "batch", sdf, "--model", model, "-o", out, "--dtype", "float32",
           "--accelerator", "cpu", "--shard-size", "2048", "--workers", str(workers)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"e3d batch failed: {proc.stderr[-2000:]}")
    return wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="library size (records, the QM9 library repeated)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--model", default=os.path.join(ROOT, "tests", "models", "tiny_allegro.nequip.zip"))
    args = ap.parse_args()
    records = library_records()
    work = tempfile.mkdtemp()
    one, lib = os.path.join(work, "one.sdf"), os.path.join(work, "library.sdf")
    with open(one, "w") as fh:
        fh.write(records[0])
    with open(lib, "w") as fh:
        fh.write("".join(records[k % len(records)] for k in range(args.n)))
    print(f"{machine()}; model {os.path.relpath(args.model, ROOT)}; {args.n} molecules")
    print("| workers | start-up, 1 molecule (s) | N molecules (s) | molecules/s after start-up |")
    print("|---|---|---|---|")
    for w in args.workers:
        t1, tn = batch_wall(one, args.model, w, work), batch_wall(lib, args.model, w, work)
        print(f"| {w} | {t1:.1f} | {tn:.1f} | {(args.n - 1) / max(tn - t1, 1e-9):.0f} |", flush=True)


if __name__ == "__main__":
    main()
