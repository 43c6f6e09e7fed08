"""Relaxing the BDE table's species with a model: one by one against batched (what `e3d bde` does).

    python bench/relax_batch.py [--model M] [--species N]

Every parent and fragment of the package BDE table (the first N), from the RDKit geometry `e3d bde` starts from:
`e3d.geometry.relax` with the model's ASE calculator, molecule after molecule, against
`e3d.calculator.relax_many_with_model` (one BFGS per molecule, one batched model call per step for all not yet
converged).  Prints both wall times and how far apart the minima are (Å; model energy, kcal/mol).
"""

import argparse
import time

import numpy as np
import pandas as pd
from _common import default_model, machine

from e3d.calculator import E3DCalculator, model_energy, relax_many_with_model
from e3d.corpus import BDE_REFERENCE
from e3d.geometry import SYMMETRY_BREAK, relax
from e3d.model import load_model
from e3d.molecule import from_smiles
from e3d.units import KCAL_PER_EV


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--species", type=int, default=None, help="the first N species only (default: all)")
    args = ap.parse_args()
    model = load_model(args.model or default_model(), device="cpu")
    table = pd.read_csv(BDE_REFERENCE)
    smiles = list(dict.fromkeys(table[["parent_smiles", "fragment_a", "fragment_b"]].to_numpy().ravel()))
    mols = [from_smiles(s) for s in smiles[:args.species]]
    print(f"# relax_batch: {machine()}; model {model.name}; {len(mols)} species of the package BDE table")
    t0 = time.perf_counter()
    alone = [relax(m, E3DCalculator(model), fmax=0.01, steps=500, displace=SYMMETRY_BREAK) for m in mols]
    t1 = time.perf_counter()
    batched = relax_many_with_model(mols, model)
    t2 = time.perf_counter()
    dx = max(np.abs(a.positions - b.positions).max() for a, b in zip(alone, batched))
    de = max(abs(model_energy(a, model) - model_energy(b, model)) for a, b in zip(alone, batched)) * KCAL_PER_EV
    print(f"one by one {t1 - t0:.1f} s, batched {t2 - t1:.1f} s ({(t1 - t0) / (t2 - t1):.1f}×); "
          f"largest difference of the minima {dx:.1e} Å, {de:.1e} kcal/mol in the model's energy")


if __name__ == "__main__":
    main()
