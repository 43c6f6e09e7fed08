"""Bench 2: throughput on a 1,000-molecule set and the ratio to the bare forward pass.

    python bench/throughput.py [--model M] [--n 1000] [--batch-atoms 4096] [--dtype float32] [--repeats 5]

The set: the first N molecules of QM9's fixed test split (RDKit 3D from their SMILES,
embedding not timed).  "E3D" is the library path of `batch`/`bonds` (neighbour lists,
batched forward, sum rule, one pair table with bond types for all molecules); "floor" is the model's forward pass alone on the
very same prepared batches; each is timed ``--repeats`` times, interleaved, best taken (the
machine is shared).  Target: E3D / floor ≤ 1.15.  ``--dtype float32`` runs the float64-trained
model in float32 and prints the largest sum-rule residual.
"""

import argparse
import time

from _common import default_model, machine

import torch

import dataclasses

from e3d import edge_energies, from_smiles, load_model
from e3d.edges import molecules_to_data, pack_batches
from e3d.pairs import pairs_for_molecules


def qm9_molecules(n):
    from e3d.data.qm9 import read_qm9, splits

    from e3d.errors import InputError

    df = read_qm9()
    mols = []
    for k in splits(len(df))["test"]:
        try:
            mols.append(from_smiles(df.iloc[int(k)]["SMILES"], name=str(int(k))))
        except InputError:  # a few strained cages defeat ETKDG; take the next molecule
            continue
        if len(mols) == n:
            return mols
    return mols


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch-atoms", type=int, default=4096)
    ap.add_argument("--dtype", choices=["float64", "float32"], default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    model = load_model(args.model or default_model(), device="cpu", dtype=args.dtype)
    mols = [m for m in qm9_molecules(args.n) if set(m.symbols) <= set(model.usable_type_names)]
    groups = list(pack_batches(mols, args.batch_atoms))
    batches = [molecules_to_data([mols[k] for k in g], model) for g in groups]

    def floor():
        with torch.no_grad(), model.energy_only():
            for b in batches:
                model.module(b)

    def e3d():
        fresh = [dataclasses.replace(m) for m in mols]  # no cached bond typing: every molecule is new
        return pairs_for_molecules(edge_energies(model, fresh, max_batch_atoms=args.batch_atoms))

    floor()  # warm-up
    table = e3d()
    t_floor, t_e3d = float("inf"), float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter(); floor(); t_floor = min(t_floor, time.perf_counter() - t0)
        t0 = time.perf_counter(); e3d(); t_e3d = min(t_e3d, time.perf_counter() - t0)
    print(f"# throughput: {machine()}; model {model.name} ({str(model.dtype).replace('torch.', '')}); "
          f"{len(mols)} QM9 test molecules, {len(batches)} batches of ≤ {args.batch_atoms} atoms; "
          f"best of {args.repeats}")
    print(f"max |sum-rule residual|: {table['sum_rule_residual_eV'].abs().max():.1e} eV")
    print(f"floor (bare forward, prepared batches): {len(mols) / t_floor:8.1f} molecules/s")
    print(f"E3D (nl + forward + sum rule + pairs):  {len(mols) / t_e3d:8.1f} molecules/s")
    print(f"overhead ratio E3D/floor: {t_e3d / t_floor:.2f}")


if __name__ == "__main__":
    main()
