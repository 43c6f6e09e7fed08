"""Study runs compared at equal training steps: the best validation energy and force errors each run had
reached by each step (from the shipped curves, precomputed/study/curves.parquet).

    python bench/curves_at_steps.py r3.0-qm9-1k-w2-s1 r3.0-qm9-1k-s1 r3.0-qm9-1k-s2 r3.0-qm9-1k-s3 \
        [--steps 4000,8000,16000,24000] [--curves precomputed/study/curves.parquet]

A run that had not reached a step shows '–' there.  Training steps, not hours: a wider model costs more
per step (bench/train_throughput.py prices it).
"""

import argparse
import os
import sys

import pandas as pd

from _common import ROOT


def best_by_step(curve: pd.DataFrame, steps) -> list:
    """'E meV/atom / F eV/Å' of the best validation loss reached by each step ('–' past the curve's end)."""
    out = []
    for step in steps:
        seen = curve[curve["step"] <= step]
        if curve["step"].max() < step or seen.empty:
            out.append("–")
            continue
        best = seen.loc[seen["weighted_sum"].idxmin()]
        out.append(f"{1000 * best['per_atom_energy_mae']:.1f} / {best['forces_mae']:.3f}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="study run ids")
    p.add_argument("--steps", default="4000,8000,16000,24000", help="comma-separated training steps")
    p.add_argument("--curves", default=os.path.join(ROOT, "precomputed", "study", "curves.parquet"))
    args = p.parse_args()
    curves = pd.read_parquet(args.curves)
    unknown = sorted(set(args.runs) - set(curves["run_id"]))
    if unknown:
        print(f"no curve for {', '.join(unknown)} in {args.curves}", file=sys.stderr)
        return 2
    steps = [int(s) for s in args.steps.split(",")]
    print("validation E MAE (meV/atom) / F MAE (eV/Å) at the best validation loss reached by each step\n")
    print("| run | " + " | ".join(f"{s:,} steps" for s in steps) + " | final (steps) |")
    print("|---|" + "---|" * (len(steps) + 1))
    for run in args.runs:
        curve = curves[curves["run_id"] == run]
        final = best_by_step(curve, [int(curve["step"].max())])[0]
        print(f"| {run} | " + " | ".join(best_by_step(curve, steps)) + f" | {final} ({int(curve['step'].max()):,}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
