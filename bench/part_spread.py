"""Where the seeds of a sum part (docs/STUDY_LOG.md "Session 36"): per bond type, each seed's median D_ij of the
model and of each of its parts, with their s.d. over the seeds (kcal/mol; precomputed/pairs.parquet), and the R² of the
model's medians against mean bond enthalpies per seed, with and without the bond type that limits it.

    python bench/part_spread.py [ENSEMBLE] [--types C-H C-C …]

ENSEMBLE is a shipped seed ensemble's base id (default dft-locdelta: GFN2-xTB model + Δ model, three seeds).
"""

import argparse
import os

import pandas as pd

from e3d.bondtypes import compare_with_mean_enthalpies
from e3d.cards import MODELS_DIR, REPO_ROOT
from e3d.ensemble import ensemble_members, part_medians_by_type
from e3d.family import read_index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ensemble", nargs="?", default="dft-locdelta")
    ap.add_argument("--types", nargs="+", default=["C-H", "C-C", "C-N", "C-O", "N-H", "O-H", "C=O", "C-F"])
    args = ap.parse_args()
    members = ensemble_members(read_index(MODELS_DIR)).get(args.ensemble)
    if not members:
        raise SystemExit(f"error: {args.ensemble} is not a shipped seed ensemble")
    pairs = pd.read_parquet(os.path.join(REPO_ROOT, "precomputed", "pairs.parquet"))
    full = part_medians_by_type(pairs, members)
    table = full[full["bond_type"].isin(args.types)]
    table = table.set_index("bond_type").loc[[t for t in args.types if t in set(table["bond_type"])]].reset_index()
    print(f"median D_ij per bond type, kcal/mol, seeds {', '.join(members)} (s.d. over the seeds):")
    print(table.round(1).to_string(index=False))
    # the R² target reads these medians (types with ≥ 3 bonds, as precomputed/bondtypes.parquet): which type limits it
    model = full[(full["part"] == "model") & (full["n"] >= 3)].set_index("bond_type")
    print("R² of the per-type medians vs mean bond enthalpies, per seed: all types; without the type that limits it")
    for member in members:
        medians = model[member].dropna()
        without = {t: compare_with_mean_enthalpies(medians.drop(t))["r2"] for t in medians.index}
        worst = max(without, key=without.get)
        print(f"  {member}: {compare_with_mean_enthalpies(medians)['r2']:.2f}; without {worst} {without[worst]:.2f}")


if __name__ == "__main__":
    main()
