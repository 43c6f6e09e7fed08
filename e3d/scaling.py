"""Scaling with training-set size (E3D_METHOD §6): power-law fits on log-log axes."""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

import numpy as np


def fit_power_law(sizes: Iterable[float], values: Iterable[float]) -> Dict[str, float]:
    """value ≈ a · N^b by least squares on log-log axes; b is the scaling exponent."""
    n = np.asarray(list(sizes), dtype=float)
    y = np.asarray(list(values), dtype=float)
    ok = np.isfinite(n) & np.isfinite(y) & (n > 0) & (y > 0)
    if ok.sum() < 2:
        return {"a": float("nan"), "b": float("nan"), "r2_log": float("nan"), "n_points": int(ok.sum())}
    x, z = np.log(n[ok]), np.log(y[ok])
    b, log_a = np.polyfit(x, z, 1)
    pred = log_a + b * x
    ss_tot = float(np.sum((z - z.mean()) ** 2))
    r2 = 1.0 - float(np.sum((z - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return {"a": float(np.exp(log_a)), "b": float(b), "r2_log": r2, "n_points": int(ok.sum())}


def power_law_curve(fit: Dict[str, float], sizes: Iterable[float], points: int = 50) -> Tuple[np.ndarray, np.ndarray]:
    """(N, a · N^b) on a log-spaced grid across ``sizes``, for drawing a :func:`fit_power_law` fit."""
    n = np.asarray(list(sizes), dtype=float)
    grid = np.geomspace(n.min(), n.max(), points)
    return grid, fit["a"] * grid ** fit["b"]


REACTIVITY_MEASURES = {  # column of models.parquet → what it measures (units)
    "bde_298_mae_vs_exp": "BDE MAE vs experiment, 298 K (kcal/mol)",
    "bde_mae_vs_reference": "BDE MAE vs the labels' own BDEs (kcal/mol)",
    "scan_mae_vs_reference_kcal_mol": "stretch-scan MAE vs the labels (kcal/mol)",
    "weakest_bond_accuracy": "weakest-bond accuracy (fraction of parents)",
}


def entropy_reactivity(models, measure: str, min_models: int = 3):
    """Spearman ρ across models between the count-weighted entropy H and a reactivity measure, and how
    many models have both (ρ is NaN below ``min_models``)."""
    ok = models[["entropy_weighted_nats", measure]].dropna()
    rho = ok.corr(method="spearman").iloc[0, 1] if len(ok) >= min_models else float("nan")
    return float(rho), int(len(ok))
