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


def test_cleave_takes_every_bond_of_the_named_types_with_the_graphs_multiplicity():
    """``cleave``: the radicals of every acyclic bond of the named types (a multiple bond leaves two or three
    unpaired electrons on each side: triplet CH2, quartet CH), one-atom fragments and repeats dropped; without it
    the random single bonds as before."""
    from e3d.data.frames import radical_fragments

    rng = np.random.default_rng(0)
    propene = from_smiles("C=CC", name="propene")
    frags = radical_fragments(propene, rng, 1, cleave=["C=C"])
    assert sorted((f.smiles, f.multiplicity) for f in frags) == [("[CH2]", 3), ("[CH]C", 3)]
    acetylene = radical_fragments(from_smiles("C#C"), rng, 1, cleave=["C#C"])  # both CH alike: one
    assert [(f.smiles, f.multiplicity) for f in acetylene] == [("[CH]", 4)]
    glycol = radical_fragments(from_smiles("OCCO"), rng, 1, cleave=["O-H"])  # two O–H bonds, one radical; no H atom
    assert [(f.smiles, f.multiplicity) for f in glycol] == [("[O]CCO", 2)]
    assert radical_fragments(from_smiles("CCC"), rng, 1, cleave=["O-H", "C=O"]) == []
    assert all(f.multiplicity == 2 for f in radical_fragments(from_smiles("CC=CCO"), rng, 3))  # single bonds only


def test_bond_types_are_checked_and_the_spelling_named():
    import pytest

    from e3d.errors import InputError
    from e3d.pairs import bond_type_label, check_bond_type

    ethanol = from_smiles("CC=O")
    for bond in ethanol.rdmol.GetBonds():  # what the labeller writes passes
        assert check_bond_type(bond_type_label(bond)) == bond_type_label(bond)
    with pytest.raises(InputError, match="write it 'O-H'"):
        check_bond_type("H-O")
    with pytest.raises(InputError, match="not ELEMENT-ELEMENT"):
        check_bond_type("OH")


def test_a_build_refuses_kinds_and_cleaving_its_variant_does_not_make(tmp_path):
    """Checked before any labelling: ``kinds`` the variant lacks, ``cleave`` without radicals, a misspelt type."""
    import pytest

    from e3d.data.build import build_dataset, xtb_labeller
    from e3d.errors import E3DError

    corpus, out = [("ethanol", "CCO")], str(tmp_path / "x.extxyz")
    with pytest.raises(E3DError, match="variant 'thermal' makes no radical frames"):
        build_dataset(corpus, out, xtb_labeller(), variant="thermal", kinds=["radical"], progress=False)
    with pytest.raises(E3DError, match="variant 'stretch' makes no radical frames"):
        build_dataset(corpus, out, xtb_labeller(), variant="stretch", cleave=["O-H"], progress=False)
    with pytest.raises(E3DError, match="write it 'O-H'"):
        build_dataset(corpus, out, xtb_labeller(), cleave=["H-O"], progress=False)
    assert not (tmp_path / "x.extxyz").exists()  # nothing written


def test_a_cleave_build_labels_only_the_named_bonds_radicals(tmp_path):
    """GFN2-xTB (real tblite), one parent: radicals only, every one from the O–H bond, provenance says so."""
    import json

    import ase.io

    from e3d.data.build import build_dataset, xtb_labeller

    out = str(tmp_path / "cleave.extxyz")
    prov = build_dataset([("ethanol", "CCO")], out, xtb_labeller(), n_thermal=3, kinds=["radical"], cleave=["O-H"],
                         progress=False)
    frames = ase.io.read(out, ":")
    assert prov["frames_by_kind"] == {"radical": 2} and len(frames) == 2  # relaxed + one displaced copy
    assert {a.info["smiles"] for a in frames} == {"CC[O]"} and all(a.info["multiplicity"] == 2 for a in frames)
    assert json.load(open(out + ".json"))["settings"]["cleave"] == ["O-H"]
