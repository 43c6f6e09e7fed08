"""QM9 (B3LYP/6-31G(2df,p), 130,831 molecules) from the PyPI package ``qm9pack``, offline.

QM9 has equilibrium geometries and energies only (no forces).  The training target is
chosen deliberately (E3D_METHOD §4b, §8):

- ``H298`` (default): enthalpy at 298 K, with QM9's H298 atom references → the model's
  bond energies are 298 K bond enthalpies, directly comparable with 298 K BDEs and mean
  bond enthalpies;
- ``U0``: zero-point-corrected energies (atom references = electronic atoms);
- ``Ee``: electronic energies U0 − ZPVE (electronic bond energies).

Splits are fixed by one seed: a held-out test set of ``N_TEST`` molecules, and nested
training subsets (the first N of one permutation of the rest) for scaling studies.
"""

from __future__ import annotations

import ast
import datetime
import importlib.util
import os
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import E3DError
from ..units import EV_PER_HARTREE

if TYPE_CHECKING:
    from ..molecule import Molecule

ELEMENTS = ("H", "C", "N", "O", "F")
N_TEST = 10_000
SPLIT_SEED = 9
SCALING_SIZES = (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 120_000)

# QM9 atom references (hartree; QM9 atomref table, same program and settings as the molecules)
ATOM_REFERENCES_HARTREE = {
    "U0": {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579, "F": -99.718730},
    "H298": {"H": -0.497912, "C": -37.844411, "N": -54.581501, "O": -75.062219, "F": -99.716370},
}
ATOM_REFERENCES_HARTREE["Ee"] = ATOM_REFERENCES_HARTREE["U0"]  # atoms have no zero-point energy
TARGET_COLUMNS = {"U0": "InternalEnergy_0K_au", "H298": "Enthalphy_298K_au"}
TARGET_MEANING = {
    "H298": "enthalpy at 298 K → 298 K bond enthalpies",
    "U0": "zero-point-corrected energy at 0 K",
    "Ee": "electronic energy (U0 − ZPVE) → electronic bond energies",
}


