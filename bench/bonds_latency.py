"""Bench 1: all bond energies of one molecule of 10, 30, 60 atoms on CPU, 1 thread, warm.

    python bench/bonds_latency.py [--model M] [--compiled M.nequip.pt2] [--repeats 50]

Times the whole library path a user calls (`e3d bonds`, the app's live table): edge_energies (neighbour list,
forward pass, sum rule) + pair_table (ε_ij, D_ij, bond types; a sum's parts' D_ij) + with_seed_sd (a seed mean's
σ over its seeds).  Target: ≤ 20 ms at 30 atoms.
"""

import argparse

from _common import default_model, machine, timeit

from e3d import edge_energies, from_smiles, load_model, pair_table
from e3d.pairs import with_seed_sd

MOLECULES = {10: "CCC=O", 30: "CCCCCCCCCO", 60: "CCCCCCCCCCCCCCCCCCCO"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--compiled", default=None, help="an AOTInductor .nequip.pt2 to time as well")
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    models = {"eager": load_model(args.model or default_model(), device="cpu")}
    if args.compiled:
        models["aotinductor"] = load_model(args.compiled, device="cpu")
    print(f"# bonds_latency: {machine()}; model {models['eager'].name}")
    print(f"{'atoms':>5} {'kind':>12} {'median ms':>10} {'p95 ms':>8} {'bonds':>6}")
    for n, smi in MOLECULES.items():
        mol = from_smiles(smi)
        assert mol.n_atoms == n, (smi, mol.n_atoms)
        for kind, model in models.items():
            def run():
                (r,) = edge_energies(model, [mol])
                return with_seed_sd(pair_table(r), model)

            med, p95 = timeit(run, repeats=args.repeats)
            print(f"{n:5d} {kind:>12} {med * 1e3:10.2f} {p95 * 1e3:8.2f} {int(run()['bonded'].sum()):6d}")


if __name__ == "__main__":
    main()
