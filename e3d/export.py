"""Writing molecules with their E3D energies (SDF properties) for download or other tools."""

from __future__ import annotations

import io
from typing import Iterable, Tuple

import pandas as pd
from rdkit import Chem

from .molecule import Molecule


def sdf_with_energies(records: Iterable[Tuple[Molecule, pd.DataFrame, float, float, str]]) -> str:
    """SDF text: each molecule with E_total, the sum-rule residual, the model and its bond energies.

    ``records``: (molecule, pair table, total energy eV, residual eV, model name).  Bond
    energies go in ``E3D_BOND_ENERGIES`` as lines ``i j bond_type D_ij`` (kcal/mol, 0-based atoms).
    """
    buf = io.StringIO()
    writer = Chem.SDWriter(buf)
    for mol, pairs, energy, residual, model_name in records:
        rd = Chem.Mol(mol.rdmol)
        rd.SetProp("_Name", mol.label)
        rd.SetProp("E3D_MODEL", model_name)
        rd.SetDoubleProp("E3D_TOTAL_ENERGY_EV", float(energy))
        rd.SetDoubleProp("E3D_SUM_RULE_RESIDUAL_EV", float(residual))
        bonds = pairs[pairs["bonded"]]
        rd.SetProp("E3D_BOND_ENERGIES", "\n".join(f"{r.i} {r.j} {r.bond_type} {r.D_ij:.3f}" for r in bonds.itertuples()))
        rd.SetProp("E3D_UNITS", "D_ij kcal/mol; energies eV")
        writer.write(rd)
    writer.close()
    return buf.getvalue()
