"""Δ-labels: a set's energies and forces minus GFN2-xTB's on the same geometries (Δ-learning), or
minus a GFN2-xTB model's (residual Δ-learning).

    E_Δ = E_high − E_low,   F_Δ = F_high − F_low,   μ_Δ,t = μ_high,t − μ_low,t      [eV, eV/Å]
    low = GFN2-xTB itself, or (``on_model``) the model the Δ model will be added to

A model trained on Δ-labels (a "Δ model") adds to a model trained on GFN2-xTB labels: their sum
predicts the high level, and, both being Allegro models of one cutoff, their edge energies add
edge by edge (docs/E3D_METHOD.md §4i).  The Δ model's edge energies are the size of the
difference between the labellers, not of the whole energy — which is the point: what a small
high-level set cannot pin moves the bond energies by at most that much.  Against the labeller the
sum keeps the base model's own errors (e.g. its radicals too low); against the base model itself
(the residual) the Δ model learns those errors too where the high-level set has frames, and the
sum belongs to that one base model.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

from tqdm.auto import tqdm

from ..errors import E3DError
from ..molecule import frame_smiles
from . import xtb


def delta_provenance(high: Dict[str, object], path: str, n_frames: int, failures,
                     low: Optional[Dict[str, object]] = None,
                     low_atoms: Optional[Dict[str, float]] = None) -> Dict[str, object]:
    """The Δ set's provenance: both labellers (``low``: GFN2-xTB unless given), the isolated atoms'
    difference, the source set."""
    high_atoms = high["isolated_atom_energies_eV"]
    low = low or xtb.provenance()
    low_atoms = low_atoms or xtb.isolated_atom_energies(high_atoms)
    method = f"{high['labels']['method']} − {low['method']}"
    return dict(high, dataset=os.path.basename(path), n_frames=n_frames,
                labels={"method": method, "delta": True, "high": high["labels"], "low": low,
                        "atom_reference": f"{high['labels'].get('atom_reference', high['labels']['method'])} minus "
                                          f"{low['atom_reference']}",
                        "energy_unit": "eV", "forces_unit": "eV/Å"},
                isolated_atom_energies_eV={e: float(high_atoms[e]) - low_atoms[e] for e in high_atoms},
                delta_of=high["dataset"], failures=list(high.get("failures", [])) + failures)


def model_labeller(model_path: str):
    """The low level of a residual Δ set: a GFN2-xTB model's (energy, forces) of a frame, its provenance and
    its μ_t by element (the isolated atoms it was trained against)."""
    from ..calculator import E3DCalculator
    from ..model import load_model
    from ..pairs import frame_bond_types

    model = load_model(model_path, device="cpu")
    if model.card.get("level_of_theory") != xtb.METHOD or not model.shifts_are_isolated_atoms:
        raise E3DError(f"data delta --on: {model.name} must be a model of {xtb.METHOD} labels with isolated-atom "
                       f"shifts (its card says {model.card.get('level_of_theory')!r})")
    calc = E3DCalculator(model)

    def label(atoms):
        """The model's energy and forces; a frame with bond types the model never saw is refused: its
        errors there are extrapolation, not a correction a Δ model should learn."""
        unseen = model.unseen_bond_types(frame_bond_types(atoms) or {})
        if unseen:
            raise E3DError(f"bond type(s) {', '.join(unseen)} outside {model.name}'s training domain")
        atoms = atoms.copy()
        atoms.calc = calc
        return atoms.get_potential_energy(), atoms.get_forces()

    low = {"method": model.name, "model": model.name, "model_labels": xtb.METHOD,
           "atom_reference": model.shift_reference}
    return label, low, dict(zip(model.type_names, map(float, model.shifts)))


def build_delta(in_path: str, out_path: str, progress: bool = True, on_model: Optional[str] = None) -> Dict[str, object]:
    """Write ``out_path`` (.extxyz + provenance JSON): the frames of ``in_path`` with Δ-labels
    (its labels minus GFN2-xTB's, each frame at its own charge and multiplicity; with ``on_model``, minus
    that GFN2-xTB model's).  A frame GFN2-xTB cannot label is left out and listed under ``failures``.
    Returns the provenance."""
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    if not os.path.exists(in_path):
        raise E3DError(f"data delta: {in_path} not found")
    if not os.path.exists(in_path + ".json"):
        raise E3DError(f"data delta: {in_path}.json (the set's provenance, with its isolated atoms) not found")
    with open(in_path + ".json") as fh:
        high = json.load(fh)
    if (high.get("labels") or {}).get("delta"):
        raise E3DError(f"data delta: {in_path} already holds Δ-labels")
    if high["labels"]["method"] == xtb.METHOD:
        raise E3DError(f"data delta: {in_path} is labelled by {xtb.METHOD} itself; Δ would be zero")
    low, low_atoms, label = None, None, None
    if on_model:
        label, low, low_atoms = model_labeller(on_model)
        missing = sorted(set(high["isolated_atom_energies_eV"]) - set(low_atoms))
        if missing:
            raise E3DError(f"data delta --on: {low['model']} has no type for {', '.join(missing)}")
    frames, failures = [], []
    for atoms in tqdm(list(ase.io.iread(in_path)), desc=f"{low['method'] if low else xtb.METHOD} for Δ",
                      disable=not progress):
        charge, mult = int(atoms.info.get("charge", 0)), int(atoms.info.get("multiplicity", 1))
        try:
            e_low, f_low = (label(atoms) if label
                            else xtb.energy_and_forces(atoms.numbers, atoms.positions, charge, mult))
        except E3DError as exc:
            failures.append({"name": atoms.info.get("name"), "smiles": frame_smiles(atoms), "error": str(exc)})
            continue
        e_high, f_high = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e_high - e_low, forces=f_high - f_low)
        frames.append(atoms)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    ase.io.write(out_path, frames, format="extxyz")
    prov = delta_provenance(high, out_path, len(frames), failures, low, low_atoms)
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov
