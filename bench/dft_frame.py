"""Bench 6: the cost of one DFT training frame on this machine, by kind of frame.

    python bench/dft_frame.py [--level B3LYP/def2-SVP] [SMILES ...]

Each species is relaxed with GFN2-xTB (as `data dft` does), then labelled with
`e3d.data.dft.energy_and_forces` twice: at the minimum on the closed-shell path that `data dft`
takes for relaxed and thermal frames (RKS), and with one bond stretched by 40 % on the full
path it takes for stretched and radical frames (UKS, broken-symmetry guess for singlets,
one-root stability analysis).  Prints seconds per frame (analytic forces included).
"""

import argparse
import time

from _common import machine

from e3d import from_smiles
from e3d.references import xtb_relaxed
from e3d.data import dft


def seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("smiles", nargs="*", default=["CO", "CC=O", "CCO"])
    ap.add_argument("--level", default=dft.TRAINING_LEVEL)
    args = ap.parse_args()
    print(f"# dft_frame: {machine()}; {args.level}, PySCF + analytic forces")
    print(f"{'species':10s} {'atoms':>5s} {'near minimum (RKS)':>20s} {'stretched (UKS+BS+stability)':>30s}")
    for smi in args.smiles:
        mol = xtb_relaxed(from_smiles(smi))
        i, j = next((b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.rdmol.GetBonds()
                    if mol.symbols[b.GetBeginAtomIdx()] != "H" and mol.symbols[b.GetEndAtomIdx()] != "H")
        stretched = mol.positions.copy()
        stretched[j] = mol.positions[i] + 1.4 * (mol.positions[j] - mol.positions[i])
        near = seconds(lambda: dft.energy_and_forces(mol.numbers, mol.positions, 0, 1, args.level, near_minimum=True))
        full = seconds(lambda: dft.energy_and_forces(mol.numbers, stretched, 0, 1, args.level))
        print(f"{smi:10s} {mol.n_atoms:5d} {near:18.1f} s {full:28.1f} s", flush=True)


if __name__ == "__main__":
    main()