def qm9_data_dir() -> str:
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise E3DError("QM9 needs the PyPI package qm9pack (pip install qm9pack)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def read_qm9(limit: Optional[int] = None) -> pd.DataFrame:
    """QM9 as one DataFrame (index, smiles, elements, xyz in Å, energies in hartree)."""
    cols = ["Index", "SMILES", "Elements", "XYZ_Ang", "ZPVE_au", "InternalEnergy_0K_au", "Enthalphy_298K_au"]
    frames = []
    for part in ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"):
        frames.append(pd.read_csv(os.path.join(qm9_data_dir(), part), usecols=cols, nrows=limit))
        if limit is not None and sum(map(len, frames)) >= limit:
            break
    df = pd.concat(frames, ignore_index=True)
    return df.iloc[:limit] if limit else df


def target_hartree(row, target: str) -> float:
    if target == "Ee":
        return float(row["InternalEnergy_0K_au"] - row["ZPVE_au"])
    return float(row[TARGET_COLUMNS[target]])


def isolated_atom_energies(target: str) -> Dict[str, float]:
    return {el: e * EV_PER_HARTREE for el, e in ATOM_REFERENCES_HARTREE[target].items()}


def splits(n_molecules: int, seed: int = SPLIT_SEED, n_test: int = N_TEST) -> Dict[str, np.ndarray]:
    """Fixed test set and the training pool (its first N rows form nested subsets)."""
    perm = np.random.default_rng(seed).permutation(n_molecules)
    n_test = min(n_test, n_molecules // 5)
    return {"test": perm[:n_test], "pool": perm[n_test:]}


def write_extxyz(df: pd.DataFrame, rows: Sequence[int], out_path: str, target: str, progress: bool = True) -> List[str]:
    """Write the rows as extxyz (energy in eV); returns the elements present."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    elements = set()
    with open(out_path, "w") as fh:
        for k in tqdm(rows, desc=os.path.basename(out_path), disable=not progress):
            row = df.iloc[int(k)]
            symbols = ast.literal_eval(row["Elements"])
            elements.update(symbols)
            atoms = ase.Atoms(symbols=symbols,
                              positions=np.array(ast.literal_eval(row["XYZ_Ang"])))
            atoms.info.update(qm9_index=int(row["Index"]), smiles=row["SMILES"])
            atoms.calc = SinglePointCalculator(atoms, energy=target_hartree(row, target) * EV_PER_HARTREE)
            ase.io.write(fh, atoms, format="extxyz")
    return [e for e in ELEMENTS if e in elements]


def build_qm9_datasets(out_dir: str, sizes: Sequence[int] = SCALING_SIZES, target: str = "H298",
                       limit: Optional[int] = None, progress: bool = True) -> Dict[str, object]:
    """Write ``qm9_<target>_test.extxyz`` and nested ``qm9_<target>_train<N>.extxyz`` + provenance JSON."""
    import json

    if target not in TARGET_MEANING:
        raise E3DError(f"unknown QM9 target {target!r}; choose from {', '.join(TARGET_MEANING)}")
    df = read_qm9(limit)
    sp = splits(len(df))
    sizes = [s for s in sizes if s <= len(sp["pool"])]
    files = {os.path.join(out_dir, f"qm9_{target}_test.extxyz"): sp["test"]}
    files.update({os.path.join(out_dir, f"qm9_{target}_train{size}.extxyz"): sp["pool"][:size] for size in sizes})
    written = {path: write_extxyz(df, rows, path, target, progress) for path, rows in files.items()}
    prov = {
        "labels": {"method": "B3LYP/6-31G(2df,p)", "program": "Gaussian 09 (QM9, Ramakrishnan et al. 2014)",
                   "source": "PyPI qm9pack", "target": target, "target_meaning": TARGET_MEANING[target],
                   "energy_unit": "eV", "forces": "none (equilibrium geometries)",
                   "atom_reference": f"QM9 atomref table, {target} (B3LYP/6-31G(2df,p) isolated atoms, same program)"},
        "isolated_atom_energies_eV": isolated_atom_energies(target),
        "split_seed": SPLIT_SEED, "n_test": len(sp["test"]), "nested_sizes": sizes,
        "n_molecules_total": len(df),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for path, elements in written.items():
        with open(path + ".json", "w") as fh:
            json.dump(dict(prov, dataset=os.path.basename(path), n_frames=len(files[path]), elements=elements),
                      fh, indent=1)
    return prov


def qm9_parents(n: int, exclude: Sequence[str] = (), seed: int = SPLIT_SEED, progress: bool = True,
                split: str = "pool") -> List["Molecule"]:
    """The first ``n`` usable molecules of QM9's training pool (``split="test"``: of its test split) at
    their QM9 (B3LYP) geometry.

    Nested by construction (a smaller ``n`` gives a prefix of a larger one).  Bonds are perceived
    from 3D by RDKit; molecules whose perception gives formal charges or radicals (zwitterions,
    odd valences) are skipped, and so is every molecule whose canonical SMILES is in ``exclude``
    (held-out evaluation molecules, BDE-table parents).  Training sets come from the pool only, so
    the test split is a held-out QM9 set for every training size.
    """
    from rdkit import Chem

    from ..molecule import Molecule

    excluded = set(exclude)
    df = read_qm9()
    out: List[Molecule] = []
    bar = tqdm(total=n, desc="QM9 parents", disable=not progress)
    for k in splits(len(df), seed)[split]:
        if len(out) >= n:
            break
        mol = perceived_molecule(df.iloc[int(k)])
        if mol is None:
            continue
        smiles = Chem.MolToSmiles(Chem.RemoveHs(mol.rdmol))
        if smiles in excluded:
            continue
        out.append(mol)
        bar.update()
    bar.close()
    return out


def perceived_molecule(row) -> Optional["Molecule"]:
    """A QM9 row at its B3LYP geometry with bonds perceived from 3D by RDKit; None where RDKit finds
    no neutral closed-shell bonding (formal charges, as in zwitterions, or radical electrons)."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    from ..molecule import Molecule

    symbols = ast.literal_eval(row["Elements"])
    xyz = np.array(ast.literal_eval(row["XYZ_Ang"]), dtype=float)
    block = f"{len(symbols)}\n\n" + "".join(f"{s} {x:.6f} {y:.6f} {z:.6f}\n" for s, (x, y, z) in zip(symbols, xyz))
    rdmol = Chem.MolFromXYZBlock(block)
    try:
        rdDetermineBonds.DetermineBonds(rdmol, charge=0)
    except Exception:
        return None
    if any(a.GetFormalCharge() or a.GetNumRadicalElectrons() for a in rdmol.GetAtoms()):
        return None
    return Molecule(rdmol=rdmol, positions=xyz, name=f"qm9-{int(row['Index'])}", source="QM9 geometry")
