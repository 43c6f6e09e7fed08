"""Molecule input: SMILES, XYZ, SDF, PDB, tables, and every bad input named clearly."""

import os

import numpy as np
import pytest

from e3d.errors import InputError
from e3d.molecule import (from_smiles, load_input, molecules_from_bytes, read_molecules,
                          validate)


def test_smiles_embeds_with_hydrogens_and_graph():
    mol = from_smiles("CCO", name="ethanol")
    assert mol.n_atoms == 9
    assert sorted(mol.symbols) == sorted(["C", "C", "O"] + ["H"] * 6)
    assert mol.rdmol.GetNumBonds() == 8
    assert (mol.charge, mol.multiplicity) == (0, 1)
    d = np.linalg.norm(mol.positions[0] - mol.positions[1])
    assert 1.45 < d < 1.60  # MMFF C-C


def test_smiles_radical_and_ion_charge_multiplicity():
    assert from_smiles("[CH3]").multiplicity == 2
    assert from_smiles("[CH2]").multiplicity == 3
    assert from_smiles("C[NH3+]").charge == 1
    h = from_smiles("[H]")
    assert h.n_atoms == 1


@pytest.mark.parametrize("bad", ["C1CC", "not a smiles", "", "C(C"])
def test_invalid_smiles(bad):
    with pytest.raises(InputError, match="SMILES"):
        from_smiles(bad)


def test_xyz_bond_perception(data_dir):
    (mol,) = read_molecules(os.path.join(data_dir, "ethanol.xyz"))
    assert mol.n_atoms == 9 and mol.rdmol.GetNumBonds() == 8
    assert mol.charge == 0 and mol.multiplicity == 1
    co = [b for b in mol.rdmol.GetBonds() if {b.GetBeginAtom().GetSymbol(), b.GetEndAtom().GetSymbol()} == {"C", "O"}]
    assert len(co) == 1 and co[0].GetBondTypeAsDouble() == 1.0


def test_multi_record_sdf(data_dir):
    mols = read_molecules(os.path.join(data_dir, "two.sdf"))
    assert [m.name for m in mols] == ["acetonitrile", "benzene"]
    assert mols[1].n_atoms == 12


def test_sdf_records_and_a_malformed_record_kept_apart(data_dir):
    """Records split on their ``$$$$`` lines (a MOL block without one is a record; blank tails are none); with
    ``on_error`` a record that does not parse is handed over, named, and the others are read."""
    from e3d.molecule import sdf_records

    two = open(os.path.join(data_dir, "two.sdf")).read()
    first, second = [r + "$$$$\n" for r in two.split("$$$$\n")[:2]]
    assert sdf_records(two) == [first, second]
    assert sdf_records(first + second[:-5] + "\n\n") == [first, second[:-5] + "\n\n"]  # last one without $$$$
    assert sdf_records(first + "\n  \n") == [first]
    text = (first + "broken\n  not a counts line\n\nM  END\n$$$$\n" + second).encode()
    with pytest.raises(InputError, match="mixed.sdf: record 2 is malformed"):
        molecules_from_bytes(text, "mixed.sdf")
    errors = []
    mols = molecules_from_bytes(text, "mixed.sdf", on_error=lambda name, exc: errors.append((name, str(exc))))
    assert [m.name for m in mols] == ["acetonitrile", "benzene"]
    assert errors == [("broken", "mixed.sdf: record 2 is malformed (RDKit could not parse it)")]


def test_pdb(data_dir):
    (mol,) = read_molecules(os.path.join(data_dir, "acetic_acid.pdb"))
    assert mol.n_atoms == 8 and mol.rdmol.GetNumBonds() == 7


def test_csv_of_smiles(data_dir):
    mols = read_molecules(os.path.join(data_dir, "molecules.csv"))
    assert [m.name for m in mols] == ["ethanol", "water", "methylamine"]


@pytest.mark.parametrize("name, text", [("header.csv", "smiles,name\n"), ("blank.smi", "\n# a comment\n")])
def test_a_table_without_smiles_says_so(name, text):
    """A CSV with its header and no rows came back empty (and `e3d batch` then spoke of shards and processes)."""
    with pytest.raises(InputError, match=f"{name}: no SMILES found"):
        molecules_from_bytes(text.encode(), name)


def test_batch_with_one_bad_row_keeps_the_others(data_dir):
    errors = []
    with open(os.path.join(data_dir, "bad_row.csv"), "rb") as fh:
        mols = molecules_from_bytes(fh.read(), "bad_row.csv", on_error=lambda n, e: errors.append((n, e)))
    assert [m.name for m in mols] == ["ethanol"]
    assert errors and errors[0][0] == "broken" and "invalid SMILES" in str(errors[0][1])
    assert str(errors[0][1]).count("broken:") == 1  # named once


