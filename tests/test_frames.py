"""Frame generators of the training data (e3d/data/frames.py)."""

import numpy as np

from e3d.data.frames import stretched, stretched_bond
from e3d.geometry import stretch_bond
from e3d.molecule import from_smiles


def test_stretched_bond_recovers_the_bond_each_stretched_frame_moved():
    rng = np.random.default_rng(0)
    for smiles in ["CCO", "c1ccccc1O", "CC(=O)N", "ClCCF"]:
        mol = from_smiles(smiles)
        for _ in range(6):
            k = rng.integers(mol.rdmol.GetNumBonds())
            bond = mol.rdmol.GetBondWithIdx(int(k))
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            r0 = np.linalg.norm(mol.positions[i] - mol.positions[j])
            frame = stretch_bond(mol, i, j, r0 * rng.uniform(0.85, 2.0))
            assert sorted(stretched_bond(mol.numbers, mol.positions, frame.positions)) == sorted((i, j)), smiles
        for frame in stretched(mol, rng, 3):  # the generator's own frames: one bonded pair moved, found again
            i, j = stretched_bond(mol.numbers, mol.positions, frame.positions)
            assert mol.rdmol.GetBondBetweenAtoms(i, j) is not None
