"""How far the optimiser went in a training run: epochs (passes over its training frames), steps, learning-rate
cuts and Σ learning rate × steps (``e3d.convergence.lr_integral``).

    python bench/lr_integral.py [RUN_DIR …] [--study RUN_ID …] [--validations]

RUN_DIR: an ``e3d train`` run folder (its CSV log, read by ``e3d.study.read_curve``; e.g. runs/probe/TAG-s1 of
bench/radical_fit.py). ``--study``: runs of the emergence study, read from precomputed/study/curves.parquet (a resumed
run's sessions joined). ``--validations``: under each run, every validation's step, learning rate and energy / force
errors (is a run at a high rate still descending, or jumping?). Reads logs only; seconds.
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


def validations(curve: pd.DataFrame) -> str:
    """Every validation of a run: step, learning rate, energy (meV/atom) and force (eV/Å) MAE."""
    rows = [f"    {'step':>9} {'lr':>9} {'E meV/atom':>10} {'F eV/Å':>7}"]
    for r in curve.sort_values("step").itertuples():
        rows.append(f"    {int(r.step):>9,} {getattr(r, 'learning_rate', float('nan')):>9.2g} "
                    f"{1000 * r.per_atom_energy_mae:>10.1f} {r.forces_mae:>7.3f}")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dirs", nargs="*", help="e3d train run folders")
    ap.add_argument("--study", nargs="*", default=[], help="emergence-study run ids (precomputed/study/curves.parquet)")
    ap.add_argument("--validations", action="store_true", help="also list every validation of each run")
    args = ap.parse_args()
    if not args.run_dirs and not args.study:
        ap.error("give run folders and/or --study run ids")
    missing = [d for d in args.run_dirs if not os.path.isdir(d)]
    if missing:
        raise SystemExit(f"no such run folder: {', '.join(missing)}")
    runs = [(os.path.basename(os.path.normpath(d)), read_curve(d)) for d in args.run_dirs]
    if args.study:
        curves = pd.read_parquet(os.path.join(STUDY_DIR, "curves.parquet"))
        runs += [(run_id, curves[curves["run_id"] == run_id]) for run_id in args.study]
    print(HEADER)
    for name, curve in runs:
        print(describe(name, curve))
        if args.validations and len(curve):
            print(validations(curve))


if __name__ == "__main__":
    main()
