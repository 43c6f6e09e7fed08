"""Bench 3: E3D bond energies vs what a user would otherwise run — GFN2-xTB relaxed-fragment BDEs.

    python bench/vs_xtb.py [--model M]

For every bond of the seed experimental table (29 bonds): E3D = D_ij of the bond in a
parent already at its geometry (one forward pass, all bonds at once), and E3D + relaxing
the parent with the model; GFN2-xTB = relax parent and both radical fragments (tblite,
spin-polarised) and take E(A)+E(B)−E(AB).  Wall time per bond, 1 thread.
"""

import argparse
import time

import pandas as pd
from _common import default_model, machine

from e3d import edge_energies, from_smiles, load_model, pair_table
from e3d.fragments import locate_bond
from e3d.references import xtb_energy
from e3d.calculator import relax_with_model
from e3d.precompute import EXP_BDE_TABLE


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    model = load_model(args.model or default_model(), device="cpu")
    rows = pd.read_csv(EXP_BDE_TABLE)
    parents = {s: from_smiles(s) for s in rows["parent_smiles"].unique()}
    t_e3d = t_relax = t_xtb = 0.0
    for r in rows.itertuples():
        mol = parents[r.parent_smiles]
        t0 = time.perf_counter()
        relaxed = relax_with_model(mol, model)
        t1 = time.perf_counter()
        i, j = locate_bond(relaxed, r.fragment_a, r.fragment_b)
        pairs = pair_table(edge_energies(model, [relaxed])[0])
        _ = pairs[(pairs["i"] == min(i, j)) & (pairs["j"] == max(i, j))]["D_ij"]
        t2 = time.perf_counter()
        _ = xtb_energy(from_smiles(r.fragment_a)) + xtb_energy(from_smiles(r.fragment_b)) - xtb_energy(mol)
        t3 = time.perf_counter()
        t_relax += t1 - t0
        t_e3d += t2 - t1
        t_xtb += t3 - t2
    n = len(rows)
    print(f"# vs_xtb: {machine()}; model {model.name}; {n} bonds of {len(parents)} parents")
    print(f"E3D D_ij at a given geometry:     {t_e3d / n * 1e3:8.1f} ms/bond")
    print(f"E3D with model relaxation:        {(t_e3d + t_relax) / n * 1e3:8.1f} ms/bond")
    print(f"GFN2-xTB relaxed-fragment BDE:    {t_xtb / n * 1e3:8.1f} ms/bond")
    print(f"speed-up vs GFN2-xTB: {t_xtb / t_e3d:.0f}× (given geometry), {t_xtb / (t_e3d + t_relax):.1f}× (with relaxation)")


if __name__ == "__main__":
    main()
