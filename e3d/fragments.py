"""The two sides of a bond: rigid radical fragments and the fragment-cut bond energy (E3D_METHOD §4c).

D_ij is read at the parent's geometry with nothing relaxed, so its like-with-like partners are

- the **rigid BDE**: E(A•) + E(B•) − E(AB), both fragments frozen at the parent geometry;
- the **fragment-cut bond energy**: −Σ ε_ab over every pair a ∈ A, b ∈ B (the bond's own pair
  plus the non-bonded pairs across the cut), in kcal/mol.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import pandas as pd
from rdkit import Chem

from .errors import InputError
from .molecule import Molecule, canonical, graph_charge_and_multiplicity


def bond_sides(rdmol: Chem.Mol, i: int, j: int) -> Tuple[List[int], List[int]]:
    """Atom indices on i's side and on j's side of the acyclic bond i–j."""
    bond = rdmol.GetBondBetweenAtoms(int(i), int(j))
    if bond is None:
        raise InputError(f"atoms {i + 1} and {j + 1} are not bonded")
    if bond.IsInRing():
        raise InputError(f"the bond between atoms {i + 1} and {j + 1} is in a ring: it has no two sides")
    frag = Chem.FragmentOnBonds(rdmol, [bond.GetIdx()], addDummies=False)
    side_i = next(sorted(ids) for ids in Chem.GetMolFrags(frag, asMols=False) if i in ids)
    side_j = sorted(set(range(rdmol.GetNumAtoms())) - set(side_i))
    return side_i, side_j


def homolytic_fragments(rdmol: Chem.Mol, bond_index: int) -> List[str]:
    """SMILES of the two radicals from breaking bond ``bond_index`` of ``rdmol`` (explicit H) homolytically."""
    mol = Chem.Mol(rdmol)
    bond = mol.GetBondWithIdx(bond_index)
    if bond.IsInRing():
        return []
    rw = Chem.RWMol(mol)
    a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    order = int(bond.GetBondTypeAsDouble())
    rw.RemoveBond(a, b)
    for k in (a, b):
        atom = rw.GetAtomWithIdx(k)
        atom.SetNumRadicalElectrons(atom.GetNumRadicalElectrons() + order)
        atom.SetNoImplicit(True)
    frags = Chem.GetMolFrags(rw.GetMol(), asMols=True, sanitizeFrags=True)
    return [Chem.MolToSmiles(Chem.RemoveHs(f)) for f in frags]


def locate_bond(parent: Molecule, fragment_a: str, fragment_b: str) -> Tuple[int, int]:
    """Atom indices (i, j) of the parent bond whose homolysis gives fragments A and B."""
    target = sorted([canonical(fragment_a), canonical(fragment_b)])
    for bond in parent.rdmol.GetBonds():
        if bond.IsInRing():
            continue
        if sorted(canonical(s) for s in homolytic_fragments(parent.rdmol, bond.GetIdx())) == target:
            return bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    raise InputError(f"no bond of {parent.smiles} breaks into {fragment_a} + {fragment_b}")


def split_at_bond(mol: Molecule, i: int, j: int) -> List[Molecule]:
    """The two radicals of homolysing bond i–j, frozen at the parent's geometry (rigid fragments).

    Each fragment keeps the parent's coordinates of its atoms; the bond order goes to each end as
    radical electrons, so the multiplicity is high-spin (doublet for a single bond).  Ring bonds
    give no fragments (an empty list).
    """
    bond = mol.rdmol.GetBondBetweenAtoms(int(i), int(j))
    if bond is None:
        raise InputError(f"atoms {i + 1} and {j + 1} are not bonded")
    if bond.IsInRing():
        return []
    rw = Chem.RWMol(mol.rdmol)
    order = int(bond.GetBondTypeAsDouble())
    rw.RemoveBond(int(i), int(j))
    for k in (int(i), int(j)):
        atom = rw.GetAtomWithIdx(k)
        atom.SetNumRadicalElectrons(atom.GetNumRadicalElectrons() + order)
        atom.SetNoImplicit(True)
    broken = rw.GetMol()
    broken.UpdatePropertyCache(strict=False)
    mapping: List[tuple] = []
    frags = Chem.GetMolFrags(broken, asMols=True, sanitizeFrags=False, fragsMolAtomMapping=mapping)
    out = []
    for frag, atom_ids in zip(frags, mapping):
        charge, multiplicity = graph_charge_and_multiplicity(frag)
        out.append(Molecule(rdmol=frag, positions=mol.positions[list(atom_ids)],
                            name=f"{mol.label}:{Chem.MolToSmiles(Chem.RemoveHs(frag, sanitize=False))}",
                            charge=charge, multiplicity=multiplicity, source="rigid fragment",
                            parent_atoms=tuple(int(a) for a in atom_ids)))
    return out


def cut_energy(pairs: pd.DataFrame, side_a: List[int], side_b: List[int]) -> float:
    """−Σ ε_ab (kcal/mol) over the pairs of a pair table with one atom on each side: Σ D_ab."""
    in_a = np.zeros(int(max(pairs["j"].max(), max(side_a), max(side_b))) + 1, dtype=bool)
    in_a[list(side_a)] = True
    i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
    across = in_a[i] != in_a[j]
    return float(pairs.loc[across, "D_ij"].sum())


def cut_response(parent_pairs: pd.DataFrame, fragments: Sequence[Tuple[Molecule, pd.DataFrame]],
                 i: int, j: int) -> pd.DataFrame:
    """How the model's pair energies inside the two rigid fragments change when bond i–j is cut.

    ``fragments``: each rigid fragment (:func:`split_at_bond`) with its pair table.  One row per pair
    of the parent inside a fragment (parent indices i < j): ``D_parent``, ``D_fragment`` and
    ``delta_D`` = D_fragment − D_parent (kcal/mol), ``at_centre`` (the pair touches atom i or j, the
    radical centres).  Σ delta_D = D_cut − BDE_rigid(model), the locality term of the error budget
    (docs/E3D_METHOD.md §4c): energy the model moves into the fragments' own pairs when the bond goes.
    """
    parts = []
    for frag, pairs in fragments:
        atoms = np.asarray(frag.parent_atoms)
        a, b = atoms[pairs["i"].to_numpy()], atoms[pairs["j"].to_numpy()]
        parts.append(pd.DataFrame({"i": np.minimum(a, b), "j": np.maximum(a, b),
                                   "D_fragment": pairs["D_ij"].to_numpy()}))
    side = np.zeros(int(parent_pairs[["i", "j"]].to_numpy().max(initial=max(i, j))) + 1, dtype=int)
    for k, (frag, _) in enumerate(fragments):
        side[list(frag.parent_atoms)] = k + 1
    inside = parent_pairs[side[parent_pairs["i"]] == side[parent_pairs["j"]]]
    keep = ["i", "j", "element_i", "element_j", "distance", "bonded", "bond_type", "D_ij"]
    out = (inside[keep].rename(columns={"D_ij": "D_parent"})
           .merge(pd.concat(parts), on=["i", "j"], how="left").fillna({"D_fragment": 0.0}))
    out["delta_D"] = out["D_fragment"] - out["D_parent"]
    out["at_centre"] = out["i"].isin([i, j]) | out["j"].isin([i, j])
    return out.reset_index(drop=True)


def bond_cut_energies(rdmol: Chem.Mol, bonds: pd.DataFrame, pairs: pd.DataFrame) -> List[float]:
    """The fragment-cut energy (kcal/mol) of each bond row (columns i, j) of a molecule; NaN for
    ring bonds, which have no two sides."""
    out = []
    for i, j in zip(bonds["i"], bonds["j"]):
        bond = rdmol.GetBondBetweenAtoms(int(i), int(j))
        out.append(float("nan") if bond is None or bond.IsInRing() else cut_energy(pairs, *bond_sides(rdmol, i, j)))
    return out

