"""SPICE 2 reader on a small HDF5 file the test writes in SPICE's layout (GFN2-xTB numbers inside)."""

import json
import os

import ase.io
import numpy as np
import pytest

from e3d.cli import main
from e3d.data import xtb
from e3d.data.frames import thermal
from e3d.data.spice import atom_references, convert, write_spice_layout
from e3d.errors import E3DError
from e3d.molecule import from_smiles
from e3d.units import ANGSTROM_PER_BOHR, EV_PER_HARTREE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def spice_file(tmp_path_factory):
    refs_ev = xtb.isolated_atom_energies(["H", "C", "N", "O", "Cl"])
    rng = np.random.default_rng(0)
    molecules = []
    for name, smi, subset in [("ethanol", "CCO", "PubChem"), ("methylamine", "CN", "PubChem"),
                              ("acetic acid", "CC(=O)O", "Amino Acid Ligand Pairs"),
                              ("chloromethane", "CCl", "DES370K Monomers"), ("ammonium", "[NH4+]", "PubChem")]:
        mol = from_smiles(smi)
        confs = [mol] + thermal(mol, rng, 3)
        labels = [xtb.energy_and_forces(c.numbers, c.positions, c.charge, c.multiplicity) for c in confs]
        e_h = np.array([e for e, _ in labels]) / EV_PER_HARTREE
        grad = -np.array([f for _, f in labels]) / EV_PER_HARTREE * ANGSTROM_PER_BOHR
        atoms_h = sum(refs_ev[s] for s in mol.symbols) / EV_PER_HARTREE
        molecules.append({"name": name, "smiles": smi, "subset": subset, "atomic_numbers": mol.numbers.astype(np.int16),
                          "conformations": np.array([c.positions for c in confs]) / ANGSTROM_PER_BOHR,
                          "dft_total_energy": e_h, "dft_total_gradient": grad, "formation_energy": e_h - atoms_h})
    path = str(tmp_path_factory.mktemp("spice") / "spice_small.hdf5")
    write_spice_layout(path, molecules)
    return path, refs_ev, molecules


def test_atom_references_recovered(spice_file):
    path, refs_ev, _ = spice_file
    got = atom_references(path)
    assert got["determined"] and got["max_residual_eV"] < 1e-6
    for el, mu in got["energies_eV"].items():
        assert mu == pytest.approx(refs_ev[el], abs=1e-6)


def test_convert_units_filters_and_charge(spice_file, tmp_path):
    path, _, molecules = spice_file
    prov = convert(path, str(tmp_path / "all.extxyz"), progress=False)
    assert prov["n_molecules"] == 5 and prov["n_frames"] == 20
    frames = list(ase.io.iread(tmp_path / "all.extxyz"))
    first = molecules[0]
    frames = [f for f in frames if f.info["name"] == "ethanol"] + [f for f in frames if f.info["name"] != "ethanol"]
    np.testing.assert_allclose(frames[0].positions, first["conformations"][0] * ANGSTROM_PER_BOHR, atol=1e-6)
    assert frames[0].get_potential_energy() == pytest.approx(first["dft_total_energy"][0] * EV_PER_HARTREE, abs=1e-6)
    np.testing.assert_allclose(frames[0].get_forces(),
                               -first["dft_total_gradient"][0] * EV_PER_HARTREE / ANGSTROM_PER_BOHR, atol=1e-6)
    assert [f.info["charge"] for f in frames if f.info["name"] == "ammonium"] == [1] * 4
    sub = convert(path, str(tmp_path / "sub.extxyz"), subsets=["pubchem"], elements=["H", "C", "N", "O"],
                  progress=False)
    assert sub["n_molecules"] == 3 and sub["elements"] == ["C", "H", "N", "O"]


def test_not_spice_layout(tmp_path):
    import h5py

    bad = tmp_path / "bad.hdf5"
    with h5py.File(bad, "w") as h5:
        h5.create_group("x").create_dataset("atomic_numbers", data=np.array([1]))
    with pytest.raises(E3DError, match="not the SPICE layout"):
        atom_references(str(bad))
    (tmp_path / "text.hdf5").write_text("hello")
    with pytest.raises(E3DError, match="not a readable HDF5"):
        atom_references(str(tmp_path / "text.hdf5"))


@pytest.mark.slow
def test_spice_to_trained_model_with_dataset_shifts(spice_file, tmp_path, monkeypatch):
    path, refs_ev, _ = spice_file
    monkeypatch.chdir(ROOT)
    data = tmp_path / "spice"
    assert main(["data", "spice", "--input", path, "--out", str(data / "spice.extxyz")]) == 0
    assert main(["data", "spice", "--input", path, "--subset", "DES370K", "--out", str(data / "spice_test.extxyz")]) == 0
    out = tmp_path / "s.nequip.zip"
    assert main(["train", "configs/spice.yaml", f"data_dir={data}", "model_type_names=[H,C,N,O,Cl]",
                 "trainer.max_epochs=1", "--run-dir", str(tmp_path / "run"), "--out", str(out)]) == 0
    card = json.load(open(tmp_path / "s.card.json"))
    assert card["energy_shifts"]["isolated_atoms"] is True
    assert card["level_of_theory"].startswith("ωB97M-D3BJ")
    for el, mu in card["energy_shifts"]["values_eV"].items():
        assert mu == pytest.approx(refs_ev[el], abs=1e-6)
