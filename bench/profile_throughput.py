"""Where the library path spends its time on QM9 molecules (cProfile shares of the total).

    python bench/profile_throughput.py [--n 500]
"""

import argparse
import cProfile
import dataclasses
import pstats

from _common import default_model, machine
from throughput import qm9_molecules

from e3d import edge_energies, load_model
from e3d.pairs import pairs_for_molecules

PARTS = {"forward_batch": "model forward (batched, energies only)", "molecule_to_data": "neighbour lists",
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


if __name__ == "__main__":
    main()
