"""When a training run has converged: one test, used to grade runs and to stop them.

:func:`converged` reads a validation curve (epoch, ``weighted_sum``, ``learning_rate``; the study's
curves, :func:`e3d.study.read_curve`).  :class:`StopWhenConverged` is a Lightning callback that applies
the same test while a run trains and stops it there, so that a step budget is a cap, not the length of
the run (configs/common.yaml ``convergence``; the study turns it on).
"""

from __future__ import annotations

import json
import os
from typing import Optional

import pandas as pd
from lightning.pytorch.callbacks import Callback

CONVERGED_REL_CHANGE = 0.02  # best validation loss improved < 2 % over the last 10 validations
LR_FACTOR = 0.6  # ReduceLROnPlateau factor (configs/common.yaml)
MONITOR = "val0_epoch/weighted_sum"


def after_cuts(learning_rate: pd.Series, cuts: int) -> pd.Series:
    """Where the learning rate has been cut at least ``cuts`` times from its first value (by the plateau
    scheduler's factor each time; NaN entries are False)."""
    return learning_rate <= learning_rate.dropna().iloc[0] * LR_FACTOR ** cuts * 1.001


def converged(curve: pd.DataFrame, window: int = 10, min_decays: int = 2,
              rel_change: float = CONVERGED_REL_CHANGE) -> bool:
    """True when the plateau scheduler has cut the learning rate at least ``min_decays`` times, ``window``
    validations have followed that cut, and the best validation loss improved by < ``rel_change`` over
    them (a run still at its first learning rate is still descending, however slowly; a cut needs its
    ``window`` validations to show what it buys, :func:`gain_after_cut`)."""
    if "weighted_sum" not in curve or len(curve) <= window:
        return False
    if "learning_rate" in curve and curve["learning_rate"].notna().any():
        # rows at the cut rate: the validation the scheduler cut at (the CSV log records the rate after it),
        # then ``window`` more; a row without a rate (a run's last: nothing logged after it) kept the one before
        if after_cuts(curve["learning_rate"].ffill().dropna(), min_decays).sum() <= window:
            return False
    best = curve["weighted_sum"].cummin().to_numpy()
    return bool((best[-window - 1] - best[-1]) / best[-window - 1] < rel_change)


def lr_integral(curve: pd.DataFrame) -> float:
    """Σ learning rate × steps over a run's curve (the optimiser's "distance": Adam's steps scale with the rate):
    each epoch's steps at the rate in force during them, the one recorded at the validation before (the CSV log
    records the rate after the scheduler's step; the first epoch ran at the first rate recorded)."""
    if "learning_rate" not in curve or curve["learning_rate"].isna().all() or not len(curve):
        return float("nan")
    curve = curve.sort_values("step")
    lr = curve["learning_rate"].ffill().bfill()
    steps = curve["step"].astype(float)
    return float((lr.shift(1, fill_value=lr.iloc[0]) * steps.diff().fillna(steps.iloc[0])).sum())


def gain_after_cut(curve: pd.DataFrame, cut: int = 2, window: int = 10) -> float:
    """How much the ``cut``-th learning-rate cut bought: the best validation loss over the ``window``
    validations from the cut on, relative to the best before it (0.01 = 1 % lower); NaN when the curve has
    no such cut or fewer than ``window`` validations from it: the measured case for :func:`converged`
    waiting ``window`` validations after the last cut it needs."""
    if "learning_rate" not in curve or curve["learning_rate"].isna().all():
        return float("nan")
    curve = curve.sort_values("epoch").reset_index(drop=True)
    lr = curve["learning_rate"].ffill()
    after = lr.index[after_cuts(lr, cut)]
    if len(after) == 0 or after[0] == 0 or len(curve) - after[0] < window:
        return float("nan")
    before = curve["weighted_sum"].iloc[:after[0]].min()
    return float((before - curve["weighted_sum"].iloc[after[0]:after[0] + window].min()) / before)


def merge_curves(earlier: Optional[pd.DataFrame], now: pd.DataFrame) -> pd.DataFrame:
    """Epoch rows of both; ``now`` wins where both have an epoch (e.g. a session's log over a card's copy)."""
    if earlier is None or earlier.empty:
        return now
    if now.empty:
        return earlier
    return pd.concat([earlier[~earlier["epoch"].isin(now["epoch"])], now], ignore_index=True).sort_values("epoch")


class StopWhenConverged(Callback):
    """Stop training at the first validation after which :func:`converged` holds.

    ``history``: a JSON file of the curve before this call (records of epoch, weighted_sum,
    learning_rate) — a resumed run's earlier sessions.  The learning rate recorded for an epoch is the
    one it trained at (the scheduler acts after the validation), so a cut is seen one validation later
    than in the CSV log's curve: the stop can come one epoch late, never early.
    """

    def __init__(self, enabled: bool = False, history: Optional[str] = None, window: int = 10,
                 min_decays: int = 2, rel_change: float = CONVERGED_REL_CHANGE):
        self.enabled, self.window, self.min_decays, self.rel_change = enabled, window, min_decays, rel_change
        self.earlier = pd.DataFrame()
        if enabled and history and os.path.exists(history):
            with open(history) as f:
                self.earlier = pd.DataFrame(json.load(f))
        self.rows = []

    def curve(self) -> pd.DataFrame:
        return merge_curves(self.earlier, pd.DataFrame(self.rows))

    def on_validation_end(self, trainer, pl_module):
        if not self.enabled or trainer.sanity_checking or MONITOR not in trainer.callback_metrics:
            return
        self.rows.append({"epoch": trainer.current_epoch, "step": trainer.global_step,
                          "weighted_sum": float(trainer.callback_metrics[MONITOR]),
                          "learning_rate": float(trainer.optimizers[0].param_groups[0]["lr"])})
        if converged(self.curve(), self.window, self.min_decays, self.rel_change):
            trainer.should_stop = True
