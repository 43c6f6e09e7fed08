"""Frames where a trained model's own relaxations go (one round of active learning).

Each species of a labelled set — the first frame of every equilibrium parent and every radical, i.e. the
geometry the set was built from — is relaxed with the model; the model's minimum and the point half-way
to it are labelled with GFN2-xTB (kind ``model_minimum``).  What it teaches: the study's models relax the
BDE table's fragments further than GFN2-xTB does (the relaxation term, docs/E3D_METHOD.md §4c: −2.6 kcal/mol
per bond on average at energy : forces 2 : 1, −4.8 energy-weighted), and some fall into holes (§9); the
relaxed quantities (model fragment BDE, relaxed estimate) carry that error.  Frames at the places a model
goes are the labels it lacks there.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace
from typing import Dict, List, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..errors import E3DError
from ..geometry import RELAX_FMAX
from . import xtb

KIND = "model_minimum"
START_KINDS = ("eq", "radical")  # the species a set teaches: its parents and radicals (their first frame)
PATH_FRACTIONS = (0.5, 1.0)  # along the straight line from the start to the model's minimum


def start_frames(frames: Sequence, kinds: Sequence[str] = START_KINDS) -> List:
    """The first frame of each species (``name``) of the given kinds: the geometry it was built from
    (thermal copies of a species follow its first frame in a built set)."""
    seen, out = set(), []
    for atoms in frames:
        key = (atoms.info.get("name"), atoms.info.get("kind"), atoms.get_chemical_formula())
        if atoms.info.get("kind") in kinds and key not in seen:
            seen.add(key)
            out.append(atoms)
    return out


def path_geometries(frames: Sequence, model, fmax: float = RELAX_FMAX, steps: int = 200,
                    progress: bool = False) -> List[List[np.ndarray]]:
    """Per frame, the positions at :data:`PATH_FRACTIONS` of the way from it to its minimum under the model
    (:func:`~e3d.calculator.relax_atoms_with_model`: all frames at once)."""
    from ..calculator import relax_atoms_with_model

    ends = relax_atoms_with_model([a.copy() for a in frames], model, fmax=fmax, steps=steps, progress=progress)
    return [[a.positions + f * (end.positions - a.positions) for f in PATH_FRACTIONS] for a, end in zip(frames, ends)]


def build_model_minima(in_path: str, model_path: str, out_path: str, progress: bool = True,
                       workers: int = 1) -> Dict[str, object]:
    """Write ``out_path`` (.extxyz + provenance JSON): :func:`path_geometries` of every species of ``in_path``
    (a GFN2-xTB set) under the model ``model_path``, labelled with GFN2-xTB at each species' charge and
    multiplicity.  A geometry GFN2-xTB cannot label is left out and listed under ``failures``."""
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from ..model import load_model
    from .build import _labelled, xtb_labeller

    for path in (in_path, in_path + ".json"):
        if not os.path.exists(path):
            raise E3DError(f"data minima: {path} not found (a labelled set and its provenance JSON)")
    with open(in_path + ".json") as fh:
        prov = json.load(fh)
    if prov["labels"].get("method") != xtb.METHOD:
        raise E3DError(f"data minima: {in_path} is labelled by {prov['labels'].get('method')!r}; the frames are "
                       f"labelled with {xtb.METHOD}, so the set must be too")
    model = load_model(model_path, device="cpu")
    missing = sorted({s for a in ase.io.iread(in_path) for s in a.get_chemical_symbols()}
                     - set(model.usable_type_names))
    if missing:
        raise E3DError(f"data minima: {model.name} has no type for {', '.join(missing)}")
    starts = start_frames(ase.io.iread(in_path))
    tasks, sources = [], []
    for atoms, path in zip(starts, path_geometries(starts, model, progress=progress)):
        info = atoms.info
        for positions in path:
            species = SimpleNamespace(numbers=atoms.numbers, positions=positions,
                                      charge=int(info.get("charge", 0)), multiplicity=int(info.get("multiplicity", 1)))
            tasks.append((len(tasks), KIND, species))
            sources.append(atoms)
    frames, failures = [], []
    for index, labels, error in tqdm(_labelled(tasks, xtb_labeller(), workers), total=len(tasks),
                                     desc=f"{xtb.METHOD} labels", disable=not progress):
        source = sources[index]
        if error is not None:
            failures.append({"name": source.info.get("name"), "smiles": source.info.get("smiles"), "error": error})
            continue
        atoms = source.copy()
        atoms.positions = tasks[index][2].positions
        atoms.info.update(kind=KIND, start_kind=source.info.get("kind"), index=index)
        atoms.calc = SinglePointCalculator(atoms, energy=labels[0], forces=labels[1])
        frames.append(atoms)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    ase.io.write(out_path, frames, format="extxyz")
    out = dict(prov, dataset=os.path.basename(out_path), n_frames=len(frames), frames_by_kind={KIND: len(frames)},
               n_molecules=len({a.info.get("parent") for a in frames}),
               settings={"relaxed_with": model.name, "model_file": os.path.basename(model_path),
                         "species_from": os.path.basename(in_path), "start_kinds": list(START_KINDS),
                         "path_fractions": list(PATH_FRACTIONS),
                         "relaxation": f"ASE BFGS fmax {RELAX_FMAX} eV/Å (200 steps at most) with the model"},
               failures=failures)
    with open(out_path + ".json", "w") as fh:
        json.dump(out, fh, indent=1)
    return out
