"""PySCF DFT labels (e3d.data.dft) and a DFT-labelled dataset at tiny scale (minimal basis)."""

import json
import os

import numpy as np
import pytest

from e3d.cli import main
from e3d.data import dft

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVEL = "B3LYP/STO-3G"  # the real code path, a basis small enough for the tests


@pytest.mark.slow  # PySCF DFT: full suite only
def test_forces_are_minus_the_energy_gradient():
    z, pos = [8, 1, 1], np.array([[0.0, 0.0, 0.12], [0.0, 0.76, -0.47], [0.0, -0.76, -0.47]])
    e, f = dft.energy_and_forces(z, pos, level=LEVEL)
    h = 1e-3
    for atom, axis in ((1, 1), (0, 2)):
        plus, minus = pos.copy(), pos.copy()
        plus[atom, axis] += h
        minus[atom, axis] -= h
        numeric = -(dft.energy(z, plus, level=LEVEL) - dft.energy(z, minus, level=LEVEL)) / (2 * h)
        assert f[atom, axis] == pytest.approx(numeric, abs=2e-3)  # eV/Å


@pytest.mark.slow
def test_stretched_bond_finds_the_broken_symmetry_solution():
    """H2 at 3 Å: the stability analysis leaves the spin-restricted solution for ≈ two H atoms."""
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    e_stable = dft.energy([1, 1], pos, level=LEVEL)
    e_restricted = dft.energy([1, 1], pos, level=LEVEL, stability=False)
    two_atoms = 2 * dft.isolated_atom_energies(["H"], LEVEL)["H"]
    assert e_stable < e_restricted - 0.5  # eV
    assert abs(e_stable - two_atoms) < 0.1


@pytest.mark.slow  # PySCF DFT: full suite only
def test_closed_shell_frames_near_a_minimum_skip_nothing_by_taking_the_restricted_path():
    """near_minimum (RKS) gives the full path's energy and forces for a displaced closed-shell molecule."""
    z = [6, 1, 1, 1, 1]
    pos = np.array([[0.0, 0.0, 0.0], [0.66, 0.66, 0.6], [-0.6, -0.66, 0.63], [-0.63, 0.6, -0.66], [0.62, -0.6, -0.6]])
    e_fast, f_fast = dft.energy_and_forces(z, pos, level=LEVEL, near_minimum=True)
    e_full, f_full = dft.energy_and_forces(z, pos, level=LEVEL)
    assert e_fast == pytest.approx(e_full, abs=1e-5)
    assert np.allclose(f_fast, f_full, atol=1e-4)


@pytest.mark.slow  # PySCF DFT: full suite only
def test_rigid_dft_bde_of_methane_exceeds_the_relaxed_one_by_the_methyl_relaxation():
    """DFT labels get the like-with-like rigid BDE too: the fragments frozen at the parent's minimum; the
    pyramidal methyl at methane's geometry lies above the planar one (B3LYP/def2-SVP: ~6 kcal/mol)."""
    from e3d.references import ReferenceCache, reference_bde, rigid_reference_bde

    cache = ReferenceCache()
    rigid = rigid_reference_bde("C", "[CH3]", "[H]", "B3LYP/def2-SVP", cache)
    relaxed = reference_bde("C", "[CH3]", "[H]", "B3LYP/def2-SVP", cache)
    assert 100 < relaxed < rigid < relaxed + 12
    assert cache.rigid["B3LYP/def2-SVP"] == {"C>[CH3]>[H]": rigid}  # cached like the relaxed energies


def test_b3lyp_is_the_gaussian_definition():
    assert dft.split_level("B3LYP/def2-SVP") == ("b3lypg", "def2-SVP")
    with pytest.raises(Exception, match="FUNCTIONAL/BASIS"):
        dft.split_level("B3LYP")


@pytest.mark.parametrize("level, message", [("B3LYP/nobasis", "does not know the basis set 'nobasis'"),
                                            ("NOFUNC/def2-SVP", "does not know the functional 'NOFUNC'")])
def test_an_unknown_dft_level_is_refused_before_any_work(tmp_path, capsys, level, message):
    """A typo in --level used to surface as a PySCF traceback from the first SCF; now nothing is written."""
    out = tmp_path / "d.extxyz"
    assert main(["data", "dft", "--level", level, "--corpus", "eval", "--limit", "1", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not os.listdir(tmp_path)


@pytest.mark.slow
def test_data_dft_cli_writes_labelled_frames_and_a_model_trains_on_them(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    smi = tmp_path / "tiny.smi"
    smi.write_text("O water\nC methane\n")
    out = tmp_path / "tiny_trainval.extxyz"
    assert main(["data", "dft", "--corpus", str(smi), "--level", LEVEL, "--variant", "radicals",
                 "--n-thermal", "1", "--n-stretch", "1", "--n-radical-bonds", "1", "--out", str(out)]) == 0
    prov = json.load(open(str(out) + ".json"))
    assert prov["labels"]["method"] == LEVEL and "stability" in prov["labels"]["reference"]
    assert prov["settings"]["geometries_from"] == "GFN2-xTB" and not prov["failures"]
    assert set(prov["frames_by_kind"]) == {"eq", "thermal", "stretch", "radical"}
    assert set(prov["isolated_atom_energies_eV"]) >= {"H", "C", "O"}
    import ase.io

    frames = ase.io.read(str(out), index=":")
    assert len(frames) == prov["n_frames"]
    # two workers label the same frames identically
    out2 = tmp_path / "tiny_workers.extxyz"
    assert main(["data", "dft", "--corpus", str(smi), "--level", LEVEL, "--variant", "radicals", "--workers", "2",
                 "--n-thermal", "1", "--n-stretch", "1", "--n-radical-bonds", "1", "--out", str(out2)]) == 0
    frames2 = ase.io.read(str(out2), index=":")
    assert [a.info["index"] for a in frames2] == [a.info["index"] for a in frames]
    assert np.allclose([a.get_potential_energy() for a in frames2], [a.get_potential_energy() for a in frames])
    assert all(np.isfinite(a.get_forces()).all() for a in frames)
    # end to end: an Allegro model on the DFT frames, shifts fixed to the DFT isolated atoms
    import shutil

    shutil.copy(out, tmp_path / "tiny_test.extxyz")
    shutil.copy(str(out) + ".json", tmp_path / "tiny_test.extxyz.json")
    model = tmp_path / "dft.nequip.zip"
    assert main(["train", "configs/tiny.yaml", f"data_dir={tmp_path}", "trainer.max_epochs=1",
                 "--run-dir", str(tmp_path / "run"), "--out", str(model), "--id", "pytest-dft"]) == 0
    card = json.load(open(tmp_path / "dft.card.json"))
    assert card["level_of_theory"] == LEVEL and card["energy_shifts"]["isolated_atoms"] is True
    for el in ("H", "C", "O"):
        assert card["energy_shifts"]["values_eV"][el] == pytest.approx(prov["isolated_atom_energies_eV"][el])
    assert main(["bonds", "CO", "--model", str(model)]) == 0
