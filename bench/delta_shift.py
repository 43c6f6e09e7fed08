"""The Δ probes' numbers (docs/STUDY_LOG.md "Session 25"): how a model built on a parent moved D_ij.

    python bench/delta_shift.py MODEL [--parent ID] [--on MODEL2] [--by-type]

MODEL is a shipped model id (its rows of precomputed/bde.parquet) or an `e3d bde` output CSV (a probe,
with its `headline` column); the parent's rows come from precomputed/bde.parquet (default: the shipped
card's parent).  Prints, on MODEL's headline rows (or only those also headline for MODEL2), the
`e3d.inheritance` comparisons: D_ij − parent's vs the labels' shift (kcal/mol MAE / Spearman ρ), D_ij vs
its own labels' rigid BDE and vs experiment, the model's own rigid BDE vs its labels' and its own relaxed-fragment
BDE vs experiment; `--by-type` adds, per bond type, the mean signed miss (model − reference, kcal/mol) of the shift,
of the own rigid BDE and of D_ij against the labels' rigid BDE.
"""

import argparse
import os

import pandas as pd

from e3d.cards import REPO_ROOT
from e3d.family import shipped_cards
from e3d.inheritance import D, EXPERIMENT, OWN_RIGID, RIGID, inheritance_table, parents_from_cards
from e3d.metrics import parity_metrics

BDE = os.path.join(REPO_ROOT, "precomputed", "bde.parquet")


def rows_of(model: str, shipped: pd.DataFrame) -> pd.DataFrame:
    """A model's BDE rows: a CSV written by `e3d bde`, or a shipped model's rows."""
    if model.endswith(".csv"):
        return pd.read_csv(model).assign(model_id=model)
    return shipped[shipped["model_id"] == model]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--parent", help="parent model id (default: the shipped card's)")
    ap.add_argument("--on", help="keep only rows also headline for this model (id or CSV)")
    ap.add_argument("--by-type", action="store_true")
    args = ap.parse_args()
    shipped = pd.read_parquet(BDE)
    parent = args.parent or parents_from_cards(shipped_cards())[args.model]
    child = rows_of(args.model, shipped)
    if args.on:
        on = rows_of(args.on, shipped)
        kept = on.loc[on["headline"].eq(True), "label"]
        child = child.assign(headline=child["headline"].eq(True) & child["label"].isin(kept))
    table = pd.concat([child, shipped[shipped["model_id"] == parent]], ignore_index=True)
    r = inheritance_table(table, {args.model: parent}).iloc[0]
    rows = child[child["headline"].eq(True)].set_index("label")
    base = shipped[shipped["model_id"] == parent].set_index("label").reindex(rows.index)
    shift = rows[RIGID] - base[RIGID]  # the labels' shift of the rigid BDE
    exp = parity_metrics(rows[EXPERIMENT], rows["e3d_bde_298_kcal_mol"])
    own_exp = parity_metrics(rows[EXPERIMENT], rows["model_fragment_bde_298_kcal_mol"])
    print(f"{args.model} on {parent}, {r['n']} headline rows (labels' shift: mean |·| {shift.abs().mean():.1f}): "
          f"D_ij − parent's vs labels' shift "
          f"{r['d_shift_vs_labels_shift_mae']:.1f} / ρ {r['d_shift_vs_labels_shift_rho']:.2f}; "
          f"D_ij vs own labels (rigid) {r['d_vs_own_labels_rigid_mae']:.1f} / ρ {r['d_vs_own_labels_rigid_rho']:.2f}; "
          f"vs experiment (298 K) {exp['mae']:.1f} / ρ {exp['spearman']:.2f}; own rigid BDE vs own labels (rigid) "
          f"{r['own_rigid_vs_own_labels_rigid_mae']:.1f} / ρ {r['own_rigid_vs_own_labels_rigid_rho']:.2f}; "
          f"own fragment BDE vs experiment (298 K) {own_exp['mae']:.1f} / ρ {own_exp['spearman']:.2f}")
    if args.by_type:
        miss = pd.DataFrame({"shift miss": (rows[D] - base[D]) - shift,
                             "own rigid miss": rows[OWN_RIGID] - rows[RIGID],
                             "D_ij miss": rows[D] - rows[RIGID]})
        by_type = miss.groupby(rows["bond_type"])
        print("mean signed miss per bond type, kcal/mol (model − reference; vs own labels' rigid BDE):")
        print(by_type.mean().round(1).assign(rows=by_type.size()).to_string())


if __name__ == "__main__":
    main()
