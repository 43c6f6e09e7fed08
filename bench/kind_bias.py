"""Mean signed energy error per frame kind (eq, thermal, stretch, radical), in and out of sample.

    python bench/kind_bias.py MODEL SET.extxyz [SET.extxyz ...] [--limit N] [--species N] [--stretch] [--radicals]

For each labelled set: the model's mean signed error E_model − E_label per frame and its MAE, by kind, in kcal/mol,
on the frames whose bond types the model saw (frames of other types — hydrogen fluoride for a QM9-trained model — are
counted and left out: extrapolation, not fit).  A bond dissociation energy is radicals minus parent, so a radical
bias below an eq bias lowers every BDE the model computes from its energies.  ``--species N`` also lists, per set,
the N species (frame SMILES and kind) with the largest mean |error|.  The model's own training file (its card's
config and overrides, nequip's random train/validation split) is reported as its two sides: frames it trained on
and frames it was validated on.  ``--stretch`` also splits the stretched frames, acyclic and ring bonds apart, by their
stretched bond's length as a fraction of the model's cutoff (the bond found against the parent's eq frame in the
same set, ``e3d.data.frames.stretched_bond``): near and beyond r_max the model sees two radicals.  ``--radicals``
splits the radical frames by their radical centre (element; alkyl, next to N/O/S, next to a π bond, or a σ radical
on an sp² / aromatic / sp atom), QM9 parents (rigid fragments) and the curated corpus (relaxed radicals) apart.
"""

import argparse
import os

import numpy as np
import pandas as pd

from _common import machine

import ase.io

from rdkit import Chem, RDLogger

from e3d.data.build import is_curated
from e3d.data.frames import stretched_bond
from e3d.evaluate import frame_errors
from e3d.geometry import BOND_FACTOR, covalent_ratio
from e3d.model import load_model
from e3d.pairs import frame_bond_types
from e3d.train import training_split
from e3d.units import KCAL_PER_EV

KINDS = ("eq", "thermal", "stretch", "radical")
STRETCH_BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5)  # stretched bond length / r_max


