"""Parity metrics of a predicted series against a reference (kcal/mol or any unit): what every table reports."""

from __future__ import annotations

from typing import Dict, Iterable

import numpy as np


def parity_metrics(reference: Iterable[float], predicted: Iterable[float]) -> Dict[str, float]:
    """n, MAE, RMSE, R² (of the identity line), least-squares slope/intercept, Spearman ρ."""
    from scipy.stats import spearmanr

    x = np.asarray(list(reference), dtype=float)
    y = np.asarray(list(predicted), dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(len(x))
    if n < 2:
        return {"n": n, "mae": float("nan"), "rmse": float("nan"), "r2": float("nan"),
                "slope": float("nan"), "intercept": float("nan"), "spearman": float("nan")}
    err = y - x
    ss_tot = float(np.sum((x - x.mean()) ** 2))
    # a reference without spread (e.g. a difference that is zero everywhere) has no slope and no ranking
    slope, intercept = np.polyfit(x, y, 1) if ss_tot > 0 else (float("nan"), float("nan"))
    return {
        "n": n,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "slope": float(slope),
        "intercept": float(intercept),
        # no ranking without spread on both sides, checked exactly: the sum of squares of equal floats need not be 0
        # (scipy would warn and return NaN)
        "spearman": float(spearmanr(x, y).statistic) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan"),
    }
