"""What a learned bond energy knows within a bond type: its miss split into per-type offsets and the rest.

How an edge decomposition shares a molecule's energy between bond types (how much goes to C–H, how much
to C–O) is fixed only loosely by energies and forces, and the sum rule forces a mean miss on each
molecule (docs/E3D_METHOD.md §4d–e); whether the model ranks bonds *of one type* by their environment —
a tertiary C–H weaker than a primary one — is a separate question.  For bond type t with rows k
(n_t ≥ ``min_rows``), predicted D_k, reference B_k, error e_k = D_k − B_k (kcal/mol):

    offset_k        = mean over the other rows l ≠ k of type t of e_l          (leave one out)
    D_k − offset_k                                   the prediction with its type's offset taken out
    type mean_k     = mean over the other rows l ≠ k of type t of B_l          (the type alone, no model)
    offset share    = Σ_t n_t ē_t² / Σ_k e_k²        (how much of the mean-square miss is a constant per type)
    within-type ρ   = Spearman ρ of (D_k − D̄_t) against (B_k − B̄_t), pooled over the types

so "D_ij with its type's offset taken out" beats "the type mean" only if D_ij carries the environment
within a type; both use the same reference rows (the one left out excluded), neither is a prediction from
the model alone.  docs/E3D_METHOD.md §4j.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import numpy as np
import pandas as pd

from .metrics import parity_metrics

MIN_ROWS = 4  # rows a bond type needs: with fewer the leave-one-out offset rests on two values

# what a row says about its bond → what it is measured against (column names of an `e3d bde` table)
COMPARISONS = {
    "d_vs_exp298": ("e3d_bde_298_kcal_mol", "bde_kcal_mol"),
    "d_vs_rigid": ("e3d_bde_kcal_mol", "rigid_reference_bde_kcal_mol"),
    "frag_vs_exp298": ("model_fragment_bde_298_kcal_mol", "bde_kcal_mol"),
    "ref_vs_exp298": ("reference_bde_298_kcal_mol", "bde_kcal_mol"),
}
COMPARISON_NAMES = {"d_vs_exp298": "E3D D_ij vs experiment (298 K)",
                    "d_vs_rigid": "E3D D_ij vs the labels' rigid BDE",
                    "frag_vs_exp298": "the model's own fragment BDE vs experiment (298 K)",
                    "ref_vs_exp298": "the labels' own BDE vs experiment (298 K)"}
KEYS = ("n", "n_types", "mae", "offset_share", "offset_corrected_mae", "offset_corrected_rho", "type_mean_mae",
        "within_rho")


def _frame(reference: Iterable[float], predicted: Iterable[float], types: Iterable[str],
           min_rows: int) -> pd.DataFrame:
    """Finite pairs of the types with ≥ ``min_rows`` of them, with each row's leave-one-out terms."""
    d = pd.DataFrame({"ref": np.asarray(list(reference), float), "pred": np.asarray(list(predicted), float),
                      "type": list(types)})
    d = d[np.isfinite(d["ref"]) & np.isfinite(d["pred"])]
    d = d[d.groupby("type")["ref"].transform("size") >= min_rows].copy()
    d["err"] = d["pred"] - d["ref"]
    g = d.groupby("type")
    n = g["err"].transform("size")
    d["offset"] = (g["err"].transform("sum") - d["err"]) / (n - 1)
    d["type_mean"] = (g["ref"].transform("sum") - d["ref"]) / (n - 1)
    d["ref_dev"], d["pred_dev"] = d["ref"] - g["ref"].transform("mean"), d["pred"] - g["pred"].transform("mean")
    return d


def _summary(d: pd.DataFrame) -> Dict[str, float]:
    if len(d) < 2:
        return {**{k: np.nan for k in KEYS}, "n": int(len(d)), "n_types": int(d["type"].nunique())}
    corrected = parity_metrics(d["ref"], d["pred"] - d["offset"])
    within = parity_metrics(d["ref_dev"], d["pred_dev"])
    square = float((d["err"] ** 2).sum())
    per_type = d.groupby("type")["err"].agg(["size", "mean"])
    return {"n": int(len(d)), "n_types": int(len(per_type)), "mae": float(d["err"].abs().mean()),
            "offset_share": float((per_type["size"] * per_type["mean"] ** 2).sum() / square) if square else np.nan,
            "offset_corrected_mae": corrected["mae"], "offset_corrected_rho": corrected["spearman"],
            "type_mean_mae": float((d["type_mean"] - d["ref"]).abs().mean()), "within_rho": within["spearman"]}


