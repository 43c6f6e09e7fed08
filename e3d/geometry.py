"""Moving atoms: local minimisation with any ASE calculator, and one bond set to a length.

Shared by the analyses (relaxing species with a model or the labeller, bond-stretch scans) and
the dataset builders (:mod:`e3d.data.frames`).
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
from rdkit import Chem

from .molecule import Molecule


RELAX_FMAX = 0.05  # eV/Å: the default convergence of a relaxation (data building records it)
SYMMETRY_BREAK = 0.02  # Å rms: the start displacement of the analyses' relaxations (species minima; see relax)


def relax(mol: Molecule, calculator, fmax: float = RELAX_FMAX, steps: int = 200, displace: float = 0.0) -> Molecule:
    """Local minimum with the given ASE calculator (BFGS).

    ``displace``: start from a copy displaced at random (seeded, rms Å per coordinate).  A symmetric start
    is a stationary point a gradient relaxation never leaves: RDKit embeds HCO•, acyl and vinyl radicals with
    a linear radical centre, a GFN2-xTB saddle 11.6 (HCO•), 11.1 (CH3CO•) and 2.6 (C2H3•) kcal/mol above
    the bent minimum; 0.01 Å suffices to reach it.
    """
    if mol.n_atoms == 1:
        return mol
    atoms = relax_atoms(displaced(mol, displace).to_ase(), calculator, fmax=fmax, steps=steps)
    return mol.with_positions(atoms.positions)


def displaced(mol: Molecule, displace: float) -> Molecule:
    """``mol`` displaced at random (seeded: the same start every time), rms ``displace`` Å per coordinate."""
    if not displace:
        return mol
    return mol.with_positions(mol.positions + np.random.default_rng(0).normal(0.0, displace, mol.positions.shape))


def relax_atoms(atoms, calculator, fmax: float = RELAX_FMAX, steps: int = 200):
    """:func:`relax` for ASE atoms (no bond graph needed): BFGS in place; returns ``atoms``."""
    from ase.optimize import BFGS

    if len(atoms) > 1:
        atoms.calc = calculator
        BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return atoms


BOND_FACTOR = 1.2  # bonded at a geometry: r_ij < BOND_FACTOR · (r_cov,i + r_cov,j), ASE's covalent radii


def covalent_ratio(numbers, positions: np.ndarray) -> np.ndarray:
    """Every pair's distance over the sum of the two atoms' covalent radii (ASE's): (n, n), 0 on the diagonal."""
    from ase.data import covalent_radii

    radii = covalent_radii[np.asarray(numbers)]
    return np.linalg.norm(positions[:, None] - positions[None], axis=-1) / (radii[:, None] + radii[None])


def graph_changes(mol: Molecule, broken: float = 1.5, fused: float = BOND_FACTOR) -> List[Tuple[int, int]]:
    """Atom pairs (i < j) where the geometry contradicts the molecule's bond graph: bonded in the graph but
    farther apart than ``broken`` × the sum of their covalent radii (ASE's), or not bonded but closer than
    ``fused`` × that sum — by default a bond by :data:`BOND_FACTOR`, so a new bond at its usual length counts
    (session 38: a shipped model relaxed ethylene glycol into a cluster whose hydroxyl H atoms bridge both O at
    1.01 Å, ratio 1.04, 27 eV below its GFN2-xTB minimum; at GFN2-xTB minima of the BDE table's species no non-bonded
    pair comes closer than 1.50).  Empty for a sound geometry; a relaxation that collapsed or split the
    molecule lists the pairs."""
    dist = covalent_ratio(mol.numbers, mol.positions)
    graph = np.zeros(dist.shape, dtype=bool)
    for b in mol.rdmol.GetBonds():
        graph[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = graph[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = True
    wrong = np.where(graph, dist > broken, dist < fused)
    i, j = np.nonzero(np.triu(wrong, k=1))
    return list(zip(i.tolist(), j.tolist()))


def moving_side(rdmol: Chem.Mol, i: int, j: int) -> np.ndarray:
    """Atoms that move with ``j`` when bond i–j is stretched: j's side of an acyclic bond, else j alone."""
    bond = rdmol.GetBondBetweenAtoms(int(i), int(j))
    if bond is None or bond.IsInRing():
        return np.array([j])
    frag = Chem.FragmentOnBonds(rdmol, [bond.GetIdx()], addDummies=False)
    for atom_ids in Chem.GetMolFrags(frag, asMols=False):
        if j in atom_ids:
            side = np.array(sorted(atom_ids))
            other = rdmol.GetNumAtoms() - len(side)
            # move the smaller side so the rest of the molecule stays put
            return side if len(side) <= other else np.array(sorted(set(range(rdmol.GetNumAtoms())) - set(atom_ids)))
    return np.array([j])


def stretch_bond(mol: Molecule, i: int, j: int, length: float) -> Molecule:
    """Copy with bond i–j set to ``length`` Å along its axis (one side translated rigidly)."""
    side = moving_side(mol.rdmol, i, j)
    pos = mol.positions.copy()
    if i in side:  # the smaller side holds i: move it instead
        i, j = j, i
    vec = pos[j] - pos[i]
    r = np.linalg.norm(vec)
    pos[side] += (length - r) * vec / r
    return mol.with_positions(pos)
