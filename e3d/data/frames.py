"""Geometries to label: relaxed, thermal, bond-stretched and radical-fragment frames.

Each generator takes a :class:`~e3d.molecule.Molecule` and a NumPy ``Generator`` and
returns new molecules (same graph, new positions), so the whole dataset is reproducible
from one seed.  Relaxation uses any ASE calculator (the labeller's, so equilibrium means
equilibrium at the labelling level of theory).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
from rdkit import Chem

from ..fragments import homolytic_fragments, split_at_bond
from ..geometry import BOND_FACTOR, covalent_ratio, stretch_bond
from ..molecule import Molecule, from_smiles


def thermal(mol: Molecule, rng: np.random.Generator, n: int, sigma_range=(0.03, 0.12)) -> List[Molecule]:
    """Gaussian-displaced copies (σ uniform in ``sigma_range`` Å): a cheap stand-in for MD snapshots."""
    out = []
    for _ in range(n):
        sigma = rng.uniform(*sigma_range)
        out.append(mol.with_positions(mol.positions + rng.normal(0.0, sigma, mol.positions.shape)))
    return out


def stretched(mol: Molecule, rng: np.random.Generator, n: int, factor_range=(0.85, 2.0)) -> List[Molecule]:
    """Copies with one random bond stretched (or compressed) by a random factor."""
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.rdmol.GetBonds()]
    out = []
    for _ in range(n if bonds else 0):
        i, j = bonds[rng.integers(len(bonds))]
        r0 = np.linalg.norm(mol.positions[i] - mol.positions[j])
        out.append(stretch_bond(mol, i, j, r0 * rng.uniform(*factor_range)))
    return out


def stretched_bond(numbers, parent_positions: np.ndarray, positions: np.ndarray) -> tuple:
    """(i, j) of the bond :func:`stretched` moved: of the parent's bonded pairs (``geometry.BOND_FACTOR``), the
    one whose length changed most (one side moves rigidly along that bond's axis, so it changes most)."""
    before = np.linalg.norm(parent_positions[:, None] - parent_positions[None], axis=-1)
    after = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    bonded = np.triu(covalent_ratio(numbers, parent_positions) < BOND_FACTOR, k=1)
    i, j = np.unravel_index(np.argmax(np.where(bonded, np.abs(after - before), -1.0)), before.shape)
    return int(i), int(j)


def rigid_radical_fragments(mol: Molecule, rng: np.random.Generator, n_bonds: int) -> List[Molecule]:
    """Rigid fragments (:func:`split_at_bond`) of up to ``n_bonds`` random acyclic single bonds (≥ 2 atoms each)."""
    candidates = [b for b in mol.rdmol.GetBonds() if not b.IsInRing() and b.GetBondType() == Chem.BondType.SINGLE]
    order = rng.permutation(len(candidates))
    out = []
    for k in order[:n_bonds]:
        b = candidates[int(k)]
        out += [f for f in split_at_bond(mol, b.GetBeginAtomIdx(), b.GetEndAtomIdx()) if f.n_atoms >= 2]
    return out


def radical_fragments(mol: Molecule, rng: np.random.Generator, n_bonds: int,
                      cleave: Optional[Sequence[str]] = None) -> List[Molecule]:
    """3D radical fragments (≥ 2 atoms each) of up to ``n_bonds`` randomly chosen acyclic single bonds, or with
    ``cleave`` (bond types: ``O-H``, ``C=C``, ``C#C``) of every acyclic bond of those types — multiple bonds give
    fragments with two or three unpaired electrons (triplet CH2, quartet CH: the graph's multiplicity)."""
    if cleave is not None:
        from ..pairs import bond_type_label  # the one bond-type naming (pairs pulls in the model layer: lazy)

        wanted = set(cleave)
        candidates = [b.GetIdx() for b in mol.rdmol.GetBonds() if not b.IsInRing() and bond_type_label(b) in wanted]
    else:
        candidates = [b.GetIdx() for b in mol.rdmol.GetBonds()
                      if not b.IsInRing() and b.GetBondType() == Chem.BondType.SINGLE]
        rng.shuffle(candidates)
        candidates = candidates[:n_bonds]
    out, seen = [], set()
    for idx in candidates:
        try:
            frags = homolytic_fragments(mol.rdmol, idx)
        except Exception:
            continue
        for smi in frags:
            if smi in seen:
                continue
            seen.add(smi)
            try:
                frag = from_smiles(smi, name=f"{mol.label}:{smi}")
            except Exception:
                continue
            if frag.n_atoms >= 2:
                out.append(frag)
    return out

