"""SPICE 2 (Eastman et al.) → E3D training format, for users who have the HDF5 file.

The official layout: one group per molecule with ``smiles``, ``subset``,
``atomic_numbers``, ``conformations`` (bohr), ``dft_total_energy`` (hartree),
``dft_total_gradient`` (hartree/bohr) and ``formation_energy`` (hartree).

Isolated-atom references: SPICE's ``formation_energy`` is the total energy minus the
isolated-atom energies of the same level of theory (ωB97M-D3BJ/def2-TZVPPD), so
``total − formation = Σ_atoms μ_Z`` for every conformation; :func:`atom_references`
solves that linear system over the file and recovers μ_Z exactly (the residual is
reported).  Those μ become the model's fixed per-type shifts.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
from ase.data import chemical_symbols
from rdkit import Chem
from tqdm.auto import tqdm

from ..errors import E3DError
from ..units import ANGSTROM_PER_BOHR, EV_PER_HARTREE

LEVEL_OF_THEORY = "ωB97M-D3BJ/def2-TZVPPD"
REQUIRED = ("atomic_numbers", "conformations", "dft_total_energy", "dft_total_gradient")


def _text(value) -> str:
    value = np.asarray(value).reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)


def _open(path: str):
    import h5py

    if not os.path.exists(path):
        raise E3DError(f"SPICE file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise E3DError(f"{path}: not a readable HDF5 file ({exc})") from None


def iter_groups(h5, subsets: Optional[Sequence[str]] = None, elements: Optional[Iterable[str]] = None,
                max_atoms: Optional[int] = None):
    """(name, group) of molecules passing the subset (substring, case-insensitive) and element filters."""
    allowed = set(elements) if elements else None
    for name in h5:
        g = h5[name]
        missing = [k for k in REQUIRED if k not in g]
        if missing:
            raise E3DError(f"group {name!r} lacks {', '.join(missing)}: not the SPICE layout")
        if subsets and "subset" in g:
            sub = _text(g["subset"][()]).lower()
            if not any(s.lower() in sub for s in subsets):
                continue
        z = np.asarray(g["atomic_numbers"][()])
        if allowed is not None and not {chemical_symbols[int(k)] for k in z} <= allowed:
            continue
        if max_atoms is not None and len(z) > max_atoms:
            continue
        yield name, g


def atom_references(path: str, **filters) -> Dict[str, object]:
    """Per-element isolated-atom energies (eV) recovered from total − formation energies."""
    with _open(path) as h5:
        rows, rhs, elements = [], [], []
        for _, g in iter_groups(h5, **filters):
            if "formation_energy" not in g:
                raise E3DError("the file has no formation_energy: pass the atom references explicitly")
            z = [chemical_symbols[int(k)] for k in g["atomic_numbers"][()]]
            for el in z:
                if el not in elements:
                    elements.append(el)
            counts = {el: z.count(el) for el in set(z)}
            for e_tot, e_form in zip(g["dft_total_energy"][()], g["formation_energy"][()]):
                rows.append(counts)
                rhs.append((float(e_tot) - float(e_form)) * EV_PER_HARTREE)
    if not rows:
        raise E3DError("no molecules pass the filters")
    a = np.array([[r.get(el, 0) for el in elements] for r in rows], dtype=float)
    b = np.array(rhs)
    mu, *_ = np.linalg.lstsq(a, b, rcond=None)
    residual = float(np.max(np.abs(a @ mu - b)))
    return {"energies_eV": dict(zip(elements, map(float, mu))), "max_residual_eV": residual,
            "determined": bool(np.linalg.matrix_rank(a) == len(elements))}


def convert(path: str, out_path: str, subsets: Optional[Sequence[str]] = None,
            elements: Optional[Iterable[str]] = None, max_atoms: Optional[int] = None,
            progress: bool = True) -> Dict[str, object]:
    """Write the filtered SPICE conformations as extxyz (eV, eV/Å) with provenance JSON."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    filters = dict(subsets=subsets, elements=elements, max_atoms=max_atoms)
    refs = atom_references(path, **filters)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    n_mol, n_conf, seen = 0, 0, set()
    with _open(path) as h5, open(out_path, "w") as fh:
        for name, g in tqdm(list(iter_groups(h5, **filters)), desc="SPICE", disable=not progress):
            z = np.asarray(g["atomic_numbers"][()])
            symbols = [chemical_symbols[int(k)] for k in z]
            seen.update(symbols)
            smiles = _text(g["smiles"][()]) if "smiles" in g else ""
            mol = Chem.MolFromSmiles(smiles, sanitize=False) if smiles else None
            charge = sum(a.GetFormalCharge() for a in mol.GetAtoms()) if mol is not None else 0
            pos = np.asarray(g["conformations"][()], dtype=float) * ANGSTROM_PER_BOHR
            energy = np.asarray(g["dft_total_energy"][()], dtype=float) * EV_PER_HARTREE
            forces = -np.asarray(g["dft_total_gradient"][()], dtype=float) * EV_PER_HARTREE / ANGSTROM_PER_BOHR
            for k in range(len(energy)):
                atoms = ase.Atoms(symbols=symbols, positions=pos[k])
                atoms.info.update(name=name, smiles=smiles, charge=charge,
                                  subset=_text(g["subset"][()]) if "subset" in g else "")
                atoms.calc = SinglePointCalculator(atoms, energy=float(energy[k]), forces=forces[k])
                ase.io.write(fh, atoms, format="extxyz")
                n_conf += 1
            n_mol += 1
    prov = {
        "dataset": os.path.basename(out_path),
        "source": os.path.basename(path),
        "labels": {"method": LEVEL_OF_THEORY, "program": "SPICE 2 (psi4)", "energy_unit": "eV",
                   "forces_unit": "eV/Å",
                   "atom_reference": "SPICE isolated atoms at the same level (recovered from formation_energy)"},
        "filters": {"subsets": list(subsets or []), "elements": sorted(elements or []), "max_atoms": max_atoms},
        "n_molecules": n_mol,
        "n_frames": n_conf,
        "elements": sorted(seen),
        "isolated_atom_energies_eV": refs["energies_eV"],
        "atom_reference_fit_max_residual_eV": refs["max_residual_eV"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov


def write_spice_layout(path: str, molecules: List[Dict[str, object]]) -> None:
    """Write molecules in SPICE's HDF5 layout (used by the tests and for small custom sets).

    Each dict: name, smiles, subset, atomic_numbers, conformations (bohr), dft_total_energy
    (hartree), dft_total_gradient (hartree/bohr), formation_energy (hartree).
    """
    import h5py

    with h5py.File(path, "w") as h5:
        for m in molecules:
            g = h5.create_group(m["name"])
            g.create_dataset("smiles", data=np.array([m["smiles"].encode()]))
            g.create_dataset("subset", data=np.array([m["subset"].encode()]))
            for key in ("atomic_numbers", "conformations", "dft_total_energy", "dft_total_gradient",
                        "formation_energy"):
                g.create_dataset(key, data=np.asarray(m[key]))
