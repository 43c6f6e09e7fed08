"""Held-out errors of a model on a labelled extxyz file (energies per atom and per molecule, forces).

``python -m e3d evaluate DATA.extxyz --model M`` prints what the README quotes; it runs the
model in batches with forces and compares with the file's labels (eV, eV/Å).  Frames that carry a
``kind`` (eq, thermal, stretch, radical: ``e3d data xtb``) also get per-kind errors
``<kind>_energy_bias`` (mean signed E_model − E_label per frame, eV) and ``<kind>_energy_mae``: a
bond dissociation energy is radicals minus parent, so opposite biases of the two kinds land in it whole.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .edges import batch_to_data
from .errors import E3DError
from .model import E3DModel


def evaluate(model: E3DModel, path: str, batch_size: int = 32, limit: Optional[int] = None,
             progress: bool = False, every: int = 1) -> Dict[str, float]:
    """Errors on the frames of ``path`` (the first ``limit``, every ``every``-th of them)."""
    if every < 1:
        raise E3DError(f"every must be ≥ 1 (got {every})")
    frames = _labelled_frames(path, f":{limit or ''}:{every}")
    n_read = len(frames)
    known = set(model.usable_type_names)
    unknown = sorted({s for a in frames for s in a.get_chemical_symbols()} - known)
    frames = [a for a in frames if set(a.get_chemical_symbols()) <= known]
    if not frames:
        raise E3DError(f"{path}: every frame has an element the model does not know ({', '.join(unknown)}; "
                       f"it knows {', '.join(model.usable_type_names)})")
    per_frame, f_err = frame_errors(model, frames, batch_size, progress)
    e_err = per_frame["energy_error"].to_numpy()
    e_err_atom = e_err / per_frame["n_atoms"].to_numpy()
    result = {
        "n_frames": len(e_err),
        "n_frames_skipped": n_read - len(e_err),  # elements the model does not know
        "total_energy_mae": float(np.abs(e_err).mean()),
        "total_energy_rmse": float(np.sqrt((e_err**2).mean())),
        "per_atom_energy_mae": float(np.abs(e_err_atom).mean()),
    }
    kinds = per_frame["kind"].to_numpy(dtype=object)
    for kind in sorted({k for k in kinds if isinstance(k, str)}):
        result[f"{kind}_energy_bias"] = float(e_err[kinds == kind].mean())
        result[f"{kind}_energy_mae"] = float(np.abs(e_err[kinds == kind]).mean())
    if f_err:
        f = np.concatenate(f_err)
        result["forces_mae"] = float(np.abs(f).mean())
        result["forces_rmse"] = float(np.sqrt((f**2).mean()))
    return result


def frame_errors(model: E3DModel, frames: list, batch_size: int = 32, progress: bool = False
                 ) -> Tuple[pd.DataFrame, List[np.ndarray]]:
    """The model on labelled frames, in batches with forces: one row per frame (``n_atoms``, ``kind``, ``smiles``,
    ``energy_error`` = E_model − E_label, eV) and each frame's force errors (eV/Å; frames with force labels)."""
    from nequip.data import AtomicDataDict

    from .molecule import frame_smiles

    rows, f_err = [], []
    for start in tqdm(range(0, len(frames), batch_size), disable=not progress, desc="evaluate"):
        batch = frames[start:start + batch_size]
        data = batch_to_data([(a.get_chemical_symbols(), a.positions) for a in batch], model)
        with torch.enable_grad():  # forces come from autograd
            out = model.module(AtomicDataDict.to_(data, model.device))
        energy = out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().double().cpu().numpy().reshape(-1)
        forces = (out[AtomicDataDict.FORCE_KEY].detach().double().cpu().numpy()
                  if AtomicDataDict.FORCE_KEY in out else None)
        offset = 0
        for k, atoms in enumerate(batch):
            n = len(atoms)
            rows.append({"n_atoms": n, "kind": atoms.info.get("kind"), "smiles": frame_smiles(atoms),
                         "energy_error": energy[k] - atoms.get_potential_energy()})
            ref_f = atoms.calc.results.get("forces") if atoms.calc is not None else None
            if forces is not None and ref_f is not None:
                f_err.append(forces[offset:offset + n] - ref_f)
            offset += n
    return pd.DataFrame(rows, columns=["n_atoms", "kind", "smiles", "energy_error"]), f_err


def _labelled_frames(path: str, index: str) -> list:
    """The frames of an extxyz file, each with an energy label; a clear error for anything else."""
    import ase.io

    if not os.path.isfile(path):
        raise E3DError(f"{path}: no such file")
    try:
        frames = list(ase.io.iread(path, index=index, format="extxyz"))
    except Exception as exc:  # ASE raises many kinds for a file that is not extxyz
        raise E3DError(f"{path}: not a readable extxyz file ({type(exc).__name__}: {exc})") from None
    if not frames:
        raise E3DError(f"{path}: no frames")
    for k, atoms in enumerate(frames):
        if atoms.calc is None or "energy" not in atoms.calc.results:
            raise E3DError(f"{path}: frame {k + 1} has no energy label (evaluate needs labelled frames: "
                           "`python -m e3d data` writes them)")
    return frames


def label_mismatch(model: E3DModel, path: str) -> Optional[str]:
    """A warning when the file's provenance (``path``.json) names other labels than the model card: the
    methods' total energies differ by their own references (eV per atom), so only forces compare."""
    try:
        with open(path + ".json", encoding="utf-8") as fh:
            data_labels = json.load(fh).get("labels", {}).get("method")
    except (OSError, ValueError, AttributeError):
        return None
    model_labels = model.card.get("level_of_theory")
    if not data_labels or not model_labels or data_labels == model_labels:
        return None
    return (f"the data are labelled with {data_labels}, the model was trained on {model_labels} labels: "
            "energy errors include the difference between the two methods' energies; forces compare better")
