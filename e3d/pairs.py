"""Pair and bond energies from directed edge energies (E3D_METHOD §3).

    ε_ij = e_{i→j} + e_{j→i}        (eV; 0 beyond r_max)
    D_ij = −ε_ij                    (kcal/mol; the E3D bond energy of a bonded pair)
    f_bond = Σ_bonded ε / Σ_all ε   (decomposability of one molecule)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rdkit import Chem

from .edges import EdgeEnergies
from .units import KCAL_PER_EV

BOND_SYMBOL = {1.0: "-", 2.0: "=", 3.0: "#", 1.5: ":"}
# element order inside a bond label: carbon first, hydrogen last ("C-H", "O-H", "C=O")
_LABEL_ORDER = ["C", "N", "O", "S", "P", "Si", "B", "F", "Cl", "Br", "I", "H"]
_HYB = {Chem.HybridizationType.SP: "sp", Chem.HybridizationType.SP2: "sp2",
        Chem.HybridizationType.SP3: "sp3"}

PAIR_COLUMNS = ["i", "j", "element_i", "element_j", "distance", "e_ij", "e_ji", "eps_ij", "D_ij",
                "bonded", "bond_order", "aromatic", "bond_type", "bond_label"]


def _rank(symbol: str) -> int:
    return _LABEL_ORDER.index(symbol) if symbol in _LABEL_ORDER else len(_LABEL_ORDER) - 1


def _atom_tag(atom: Chem.Atom, with_hybridisation: bool) -> str:
    sym = atom.GetSymbol()
    if with_hybridisation and sym != "H" and atom.GetHybridization() in _HYB and atom.GetDegree() > 1:
        return f"{sym}({_HYB[atom.GetHybridization()]})"
    return sym


def bond_type_label(bond: Chem.Bond, with_hybridisation: bool = False) -> str:
    """``C-H``, ``C=O``, ``C#N``, ``C:C`` (aromatic); with hybridisation ``C(sp3)-C(sp2)``."""
    a, b = bond.GetBeginAtom(), bond.GetEndAtom()
    if (_rank(a.GetSymbol()), a.GetSymbol()) > (_rank(b.GetSymbol()), b.GetSymbol()):
        a, b = b, a
    order = 1.5 if bond.GetIsAromatic() else float(bond.GetBondTypeAsDouble())
    symbol = BOND_SYMBOL.get(order, "~")
    return f"{_atom_tag(a, with_hybridisation)}{symbol}{_atom_tag(b, with_hybridisation)}"


def pair_table(result: EdgeEnergies) -> pd.DataFrame:
    """One row per atom pair i<j that is bonded or inside the cutoff.

    e_ij, e_ji: the directed edge energies i→j and j→i (eV); ε_ij = e_ij + e_ji (eV);
    D_ij = −ε_ij (kcal/mol).
    """
    mol = result.molecule
    edges = result.edges
    lo = np.minimum(edges["i"].to_numpy(), edges["j"].to_numpy())
    hi = np.maximum(edges["i"].to_numpy(), edges["j"].to_numpy())
    directed = {(int(a), int(b)): float(e) for a, b, e in zip(edges["i"], edges["j"], edges["e_ij"])}
    eps = pd.Series(edges["e_ij"].to_numpy()).groupby([lo, hi]).sum()
    pairs = {(int(i), int(j)): float(v) for (i, j), v in eps.items()}
    bonds = {}
    for bond in mol.rdmol.GetBonds():
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        bonds[(i, j)] = bond
        pairs.setdefault((i, j), 0.0)
    keys = sorted(pairs)
    symbols = mol.symbols
    rows = []
    for i, j in keys:
        bond = bonds.get((i, j))
        rows.append((
            i, j, symbols[i], symbols[j],
            float(np.linalg.norm(mol.positions[i] - mol.positions[j])),
            directed.get((i, j), 0.0), directed.get((j, i), 0.0),
            pairs[(i, j)], -pairs[(i, j)] * KCAL_PER_EV,
            bond is not None,
            (1.5 if bond.GetIsAromatic() else float(bond.GetBondTypeAsDouble())) if bond else 0.0,
            bool(bond.GetIsAromatic()) if bond else False,
            bond_type_label(bond) if bond else "",
            bond_type_label(bond, with_hybridisation=True) if bond else "",
        ))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def bond_table(result: EdgeEnergies) -> pd.DataFrame:
    """Bonded pairs only, weakest (smallest D_ij) first — the chemist's view."""
    pairs = pair_table(result)
    return pairs[pairs["bonded"]].sort_values("D_ij").reset_index(drop=True)


def decomposability(pairs: pd.DataFrame) -> float:
    """f_bond = Σ_bonded ε / Σ_all ε (1.0: all energy on bonds)."""
    total = pairs["eps_ij"].sum()
    return float(pairs.loc[pairs["bonded"], "eps_ij"].sum() / total) if total else float("nan")


def pairs_for_molecules(results, bonded_only: bool = False) -> pd.DataFrame:
    """All molecules' pair tables stacked, each row tagged with its molecule and the sum-rule residual."""
    frames = []
    for k, r in enumerate(results):
        table = pair_table(r)
        if bonded_only:
            table = table[table["bonded"]]
        table.insert(0, "molecule_id", k)
        table.insert(1, "molecule", r.molecule.label)
        table.insert(2, "smiles", r.molecule.smiles)
        table["model"] = r.model_name
        table["total_energy_eV"] = r.total_energy
        table["sum_rule_residual_eV"] = r.residual
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["molecule_id", "molecule", "smiles"] + PAIR_COLUMNS)
    return pd.concat(frames, ignore_index=True)
