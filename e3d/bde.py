"""Learned BDEs of specific bonds beside the labelling method's and experiment's (E3D_METHOD §4).

For a row (parent SMILES, radical fragments A and B):

- the bond: the parent bond whose homolytic cleavage gives exactly {A, B};
- ``e3d_bde``: D_ij of that bond at the parent's minimum *with the model* (kcal/mol);
- ``model_fragment_bde``: E_model(A•) + E_model(B•) − E_model(AB), all relaxed with the model;
- ``reference_bde``: the same with the labelling method (GFN2-xTB for xTB-trained models;
  relaxed, spin-polarised fragments).  These are electronic BDEs; experiment gives
  298 K enthalpies (≈ 6–9 kcal/mol higher for X–H bonds through zero-point/thermal terms).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np
import pandas as pd
from rdkit import Chem
from tqdm.auto import tqdm

from .calculator import model_energy, relax_with_model
from .data import frames
from .edges import edge_energies
from .errors import E3DError, InputError
from .model import E3DModel
from .molecule import Molecule, from_smiles
from .pairs import bond_type_label, pair_table
from .units import KCAL_PER_EV

BDE_COLUMNS = ["atom_i", "atom_j", "bond_type", "e3d_bde_kcal_mol", "model_fragment_bde_kcal_mol",
               "reference_bde_kcal_mol", "reference_method", "quantity", "error"]
QUANTITY = "electronic BDE (no ZPE/thermal terms), kcal/mol"


def canonical(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise InputError(f"invalid SMILES: {smiles!r}")
    return Chem.MolToSmiles(mol)


def locate_bond(parent: Molecule, fragment_a: str, fragment_b: str) -> Tuple[int, int]:
    """Atom indices (i, j) of the parent bond whose homolysis gives fragments A and B."""
    target = sorted([canonical(fragment_a), canonical(fragment_b)])
    for bond in parent.rdmol.GetBonds():
        if bond.IsInRing():
            continue
        if sorted(canonical(s) for s in frames.homolytic_fragments(parent.rdmol, bond.GetIdx())) == target:
            return bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    raise InputError(f"no bond of {parent.smiles} breaks into {fragment_a} + {fragment_b}")


def xtb_energy(mol: Molecule, relax: bool = True) -> float:
    """GFN2-xTB energy (eV) at the xTB minimum (spin-polarised, the molecule's multiplicity)."""
    from .data import xtb

    if relax:
        mol = frames.relax(mol, xtb.XTBCalculator(mol.charge, mol.multiplicity), fmax=0.01, steps=500)
    return xtb.energy_and_forces(mol.numbers, mol.positions, mol.charge, mol.multiplicity)[0]


REFERENCE_METHODS: Dict[str, Callable[[Molecule], float]] = {"GFN2-xTB": xtb_energy}


def reference_method_for(model: E3DModel) -> Optional[str]:
    """The labelling method whose own BDEs can be computed here, from the model card."""
    level = str(model.card.get("level_of_theory", ""))
    return level if level in REFERENCE_METHODS else None


@dataclasses.dataclass
class BondBDE:
    atom_i: int
    atom_j: int
    bond_type: str
    e3d_bde: float
    model_fragment_bde: float
    reference_bde: float
    reference_method: Optional[str]


def _fragment_energy(smiles: str, energy_fn: Callable[[Molecule], float], cache: Dict) -> float:
    if smiles not in cache:
        cache[smiles] = energy_fn(from_smiles(smiles))
    return cache[smiles]


def bond_bde(model: E3DModel, parent_smiles: str, fragment_a: str, fragment_b: str,
             reference: Optional[str] = None, caches: Optional[Dict[str, Dict]] = None) -> BondBDE:
    """Learned, model-fragment and reference-method BDEs (kcal/mol) of one bond."""
    caches = caches if caches is not None else {}
    parents = caches.setdefault(f"parent:{model.path}", {})
    if parent_smiles not in parents:  # several rows share a parent: relax it once
        parents[parent_smiles] = relax_with_model(from_smiles(parent_smiles), model)
    parent = parents[parent_smiles]
    i, j = locate_bond(parent, fragment_a, fragment_b)
    (result,) = edge_energies(model, [parent])  # cheap next to the relaxation
    pairs = pair_table(result).set_index(["i", "j"])
    d_ij = float(pairs.loc[(min(i, j), max(i, j)), "D_ij"])
    label = bond_type_label(parent.rdmol.GetBondBetweenAtoms(i, j), with_hybridisation=True)

    model_cache = caches.setdefault(f"model:{model.path}", {})
    relaxed_model_energy = lambda m: model_energy(relax_with_model(m, model), model)  # noqa: E731
    e_parent = result.total_energy
    e_frag = sum(_fragment_energy(s, relaxed_model_energy, model_cache) for s in (fragment_a, fragment_b))
    model_frag_bde = (e_frag - e_parent) * KCAL_PER_EV

    ref_bde = float("nan")
    if reference is not None:
        ref_cache = caches.setdefault(f"ref:{reference}", {})
        ref_fn = REFERENCE_METHODS[reference]
        e_ref_parent = _fragment_energy(parent_smiles, ref_fn, ref_cache)
        e_ref_frag = sum(_fragment_energy(s, ref_fn, ref_cache) for s in (fragment_a, fragment_b))
        ref_bde = (e_ref_frag - e_ref_parent) * KCAL_PER_EV
    return BondBDE(i, j, label, d_ij, model_frag_bde, ref_bde, reference)


def bde_table(model: E3DModel, table: pd.DataFrame, reference: Optional[str] = "auto",
              progress: bool = True, caches: Optional[Dict[str, Dict]] = None) -> pd.DataFrame:
    """The input rows plus E3D, model-fragment and reference BDEs; a bad row gets an ``error``.

    ``caches`` may be shared between calls: reference-method energies do not depend on the model.
    """
    for col in ("parent_smiles", "fragment_a", "fragment_b"):
        if col not in table.columns:
            raise InputError(f"BDE table needs columns parent_smiles, fragment_a, fragment_b (missing {col})")
    if reference == "auto":
        reference = reference_method_for(model)
    caches = {} if caches is None else caches
    rows = []
    for _, row in tqdm(table.iterrows(), total=len(table), desc="BDE", disable=not progress):
        out = dict.fromkeys(BDE_COLUMNS)
        out.update(reference_method=reference, quantity=QUANTITY)
        try:
            b = bond_bde(model, row["parent_smiles"], row["fragment_a"], row["fragment_b"], reference, caches)
            out.update(atom_i=b.atom_i, atom_j=b.atom_j, bond_type=b.bond_type, e3d_bde_kcal_mol=b.e3d_bde,
                       model_fragment_bde_kcal_mol=b.model_fragment_bde, reference_bde_kcal_mol=b.reference_bde)
        except E3DError as exc:
            out["error"] = str(exc)
        rows.append(out)
    return pd.concat([table.reset_index(drop=True), pd.DataFrame(rows, columns=BDE_COLUMNS)], axis=1)


def parity_metrics(reference: Iterable[float], predicted: Iterable[float]) -> Dict[str, float]:
    """n, MAE, RMSE, R² (of the identity line), least-squares slope/intercept, Spearman ρ."""
    from scipy.stats import spearmanr

    x = np.asarray(list(reference), dtype=float)
    y = np.asarray(list(predicted), dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(len(x))
    if n < 2:
        return {"n": n, "mae": float("nan"), "rmse": float("nan"), "r2": float("nan"),
                "slope": float("nan"), "intercept": float("nan"), "spearman": float("nan")}
    err = y - x
    slope, intercept = np.polyfit(x, y, 1)
    ss_tot = float(np.sum((x - x.mean()) ** 2))
    return {
        "n": n,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "slope": float(slope),
        "intercept": float(intercept),
        "spearman": float(spearmanr(x, y).statistic),
    }