def in_domain(model, atoms) -> bool:
    return not model.unseen_bond_types(frame_bond_types(atoms) or {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--limit", type=int, default=None, help="first N frames of each set")
    ap.add_argument("--species", type=int, default=0, help="list the N species with the largest mean |error|")
    ap.add_argument("--stretch", action="store_true",
                    help="stretched frames by the stretched bond's length / the model's r_max")
    ap.add_argument("--radicals", action="store_true", help="radical frames by their radical centre")
    args = ap.parse_args()
    model = load_model(args.model, device="cpu")
    print(f"# kind_bias: {machine()}")
    report(model, args.sets, args.limit, args.species, args.stretch, args.radicals)


def radical_centre(smiles: str) -> str:
    """The class of a radical's (first) radical centre, e.g. "C alkyl", "N π-conjugated", "C σ (sp2)"."""
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles or "")
    if mol is None:
        return "SMILES RDKit cannot parse"
    atom = next((a for a in mol.GetAtoms() if a.GetNumRadicalElectrons()), None)
    if atom is None:
        return "no radical atom in its SMILES"
    orders = {b.GetBondType() for b in atom.GetBonds()}
    if atom.GetIsAromatic() or orders & {Chem.BondType.DOUBLE, Chem.BondType.TRIPLE}:
        return f"{atom.GetSymbol()} σ ({'sp' if Chem.BondType.TRIPLE in orders else 'sp2'})"
    if any(n.GetIsAromatic() or any(b.GetBondType() in (Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)
                                   for b in n.GetBonds()) for n in atom.GetNeighbors()):
        return f"{atom.GetSymbol()} π-conjugated"
    if any(n.GetSymbol() in ("N", "O", "S") for n in atom.GetNeighbors()):
        return f"{atom.GetSymbol()} next to N/O/S"
    return f"{atom.GetSymbol()} alkyl"


def stretched_frames(frames, indices, r_max: float) -> pd.DataFrame:
    """Per frame: its stretched bond's length / r_max and whether the bond is in a ring (NaN / None where it is no
    stretched frame or its parent has no eq frame in the set).  A ring bond is stretched by moving its one atom
    alone (``e3d.geometry.moving_side``), away from that atom's own hydrogens: the only case where one atom with
    other bonds moves."""
    eq = {a.info.get("parent"): a for a in frames if a.info.get("kind") == "eq"}
    degree = {}  # bonded neighbours of each parent's atoms, computed once a parent
    rows = []
    for i in indices:
        frame, name = frames[i], frames[i].info.get("parent")
        parent = eq.get(name)
        if frame.info.get("kind") != "stretch" or parent is None or len(parent) != len(frame):
            rows.append((np.nan, None))
            continue
        if name not in degree:
            degree[name] = (covalent_ratio(parent.numbers, parent.positions) < BOND_FACTOR).sum(axis=1) - 1
        a, b = stretched_bond(frame.numbers, parent.positions, frame.positions)
        moved = np.flatnonzero(np.linalg.norm(frame.positions - parent.positions, axis=1) > 1e-6)
        rows.append((frame.get_distance(a, b) / r_max, len(moved) == 1 and degree[name][moved[0]] >= 2))
    return pd.DataFrame(rows, columns=["fraction", "ring"])


def report(model, sets, limit=None, species=0, stretch=False, radicals=False):
    """Print the model's mean signed error / MAE per frame kind on each set (its own training file: per side)."""
    print(f"# model {model.name} ({model.card.get('level_of_theory')}): mean signed error / MAE per frame "
          "(kcal/mol), frames of bond types the model saw")
    print(f"{'set':<55} {'frames':>6} {'left out':>8} " + " ".join(f"{k:>15}" for k in KINDS))
    for path in sets:
        frames = list(ase.io.iread(path, index=f":{limit or ''}"))
        for name, part in split_parts(model, path, frames, limit):
            seen = [i for i in part if in_domain(model, frames[i])]
            errors, _ = frame_errors(model, [frames[i] for i in seen])
            errors["error"] = errors["energy_error"] * KCAL_PER_EV
            bias = errors.groupby("kind")["error"].mean()
            mae = errors["error"].abs().groupby(errors["kind"]).mean()
            cells = [f"{bias[k]:+7.1f} / {mae[k]:5.1f}" if k in bias else f"{'–':>15}" for k in KINDS]
            print(f"{name:<55} {len(errors):6d} {len(part) - len(errors):8d} " + " ".join(cells))
            if stretch:
                st = stretched_frames(frames, seen, model.r_max)
                for ring, label in ((False, "acyclic"), (True, "ring")):
                    mask = (st["ring"] == ring).to_numpy()
                    by = pd.cut(st["fraction"][mask], STRETCH_BINS, right=False)
                    rows = errors["error"][mask].groupby(by.to_numpy(), observed=True).agg(["mean", "count"])
                    print(f"    stretched {label} bond / r_max ({model.r_max:g} Å): " + (", ".join(
                        f"[{b.left:g}, {b.right:g}) {r['mean']:+.1f} ({int(r['count'])})" for b, r in rows.iterrows())
                        or "none"))
            if radicals:
                source = pd.Series(["curated corpus" if is_curated(str(frames[i].info.get("parent", "")))
                                    else "QM9 parents" for i in seen], index=errors.index)
                for src in sorted(set(source)):  # QM9's rigid radicals and the corpus's relaxed ones apart
                    rad = errors[(errors["kind"] == "radical") & (source == src)]
                    per = rad["error"].groupby(rad["smiles"].map(radical_centre)).agg(["mean", "count"])
                    print(f"    radical frames by centre, {src}: " + (", ".join(
                        f"{c} {r['mean']:+.1f} ({int(r['count'])})"
                        for c, r in per.sort_values("count", ascending=False).iterrows()) or "none"))
            if species:
                per = errors.groupby(["smiles", "kind"])["error"].agg(["mean", "count"])
                worst = per.reindex(per["mean"].abs().sort_values(ascending=False).index).head(species)
                for (smiles, kind), row in worst.iterrows():
                    print(f"    {smiles:<30} {kind:<8} {row['mean']:+7.1f} kcal/mol over {int(row['count'])} frame(s)")


def split_parts(model, path, frames, limit):
    """(row name, frame indices): the model's own training file as its train and validation frames (nequip's
    seeded split, ``e3d.train.training_split``: "in sample" is only the train side), any other set whole."""
    name = os.path.basename(path)
    split = None if limit else training_split(model.card, len(frames))
    if split and os.path.abspath(split[0]) == os.path.abspath(path):
        return [(f"{name} [{side}]", sorted(split[1][side])) for side in split[1]]
    return [(name, range(len(frames)))]


if __name__ == "__main__":
    main()