def type_offset_split(reference: Iterable[float], predicted: Iterable[float], types: Iterable[str],
                      min_rows: int = MIN_ROWS) -> Dict[str, float]:
    """On the rows of types with ≥ ``min_rows`` rows: n, n_types, MAE, the per-type offsets' share of the
    mean-square miss, MAE and Spearman ρ with each type's leave-one-out offset taken out, the MAE of the
    type mean alone (leave one out) and the pooled within-type ρ (kcal/mol; NaN with < 2 rows)."""
    return _summary(_frame(reference, predicted, types, min_rows))


def by_type(reference: Iterable[float], predicted: Iterable[float], types: Iterable[str],
            min_rows: int = MIN_ROWS) -> pd.DataFrame:
    """One row per bond type with ≥ ``min_rows`` rows: n, mean offset (predicted − reference), the spread
    of the error about it (s.d.), Spearman ρ within the type, MAE with the leave-one-out offset taken out
    and MAE of the type mean alone (kcal/mol)."""
    d = _frame(reference, predicted, types, min_rows)
    rows = []
    for t, g in d.groupby("type"):
        rows.append({"bond_type": t, "n": int(len(g)), "offset": float(g["err"].mean()),
                     "error_sd": float(g["err"].std(ddof=1)),
                     "spearman": parity_metrics(g["ref"], g["pred"])["spearman"],
                     "offset_corrected_mae": float((g["err"] - g["offset"]).abs().mean()),
                     "type_mean_mae": float((g["type_mean"] - g["ref"]).abs().mean())})
    return pd.DataFrame(rows, columns=["bond_type", "n", "offset", "error_sd", "spearman", "offset_corrected_mae",
                                       "type_mean_mae"])


def within_type_metrics(bde: pd.DataFrame, rows: Optional[pd.Series] = None,
                        min_rows: int = MIN_ROWS) -> Dict[str, float]:
    """:func:`type_offset_split` of every :data:`COMPARISONS` entry on ``rows`` of an ``e3d bde`` table, as
    flat columns ``within_{comparison}_{key}`` (NaN where the table lacks a column)."""
    ok = bde["error"].isna() if rows is None else rows
    out: Dict[str, float] = {}
    for tag, (pred, ref) in COMPARISONS.items():
        if pred in bde and ref in bde:
            split = type_offset_split(bde.loc[ok, ref], bde.loc[ok, pred], bde.loc[ok, "bond_type"], min_rows)
        else:
            split = {k: np.nan for k in KEYS}
        out.update({f"within_{tag}_{k}": v for k, v in split.items()})
    return out


def sentence(split: Dict[str, float], name: str) -> str:
    """:func:`type_offset_split` in one line (the CLI's and the app's wording)."""
    return (f"{name}, {split['n']} rows of {split['n_types']} bond types with ≥ {MIN_ROWS} rows: per-type offsets "
            f"are {100 * split['offset_share']:.0f} % of the mean-square miss; MAE {split['mae']:.1f} → "
            f"{split['offset_corrected_mae']:.1f} kcal/mol with each type's offset (from its other rows) taken out "
            f"(ρ {split['offset_corrected_rho']:.2f}; the type's mean alone: MAE {split['type_mean_mae']:.1f}); "
            f"within-type ρ {split['within_rho']:.2f}")


def seed_mean_split(bde: pd.DataFrame, members: List[str], comparison: str,
                    min_rows: int = MIN_ROWS) -> Dict[str, Dict[str, float]]:
    """:func:`type_offset_split` of one :data:`COMPARISONS` entry for the members' values averaged bond by bond
    (``seed_mean``) and for each member alone (``members``: their mean), on the bonds every member has in its
    headline set (:func:`e3d.ensemble.member_table`): what averaging the seeds does within a type."""
    from .ensemble import member_table

    pred, ref = COMPARISONS[comparison]
    wide = member_table(bde, members, pred)
    if ref not in wide or not len(wide):
        empty = _summary(_frame([], [], [], min_rows))
        return {"seed_mean": empty, "members": empty}
    each = [type_offset_split(wide[ref], wide[m], wide["bond_type"], min_rows) for m in members if m in wide]
    return {"seed_mean": type_offset_split(wide[ref], wide[[m for m in members if m in wide]].mean(axis=1),
                                           wide["bond_type"], min_rows),
            "members": {k: float(np.mean([e[k] for e in each])) for k in KEYS}}
