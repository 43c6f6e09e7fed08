"""Where the library path spends its time on QM9 molecules (cProfile shares of the total), and the
time per molecule outside the model call — the bound on molecules/s that a faster forward (a GPU) leaves.

    python bench/profile_throughput.py [--n 500]
"""

import argparse
import cProfile
import dataclasses
import pstats
import time

from _common import default_model, machine
from throughput import qm9_molecules

from e3d import edge_energies, load_model
from e3d.pairs import pairs_for_molecules

PARTS = {"forward_batch": "model forward (batched, energies only)", "batch_to_data": "batch graphs (neighbour lists)",
         "pairs_for_molecules": "pair tables (all)", "bond_arrays": "  of which bond typing (RDKit)",
         "_split_results": "edge bookkeeping + sum rule"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    model = load_model(default_model(), device="cpu")
    mols = qm9_molecules(args.n)

    def run():
        pairs_for_molecules(edge_energies(model, [dataclasses.replace(m) for m in mols]))

    run()
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    print(f"# profile_throughput: {machine()}; model {model.name}; {len(mols)} molecules; {total:.2f} s")
    for func, label in PARTS.items():
        cum = max((v[3] for k, v in stats.stats.items() if k[2] == func), default=0.0)
        print(f"{label:40s} {cum / total:6.1%}")
    # what a faster forward (a GPU) cannot remove: the time outside the model call, timed without the profiler
    inner, spent = model.module.forward, [0.0]

    def timed_forward(data):
        t = time.perf_counter()
        out = inner(data)
        spent[0] += time.perf_counter() - t
        return out

    model.module.forward = timed_forward
    t0 = time.perf_counter()
    run()
    side = (time.perf_counter() - t0 - spent[0]) / len(mols)
    print(f"{'outside the model call, per molecule':40s} {1e3 * side:6.3f} ms "
          f"(the bound with an infinitely fast forward: {1 / side:,.0f} molecules/s)")


if __name__ == "__main__":
    main()
