"""Bond-stretch scans (E3D_METHOD §7): E_total(r), ε_ij(r) and the labelling method along one path.

The bond i–j is stretched along its axis with the rest rigid (the smaller side of an
acyclic bond moves as a block), from 0.8·r_eq to beyond r_max.  All geometries go
through the model in one batch.  ε_ij → 0 at r_max by construction; the gap
E_total(r_max) − E_total(r_eq) is the model's own bond-breaking energy.

Reference curve (GFN2-xTB): the lower of the closed-shell singlet and the triplet at each
geometry, so the homolytic limit is described by two radicals rather than an ionic
closed-shell state (a broken-symmetry singlet is not available in tblite).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd

from .geometry import stretch_bond
from .edges import edge_energies
from .model import E3DModel
from .molecule import Molecule
from .units import KCAL_PER_EV


def scan_distances(r_eq: float, r_max: float, n: int = 25, start: float = 0.8, beyond: float = 0.5) -> np.ndarray:
    return np.linspace(start * r_eq, r_max + beyond, n)


def xtb_scan_energy(mol: Molecule) -> float:
    """Lowest of singlet and triplet GFN2-xTB energies (eV); NaN where neither SCF converges."""
    from .data import xtb
    from .errors import E3DError

    energies = []
    for mult in ([mol.multiplicity, 3] if mol.multiplicity == 1 else [mol.multiplicity]):
        try:
            energies.append(xtb.energy_and_forces(mol.numbers, mol.positions, mol.charge, mult)[0])
        except E3DError:
            pass
    return min(energies) if energies else float("nan")


def stretch_scan(model: E3DModel, mol: Molecule, i: int, j: int, n: int = 25,
                 reference: Optional[str] = None) -> pd.DataFrame:
    """One scan: r (Å), ΔE_total and ε_ij from the model, ΔE_reference (kcal/mol, relative to r_eq)."""
    r_eq = float(np.linalg.norm(mol.positions[i] - mol.positions[j]))
    distances = scan_distances(r_eq, model.r_max, n)
    geoms = [stretch_bond(mol, i, j, r) for r in distances]
    results = edge_energies(model, [mol] + geoms)
    e0 = results[0].total_energy
    eps = []
    for r in results[1:]:
        e = r.edges
        eps.append(float(e.loc[((e["i"] == i) & (e["j"] == j)) | ((e["i"] == j) & (e["j"] == i)), "e_ij"].sum()))
    out = pd.DataFrame({
        "r": distances,
        "r_over_req": distances / r_eq,
        "model_dE_kcal_mol": [(r.total_energy - e0) * KCAL_PER_EV for r in results[1:]],
        "eps_ij_kcal_mol": np.array(eps) * KCAL_PER_EV,
    })
    out["D_ij_kcal_mol"] = -out["eps_ij_kcal_mol"]
    if reference == "GFN2-xTB":
        e_ref0 = xtb_scan_energy(mol)
        out["reference_dE_kcal_mol"] = [(xtb_scan_energy(g) - e_ref0) * KCAL_PER_EV for g in geoms]
    else:
        out["reference_dE_kcal_mol"] = np.nan
    return out


def scan_summary(scan: pd.DataFrame, r_max: float) -> dict:
    """Bond-breaking energy of the model (ΔE at r ≥ r_max), the reference's, and the curve error."""
    beyond = scan[scan["r"] >= r_max]
    gap = float(beyond["model_dE_kcal_mol"].iloc[0]) if len(beyond) else float("nan")
    ref = scan["reference_dE_kcal_mol"]
    ref_gap = float(beyond["reference_dE_kcal_mol"].iloc[0]) if len(beyond) else float("nan")
    err = (scan["model_dE_kcal_mol"] - ref).abs()
    return {"model_breaking_energy_kcal_mol": gap, "reference_breaking_energy_kcal_mol": ref_gap,
            "scan_mae_kcal_mol": float(err.mean()) if ref.notna().any() else float("nan")}
