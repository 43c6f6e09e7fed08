"""Δ-labels: a set's energies and forces minus GFN2-xTB's on the same geometries (Δ-learning).

    E_Δ = E_high − E_xTB,   F_Δ = F_high − F_xTB,   μ_Δ,t = μ_high,t − μ_xTB,t      [eV, eV/Å]

A model trained on Δ-labels (a "Δ model") adds to a model trained on GFN2-xTB labels: their sum
predicts the high level, and, both being Allegro models of one cutoff, their edge energies add
edge by edge (docs/E3D_METHOD.md §4i).  The Δ model's edge energies are the size of the
difference between the labellers, not of the whole energy — which is the point: what a small
high-level set cannot pin moves the bond energies by at most that much.
"""

from __future__ import annotations

import json
import os
from typing import Dict

from tqdm.auto import tqdm

from ..errors import E3DError
from . import xtb


def delta_provenance(high: Dict[str, object], path: str, n_frames: int, failures) -> Dict[str, object]:
    """The Δ set's provenance: both labellers, the isolated atoms' difference, the source set."""
    low_atoms = xtb.isolated_atom_energies(high["isolated_atom_energies_eV"])
    high_atoms = high["isolated_atom_energies_eV"]
    method = f"{high['labels']['method']} − {xtb.METHOD}"
    low = xtb.provenance()
    return dict(high, dataset=os.path.basename(path), n_frames=n_frames,
                labels={"method": method, "delta": True, "high": high["labels"], "low": low,
                        "atom_reference": f"{high['labels'].get('atom_reference', high['labels']['method'])} minus "
                                          f"{low['atom_reference']}",
                        "energy_unit": "eV", "forces_unit": "eV/Å"},
                isolated_atom_energies_eV={e: float(high_atoms[e]) - low_atoms[e] for e in high_atoms},
                delta_of=high["dataset"], failures=list(high.get("failures", [])) + failures)


def build_delta(in_path: str, out_path: str, progress: bool = True) -> Dict[str, object]:
    """Write ``out_path`` (.extxyz + provenance JSON): the frames of ``in_path`` with Δ-labels
    (its labels minus GFN2-xTB's, each frame at its own charge and multiplicity).  A frame
    GFN2-xTB cannot label is left out and listed under ``failures``.  Returns the provenance."""
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
    frames, failures = [], []
    for atoms in tqdm(list(ase.io.iread(in_path)), desc=f"{xtb.METHOD} for Δ", disable=not progress):
        charge, mult = int(atoms.info.get("charge", 0)), int(atoms.info.get("multiplicity", 1))
        try:
            e_low, f_low = xtb.energy_and_forces(atoms.numbers, atoms.positions, charge, mult)
        except E3DError as exc:
            failures.append({"name": atoms.info.get("name"), "smiles": atoms.info.get("smiles"), "error": str(exc)})
            continue
        e_high, f_high = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e_high - e_low, forces=f_high - f_low)
        frames.append(atoms)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    ase.io.write(out_path, frames, format="extxyz")
    prov = delta_provenance(high, out_path, len(frames), failures)
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov
