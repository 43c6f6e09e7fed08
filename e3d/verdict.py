"""Where emergence holds, model by model (docs/E3D_METHOD.md §4g): graded findings from a model's metrics.

Each finding compares one bond-energy series of a model with one reference on the model's headline rows
(common organic bond types it saw, in its domain; MAE kcal/mol and Spearman ρ, the ``<key>_mae`` and
``<key>_rho`` columns of precomputed/models.parquet) and grades it against two bars:

- ``holds``: the emergence issue's target for that comparison (:data:`TARGETS`);
- ``partly``: better on both MAE and ρ than the labels' bond-additive fit (one energy per bond type,
  §4b) against the same reference — the series knows more about the bonds than their types;
- ``does not``: neither;
- ``below target``: the target is missed and there is no bond-type fit to compare with (a model whose
  training labels have no fit in precomputed/baseline.parquet).

The seed finding grades the spread of D_ij over a seed ensemble: ``holds`` when every bond type with
enough held-out bonds has σ ≤ :data:`SEED_SIGMA_TARGET`, else ``does not``.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd

from .ensemble import seed_sigma_by_group, spread_by_type

HOLDS, PARTLY, DOES_NOT, BELOW_TARGET = "holds", "partly", "does not", "below target"

# issue #11's targets, comparison key → (ρ at least, MAE at most in kcal/mol)
TARGETS = {
    "d_vs_rigid": (0.92, 6.0),  # D_ij vs the labels' rigid BDE (like with like)
    "relaxed_est_vs_relaxed": (0.9, 8.0),  # the model's relaxed estimate vs the labels' relaxed BDE
    "frag_vs_relaxed": (0.9, 8.0),  # no target of its own: the bar of the other relaxed-vs-relaxed comparison
    "d_vs_exp298": (0.8, 10.0),  # the main model's target against experiment
}
SEED_SIGMA_TARGET = 5.0  # kcal/mol, every bond type with ≥ ensemble.MIN_TYPE_BONDS held-out bonds
R2_TARGET = 0.9  # per-type medians of D against mean bond enthalpies

# (key of the series vs its reference, key of the bond-type fit vs the same reference, short name, the question)
FINDINGS = [
    ("frag_vs_relaxed", "fit_vs_relaxed", "own BDE vs labels",
     "Has it learned its labels' bond energies? (its own fragment BDE vs the labels' relaxed BDE)"),
    ("d_vs_rigid", "fit_vs_rigid", "D_ij vs rigid labels",
     "Do its edge energies hold them? (E3D D_ij vs the labels' rigid BDE)"),
    ("relaxed_est_vs_relaxed", "fit_vs_relaxed", "relaxed estimate vs labels",
     "Relaxed estimate from the edges (fragment cut − the model's own relaxation) vs the labels' relaxed BDE"),
    ("d_vs_exp298", "fit_vs_exp298", "D_ij vs experiment",
     "Does D_ij order and size bonds like experiment (298 K)?"),
]
SEEDS = "seeds agree"
BUDGET_TERMS = {"budget_accuracy_mae": "accuracy", "budget_locality_mae": "locality",
                "budget_partition_mae": "partition"}


def grade(mae: float, rho: float, key: str, fit_mae: float = float("nan"), fit_rho: float = float("nan")) -> str:
    """:data:`HOLDS`, :data:`PARTLY`, :data:`DOES_NOT` or :data:`BELOW_TARGET` for one comparison (``key``:
    which target; ``fit_*``: the bond-type fit against the same reference, NaN if there is none)."""
    rho_min, mae_max = TARGETS[key]
    if rho >= rho_min and mae <= mae_max:
        return HOLDS
    if pd.isna(fit_mae) or pd.isna(fit_rho):
        return BELOW_TARGET
    return PARTLY if mae < fit_mae and rho > fit_rho else DOES_NOT


def _why(metrics: pd.Series, key: str) -> str:
    """What the report knows about a miss: the largest error-budget term, the sum rule's share, the labels' cap."""
    if key == "d_vs_rigid":
        terms = {name: metrics.get(col) for col, name in BUDGET_TERMS.items() if pd.notna(metrics.get(col))}
        notes = []
        if terms:
            name = max(terms, key=terms.get)
            notes.append(f"largest part of the miss: {name} (mean |·| {terms[name]:.1f} kcal/mol)")
        if pd.notna(metrics.get("sum_rule_mean_offset")):
            offset = metrics["sum_rule_mean_offset"]
            notes.append(f"the sum rule alone puts D_ij {abs(offset):.1f} kcal/mol {'below' if offset < 0 else 'above'} "
                         "the rigid labels on average (−G/n_bonds, §4d)")
        return "; ".join(notes)
    if key == "d_vs_exp298":
        notes = []
        if pd.notna(metrics.get("ref_vs_exp298_mae")):
            notes.append(f"the labels themselves: MAE {metrics['ref_vs_exp298_mae']:.1f} / ρ "
                         f"{metrics['ref_vs_exp298_rho']:.2f}")
        if pd.notna(metrics.get("d_plus_relaxed_gap_vs_exp298_mae")):
            notes.append("with the sum rule's share taken out (D_ij + the labels' relaxed G/n_bonds, §4d): MAE "
                         f"{metrics['d_plus_relaxed_gap_vs_exp298_mae']:.1f} / ρ "
                         f"{metrics['d_plus_relaxed_gap_vs_exp298_rho']:.2f}")
        return "; ".join(notes)
    return ""


def findings(metrics: pd.Series, seed_sigma: Optional[pd.Series] = None) -> pd.DataFrame:
    """One row per finding for a model (``metrics``: its row of precomputed/models.parquet); ``seed_sigma``:
    its ensemble's row of :func:`ensemble_seed_sigma`, if it has seeds.  Columns: finding (short name),
    question, measured, bond-type fit, target, verdict, note."""
    rows = []
    for key, fit, short, question in FINDINGS:
        mae, rho = metrics.get(f"{key}_mae"), metrics.get(f"{key}_rho")
        if pd.isna(mae) or pd.isna(rho):
            continue
        fit_mae, fit_rho = metrics.get(f"{fit}_mae", float("nan")), metrics.get(f"{fit}_rho", float("nan"))
        rho_min, mae_max = TARGETS[key]
        rows.append({"finding": short, "question": question, "measured": f"MAE {mae:.1f} / ρ {rho:.2f}",
                     "bond-type fit": "–" if pd.isna(fit_mae) else f"MAE {fit_mae:.1f} / ρ {fit_rho:.2f}",
                     "target": f"ρ ≥ {rho_min:g}, MAE ≤ {mae_max:g}",
                     "verdict": grade(mae, rho, key, fit_mae, fit_rho), "note": _why(metrics, key)})
    if seed_sigma is not None and pd.notna(seed_sigma.get("worst")):
        rows.append({"finding": SEEDS, "question": f"Do its seeds agree on D_ij? (σ over {int(seed_sigma['n_seeds'])} seeds, "
                                 "worst bond type of the held-out corpus)",
                     "measured": f"σ {seed_sigma['worst']:.1f} ({seed_sigma['worst_type']})", "bond-type fit": "–",
                     "target": f"σ ≤ {SEED_SIGMA_TARGET:g} for every type",
                     "verdict": HOLDS if seed_sigma["worst"] <= SEED_SIGMA_TARGET else DOES_NOT,
                     "note": f"median over types σ {seed_sigma['median']:.1f}"})
    return pd.DataFrame(rows, columns=["finding", "question", "measured", "bond-type fit", "target", "verdict", "note"])


def ensemble_seed_sigma(bonds: pd.DataFrame) -> pd.DataFrame:
    """:func:`e3d.ensemble.seed_sigma_by_group` of every seed ensemble in an ensemble-bonds table
    (precomputed/ensemble_bonds.parquet), with a ``members`` column (model ids, comma-separated)."""
    if bonds.empty:
        return pd.DataFrame(columns=["worst_type", "worst", "median", "n_seeds", "members"])
    spread = pd.concat([spread_by_type(g).assign(group=base, n_seeds=int(g["n_members"].max()))
                        for base, g in bonds.groupby("ensemble")], ignore_index=True)
    members = bonds.groupby("ensemble")["members"].first()
    return seed_sigma_by_group(spread).join(members)


def seed_sigma_of(model_id: str, sigma: pd.DataFrame) -> Optional[pd.Series]:
    """The row of :func:`ensemble_seed_sigma` whose ensemble has ``model_id`` among its members, or None."""
    for _, row in sigma.iterrows():
        if model_id in str(row["members"]).split(","):
            return row
    return None


def verdict_table(models: pd.DataFrame, sigma: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Every model's verdict per finding, one row a model (the report's summary); ``sigma``:
    :func:`ensemble_seed_sigma` of the shipped seed ensembles (None: no seed finding)."""
    rows = []
    for _, m in models.iterrows():
        seeds = seed_sigma_of(m["model_id"], sigma) if sigma is not None else None
        f = findings(m, seeds).set_index("finding")
        rows.append({"model_id": m["model_id"], "level_of_theory": m.get("level_of_theory"),
                     **{name: f"{r['verdict']} ({r['measured']})" for name, r in f.iterrows()}})
    return pd.DataFrame(rows, columns=["model_id", "level_of_theory", *[f[2] for f in FINDINGS], SEEDS])
