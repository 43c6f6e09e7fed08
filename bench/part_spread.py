"""Where the seeds of a sum part (docs/STUDY_LOG.md "Sessions 36–37"): per bond type, each seed's median D_ij of the
model and of each of its parts, with their s.d. over the seeds (kcal/mol), beside the mean bond enthalpy and the labels'
bond-additive fit; per seed the R² of the model's medians against mean bond enthalpies (all types, and without the type
that limits it) and against the labels' fit (docs/E3D_METHOD.md §4b).

    python bench/part_spread.py [ENSEMBLE] [--types C-H C-C …]
    python bench/part_spread.py --sum PARENT1 DELTA1 --sum PARENT2 DELTA2 … [--fit DATASET]

ENSEMBLE is a shipped seed ensemble's base id (default dft-locdelta: GFN2-xTB model + Δ model, three seeds; pairs from
precomputed/pairs.parquet). ``--sum`` instead sums model files not shipped as one (one ``--sum`` per seed, e.g. study
runs' GFN2-xTB models with the shipped Δ models) and computes their pairs on the evaluation corpus (~30 s a sum).
DATASET is the training set whose bond-additive fit (precomputed/baseline.parquet) the medians are held against:
default the ensemble's (for ``--sum``, dft-locdelta's: the Δ models' DFT labels).
"""

import argparse
import json
import os
import tempfile
from typing import List, Sequence, Tuple

import pandas as pd

from e3d.bondtypes import baseline_per_type, compare_per_type, corpus_molecules, corpus_pairs, mean_bond_enthalpies
from e3d.cards import MODELS_DIR, REPO_ROOT, file_id, read_card
from e3d.corpus import evaluation_corpus
from e3d.ensemble import ensemble_members, part_medians_by_type
from e3d.family import read_index
from e3d.model import load_model
from e3d.precompute import read_table


def live_pairs(sums: Sequence[Sequence[str]]) -> Tuple[pd.DataFrame, List[str]]:
    """The pair tables of ad-hoc sums of model files on the evaluation corpus (as precompute builds them), each
    tagged with a member name "sum K (first part's id)"."""
    mols, frames, members = corpus_molecules(evaluation_corpus()), [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, parts in enumerate(sums, start=1):
            path = os.path.join(tmp, f"sum{k}.sum.json")
            with open(path, "w") as fh:
                json.dump({"parts": [os.path.abspath(p) for p in parts]}, fh)
            model = load_model(path, device="cpu")
            pairs = corpus_pairs(model, [m for m in mols if set(m.symbols) <= set(model.usable_type_names)])
            members.append(f"sum {k} ({file_id(parts[0])})")
            frames.append(pairs.assign(model_id=members[-1]))
    return pd.concat(frames, ignore_index=True), members


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ensemble", nargs="?", default="dft-locdelta")
    ap.add_argument("--sum", nargs="+", action="append", metavar="MODEL", dest="sums",
                    help="one seed's parts (model files); once per seed, instead of a shipped ensemble")
    ap.add_argument("--fit", metavar="DATASET", help="training set of the bond-additive fit (default: the ensemble's)")
    ap.add_argument("--types", nargs="+", default=["C-H", "C-C", "C-N", "C-O", "N-H", "O-H", "C=O", "C-F"])
    args = ap.parse_args()
    index = read_index(MODELS_DIR)
    members = ensemble_members(index).get(args.ensemble)
    if not members:
        raise SystemExit(f"error: {args.ensemble} is not a shipped seed ensemble")
    first = next(m for m in index["models"] if m["id"] == members[0])
    dataset = args.fit or read_card(os.path.join(MODELS_DIR, first["file"])).get("dataset")
    if args.sums:
        if len(args.sums) < 2 or any(len(s) < 2 for s in args.sums):
            raise SystemExit("error: give --sum once per seed (≥ 2), each with ≥ 2 model files")
        missing = [p for s in args.sums for p in s if not os.path.exists(p)]
        if missing:
            raise SystemExit(f"error: no such model file: {', '.join(missing)}")
        pairs, members = live_pairs(args.sums)
    else:
        pairs = pd.read_parquet(os.path.join(REPO_ROOT, "precomputed", "pairs.parquet"))
    fit = baseline_per_type(read_table(os.path.join(REPO_ROOT, "precomputed"), "baseline"), dataset)
    mbe = mean_bond_enthalpies().set_index("bond_type")["mean_bond_enthalpy_kcal_mol"]
    full = part_medians_by_type(pairs, members)
    table = full[full["bond_type"].isin(args.types)]
    table = table.set_index("bond_type").loc[[t for t in args.types if t in set(table["bond_type"])]].reset_index()
    is_model = table["part"] == "model"
    table.loc[is_model, "mean bond enthalpy"] = table.loc[is_model, "bond_type"].map(mbe)
    table.loc[is_model, "labels' fit"] = table.loc[is_model, "bond_type"].map(fit)
    print(f"median D_ij per bond type, kcal/mol, seeds {', '.join(members)} (s.d. over the seeds); labels' fit: "
          f"{dataset}")
    print(table.round(1).to_string(index=False, na_rep=""))
    # the R² target reads these medians (types with ≥ 3 bonds, as precomputed/bondtypes.parquet): which type limits it
    model = full[(full["part"] == "model") & (full["n"] >= 3)].set_index("bond_type")
    print("per seed, the per-type medians against mean bond enthalpies: R² (all types; without the type that limits "
          "it), and against the labels' fit: R² / MAE (kcal/mol)")
    for member in members:
        medians = model[member].dropna()
        without = {t: compare_per_type(medians.drop(t), mbe)["r2"] for t in medians.index}
        worst = max(without, key=without.get)
        vs_fit = compare_per_type(medians, fit) if len(fit) else {"r2": float("nan"), "mae": float("nan")}
        print(f"  {member}: vs mean bond enthalpies {compare_per_type(medians, mbe)['r2']:.2f} (without {worst} "
              f"{without[worst]:.2f}); vs the labels' fit {vs_fit['r2']:.2f} / {vs_fit['mae']:.1f}")


if __name__ == "__main__":
    main()
