"""Moving atoms: local minimisation with any ASE calculator, and one bond set to a length.

Shared by the analyses (relaxing species with a model or the labeller, bond-stretch scans) and
the dataset builders (:mod:`e3d.data.frames`).
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from .molecule import Molecule


RELAX_FMAX = 0.05  # eV/Å: the default convergence of a relaxation (data building records it)


def relax(mol: Molecule, calculator, fmax: float = RELAX_FMAX, steps: int = 200) -> Molecule:
    """Local minimum with the given ASE calculator (BFGS)."""
    from ase.optimize import BFGS

    if mol.n_atoms == 1:
        return mol
    atoms = mol.to_ase()
    atoms.calc = calculator
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return mol.with_positions(atoms.positions)


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
