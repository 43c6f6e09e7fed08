"""Bench 6: the cost of one DFT training frame on this machine (why `data dft` needs a GPU).

    python bench/dft_frame.py [--level B3LYP/def2-SVP] [SMILES ...]

Each species is relaxed with GFN2-xTB (as `data dft` does), then labelled once with
`e3d.data.dft.energy_and_forces`: UKS, broken-symmetry guess for singlets, stability analysis,
analytic forces.  Prints seconds per frame.
"""

import argparse
import time

from _common import machine

from e3d import from_smiles
from e3d.bde import xtb_relaxed
from e3d.data import dft


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("smiles", nargs="*", default=["[CH2]O", "CC=O", "CCO"])
    ap.add_argument("--level", default=dft.TRAINING_LEVEL)
    args = ap.parse_args()
    print(f"# dft_frame: {machine()}; {args.level}, PySCF UKS + stability analysis + forces")
    for smi in args.smiles:
        mol = xtb_relaxed(from_smiles(smi))
        t0 = time.perf_counter()
        dft.energy_and_forces(mol.numbers, mol.positions, mol.charge, mol.multiplicity, args.level)
        print(f"{smi:12s} {mol.n_atoms:3d} atoms  {time.perf_counter() - t0:7.1f} s/frame", flush=True)


if __name__ == "__main__":
    main()