@pytest.mark.parametrize("fname, message", [
    ("empty.xyz", "empty"),
    ("truncated.xyz", "truncated"),
    ("binary.sdf", "binary"),
    ("nan.xyz", "NaN"),
    ("close_atoms.xyz", "closer than 0.5"),
    ("bad.sdf", "malformed"),
])
def test_bad_files(data_dir, fname, message):
    with pytest.raises(InputError, match=message):
        read_molecules(os.path.join(data_dir, fname))


def test_unknown_file_type_and_missing_file(tmp_path):
    p = tmp_path / "mol.cif"
    p.write_text("data_x\n")
    with pytest.raises(InputError, match="unsupported file type"):
        read_molecules(str(p))
    with pytest.raises(InputError, match="not found"):
        read_molecules(str(tmp_path / "nothing.xyz"))


def test_too_many_atoms():
    with pytest.raises(InputError, match="more than the limit of 10"):
        from_smiles("CCCCCCCC", max_atoms=10)
    mol = from_smiles("CCCCCCCC")
    with pytest.raises(InputError, match="26 atoms"):
        validate(mol, ["H", "C"], max_atoms=25)


def test_unsupported_element_lists_model_types(data_dir):
    (xe,) = read_molecules(os.path.join(data_dir, "xenon.xyz"))
    with pytest.raises(InputError, match=r"Xe not supported by this model \(it knows H, C, O\)"):
        validate(xe, ["H", "C", "O"])


def test_load_input_smiles_or_file(data_dir):
    assert load_input("CO")[0].n_atoms == 6
    assert load_input(os.path.join(data_dir, "ethanol.xyz"))[0].n_atoms == 9


def test_mixture_fragments_are_embedded_apart_and_computed_each_as_itself(tiny_model):
    import numpy as np

    import e3d

    mol = e3d.from_smiles("CCO.O")
    frags = [list(f) for f in __import__("rdkit").Chem.GetMolFrags(mol.rdmol)]
    a, b = mol.positions[frags[0]], mol.positions[frags[1]]
    gap = np.linalg.norm(a[:, None] - b[None], axis=-1).min()
    assert gap >= e3d.molecule.FRAGMENT_GAP - 1e-6 and gap > tiny_model.r_max
    pairs = e3d.pair_table(e3d.edge_energies(tiny_model, [mol])[0])
    cross = pairs[pairs["i"].isin(frags[0]) != pairs["j"].isin(frags[0])]
    assert cross.empty  # no pair energy and no "bond" across the fragments
    water = e3d.edge_energies(tiny_model, [e3d.from_smiles("O")])[0]
    ethanol = e3d.edge_energies(tiny_model, [e3d.from_smiles("CCO")])[0]
    both = e3d.edge_energies(tiny_model, [mol])[0]
    # the same conformers as alone (same embedding seed per fragment is not guaranteed): the water is rigid
    assert both.total_energy == pytest.approx(water.total_energy + ethanol.total_energy, abs=0.5)


def test_charged_species_get_a_note():
    import e3d

    assert e3d.molecule.charge_note("C[NH3+]", 1).startswith("C[NH3+] has charge +1")
    assert e3d.molecule.charge_note("CCO", 0) is None


def test_frame_smiles_survives_ases_boolean_reading(tmp_path):
    """ASE reads hydrogen fluoride's `smiles=F` back as False: frame_smiles undoes it, so the training domain
    counts its F–H bond (e3d.train.training_domain)."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from e3d.molecule import frame_smiles
    from e3d.train import training_domain

    frames = []
    for symbols, smiles, pos in (("HF", "F", [[0, 0, 0], [0, 0, 0.92]]), ("CH4", "C", None)):
        a = ase.Atoms(symbols, positions=pos) if pos else ase.Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63],
                                                                                      [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]])
        a.info.update(smiles=smiles, kind="eq")
        a.calc = SinglePointCalculator(a, energy=-1.0, forces=np.zeros((len(a), 3)))
        frames.append(a)
    path = tmp_path / "set.extxyz"
    ase.io.write(path, frames, format="extxyz")
    back = list(ase.io.iread(path))
    assert [frame_smiles(a) for a in back] == ["F", "C"]
    assert training_domain(str(path))["bond_types"] == {"C-H": 4, "F-H": 1}


def test_frame_bond_types_refuses_a_smiles_of_other_atoms():
    """A frame's bond types come from its SMILES only when that molecule has the frame's atoms (hydrogens included):
    methane's five atoms read as ethane, or an unreadable SMILES, are unknown (None), not wrong counts."""
    import ase

    from e3d.pairs import frame_bond_types

    methane = ase.Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                                          [0.63, -0.63, -0.63]])
    for smiles, expected in (("C", {"C-H": 4}), ("CC", None), ("C1CC", None), (None, None)):
        methane.info["smiles"] = smiles
        assert frame_bond_types(methane) == expected, smiles
