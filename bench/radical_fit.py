"""The radical-bias probe: does the emergence recipe, trained from fresh weights, fit radicals and closed shells alike?

    python bench/radical_fit.py SET.extxyz --test TEST.extxyz [--parents ethane,ethene,…] [--repeat radical=4]
        [--seeds 1 2 3] [--steps 20000] [--patience 80] [--lr 0.0012] [--tag NAME] [--out runs/probe]
        [HYDRA_OVERRIDE …]

Trains configs/emergence.yaml (energy weight 50 : 1, Adam at ``--lr``, ReduceLROnPlateau with ``--patience``) on SET —
or on the frames of some of its parent molecules (``--parents``: their ``parent`` names), or with each frame of a kind
repeated (``--repeat KIND=N``: a loss weight by repetition; the set is written to OUT with its provenance) — once per
seed, then prints each model's mean signed energy error by frame kind on the frames it trained on, the frames it was
validated on (nequip's seeded split) and TEST (``bench/kind_bias.py``), and how far its optimiser went (epochs, steps,
learning-rate cuts, Σ lr·step: ``bench/lr_integral.py``). Extra arguments are Hydra overrides for every run
(``training_module.model.radial_chemical_embed.num_splines=16``).
A run whose model exists is not trained again.  One thread; ~10 min a run for 571 frames, ~13 min for 132.
"""

import argparse
import json
import os

from _common import ROOT, machine

os.environ.setdefault("E3D_WORKERS", "1")

import ase.io  # noqa: E402

from kind_bias import report  # noqa: E402
from lr_integral import HEADER, describe  # noqa: E402

from e3d.model import load_model  # noqa: E402
from e3d.study import read_curve  # noqa: E402
from e3d.train import train  # noqa: E402

RECIPE = ["training_module.loss.coeffs.total_energy=50", "training_module.val_metrics.coeffs.per_atom_energy_mae=10"]


def parse_repeat(specs: list) -> dict:
    """``["radical=4"]`` → ``{"radical": 4}``: each frame of that kind is trained on that many times."""
    repeat = {}
    for spec in specs:
        kind, _, n = spec.partition("=")
        if not n.isdigit() or int(n) < 1:
            raise SystemExit(f"--repeat {spec!r}: expected KIND=N with N a whole number ≥ 1, e.g. radical=4")
        repeat[kind] = int(n)
    return repeat


def subset(path: str, parents: list, out_dir: str, repeat: dict = None) -> str:
    """The frames of ``path`` whose parent molecule is in ``parents`` (all if None), each frame whose ``kind`` is
    in ``repeat`` written that many times (a loss weight by repetition), to ``out_dir`` with its provenance."""
    repeat = repeat or {}
    frames = [a for a in ase.io.iread(path) if parents is None or a.info.get("parent") in parents]
    missing = sorted(set(parents or ()) - {a.info.get("parent") for a in frames})
    if missing:
        raise SystemExit(f"{path}: no frames of parent(s) {', '.join(missing)}")
    absent = sorted(set(repeat) - {a.info.get("kind") for a in frames})
    if absent:
        raise SystemExit(f"{path}: no frames of kind(s) {', '.join(absent)}")
    frames = [a for a in frames for _ in range(repeat.get(a.info.get("kind"), 1))]
    tag = (f"_{len(parents)}parents" if parents else "") + "".join(f"_{k}x{n}" for k, n in sorted(repeat.items()))
    name = os.path.basename(path).replace(".extxyz", f"{tag}.extxyz")
    out = os.path.join(out_dir, name)
    ase.io.write(out, frames)
    if os.path.exists(path + ".json"):
        prov = json.load(open(path + ".json"))
        prov.update(dataset=name, n_frames=len(frames), subset_of={"dataset": os.path.basename(path),
                                                                    "parents": sorted(parents) if parents else "all",
                                                                    "repeat": repeat})
        json.dump(prov, open(out + ".json", "w"), indent=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("set", help="labelled extxyz training file (e3d data dft / xtb)")
    ap.add_argument("--test", required=True, help="held-out labelled extxyz file")
    ap.add_argument("--parents", default=None, help="comma-separated parent molecules of SET to train on")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--patience", type=int, default=80, help="ReduceLROnPlateau patience, validations")
    ap.add_argument("--lr", type=float, default=0.0012, help="Adam learning rate (the recipe's fine-tunes: 1.2e-3; "
                    "configs/emergence.yaml from scratch: 2e-3)")
    ap.add_argument("--repeat", nargs="+", default=[], metavar="KIND=N",
                    help="train on each frame of KIND (eq, thermal, stretch, radical) N times; the validation split "
                         "then holds copies of training frames")
    ap.add_argument("--tag", default="radfit", help="model ids: TAG-sSEED")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "probe"))
    args, overrides = ap.parse_known_args()
    os.makedirs(args.out, exist_ok=True)
    parents, repeat = args.parents.split(",") if args.parents else None, parse_repeat(args.repeat)
    trainval = subset(args.set, parents, args.out, repeat) if parents or repeat else os.path.abspath(args.set)
    print(f"# radical_fit: {machine()}; {os.path.basename(trainval)}, {args.steps} steps, lr {args.lr:g}, "
          f"patience {args.patience}, overrides {' '.join(overrides) or 'none'}")
    for seed in args.seeds:
        model_id = f"{args.tag}-s{seed}"
        out = os.path.join(args.out, f"{model_id}.nequip.zip")
        if not os.path.exists(out):
            train(os.path.join(ROOT, "configs", "emergence.yaml"), os.path.join(args.out, model_id), out, model_id,
                  [f"seed={seed}", f"trainval_file={trainval}", f"test_file={os.path.abspath(args.test)}",
                   f"++trainer.max_steps={args.steps}", *RECIPE, f"training_module.optimizer.lr={args.lr}",
                   f"training_module.lr_scheduler.scheduler.patience={args.patience}", *overrides])
        report(load_model(out, device="cpu"), [trainval, args.test])
        print(HEADER, describe(model_id, read_curve(os.path.join(args.out, model_id))), sep="\n")


if __name__ == "__main__":
    main()
