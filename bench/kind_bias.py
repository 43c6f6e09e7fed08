"""Mean signed energy error per frame kind (eq, thermal, stretch, radical), in and out of sample.

    python bench/kind_bias.py MODEL SET.extxyz [SET.extxyz ...] [--limit N]

For each labelled set (with its provenance JSON): the model's mean signed error E_model − E_label per frame and
its MAE, by kind, in kcal/mol, on the frames whose bond types the model saw (frames of other types — hydrogen
fluoride for a QM9-trained model — are counted and left out: extrapolation, not fit).  A bond dissociation energy
is radicals minus parent, so a radical bias below an eq bias lowers every BDE the model computes from its energies.
"""

import argparse
import os
import shutil
import tempfile

from _common import machine

import ase.io

from e3d.evaluate import evaluate
from e3d.model import load_model
from e3d.pairs import frame_bond_types
from e3d.units import KCAL_PER_EV

KINDS = ("eq", "thermal", "stretch", "radical")


def in_domain(model, atoms) -> bool:
    return not model.unseen_bond_types(frame_bond_types(atoms) or {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--limit", type=int, default=None, help="first N frames of each set")
    args = ap.parse_args()
    model = load_model(args.model, device="cpu")
    print(f"# kind_bias: {machine()}; model {model.name} ({model.card.get('level_of_theory')})")
    print("# mean signed error / MAE per frame (kcal/mol), frames of bond types the model saw")
    print(f"{'set':<55} {'frames':>6} {'left out':>8} " + " ".join(f"{k:>15}" for k in KINDS))
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.sets:
            frames = list(ase.io.iread(path, index=f":{args.limit or ''}"))
            kept = [a for a in frames if in_domain(model, a)]
            sub = os.path.join(tmp, os.path.basename(path))
            ase.io.write(sub, kept, format="extxyz")
            shutil.copy(path + ".json", sub + ".json")
            r = evaluate(model, sub)
            cells = [f"{r[f'{k}_energy_bias'] * KCAL_PER_EV:+7.1f} / {r[f'{k}_energy_mae'] * KCAL_PER_EV:5.1f}"
                     if f"{k}_energy_bias" in r else f"{'–':>15}" for k in KINDS]
            print(f"{os.path.basename(path):<55} {r['n_frames']:6d} {len(frames) - len(kept):8d} " + " ".join(cells))


if __name__ == "__main__":
    main()
