"""How far the optimiser went in a training run: epochs (passes over its training frames), steps, learning-rate
cuts and Σ learning rate × steps (``e3d.convergence.lr_integral``).

    python bench/lr_integral.py [RUN_DIR …] [--study RUN_ID …]

RUN_DIR: an ``e3d train`` run folder (its CSV log, read by ``e3d.study.read_curve``; e.g. runs/probe/TAG-s1 of
bench/radical_fit.py). ``--study``: runs of the emergence study, read from precomputed/study/curves.parquet (a resumed
run's sessions joined). Reads logs only; seconds.
"""

import argparse
import os

import _common  # noqa: F401  (one thread)

import pandas as pd  # noqa: E402

from e3d.convergence import lr_integral  # noqa: E402
from e3d.study import STUDY_DIR, read_curve  # noqa: E402


HEADER = (f"{'run':<34} {'epochs':>6} {'steps':>9} {'first lr':>9} {'last lr':>9} {'Σ lr·step':>9}   "
          "learning-rate cuts at step")


def describe(name: str, curve: pd.DataFrame) -> str:
    """One line under HEADER for a run's validation curve (e3d.study.read_curve's columns)."""
    if not len(curve):
        return f"{name:<34} no validations logged (not a run folder / not in the study's curves)"
    curve = curve.sort_values("step")
    lr = curve["learning_rate"].ffill() if "learning_rate" in curve else pd.Series(dtype=float)
    cuts = curve.loc[lr.ne(lr.shift()) & lr.shift().notna(), "step"].astype(int).tolist()
    first, last = (lr.dropna().iloc[0], lr.dropna().iloc[-1]) if lr.notna().any() else (float("nan"),) * 2
    shown = ", ".join(f"{s:,}" for s in cuts[:6]) + (f", … ({len(cuts)})" if len(cuts) > 6 else "")
    return (f"{name:<34} {len(curve):>6,} {int(curve['step'].max()):>9,} {first:>9.2g} {last:>9.2g} "
            f"{lr_integral(curve):>9.1f}   {shown or 'none'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dirs", nargs="*", help="e3d train run folders")
    ap.add_argument("--study", nargs="*", default=[], help="emergence-study run ids (precomputed/study/curves.parquet)")
    args = ap.parse_args()
    if not args.run_dirs and not args.study:
        ap.error("give run folders and/or --study run ids")
    missing = [d for d in args.run_dirs if not os.path.isdir(d)]
    if missing:
        raise SystemExit(f"no such run folder: {', '.join(missing)}")
    print(HEADER)
    for run_dir in args.run_dirs:
        print(describe(os.path.basename(os.path.normpath(run_dir)), read_curve(run_dir)))
    if args.study:
        curves = pd.read_parquet(os.path.join(STUDY_DIR, "curves.parquet"))
        for run_id in args.study:
            print(describe(run_id, curves[curves["run_id"] == run_id]))


if __name__ == "__main__":
    main()
