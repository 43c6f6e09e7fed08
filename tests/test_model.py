"""Model loading and what `info` reports."""

import numpy as np
import pytest

from e3d.errors import ModelError
from e3d.model import load_model


def test_info_reads_factors_from_model(tiny_model):
    info = tiny_model.info()
    assert info["type_names"] == ["H", "C", "N", "O", "F", "S", "Cl"]
    assert info["r_max_angstrom"] == pytest.approx(4.5)
    assert info["dtype"] == "float64"
    assert "isolated atoms" in info["shifts_reference"] and "spin-polarised" in info["shifts_reference"]
    # shifts are the fixed GFN2-xTB isolated atoms, not trained
    card_shifts = tiny_model.card["energy_shifts"]["values_eV"]
    for t, mu in info["energy_shifts_eV"].items():
        assert mu == pytest.approx(card_shifts[t], abs=1e-9)
    assert np.all(tiny_model.edge_factor > 0)


def test_missing_and_bad_model_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "missing.nequip.zip"))
    bad = tmp_path / "bad.nequip.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ModelError, match="could not load model"):
        load_model(str(bad))
    notes = tmp_path / "README.md"
    notes.write_text("# not a model")
    with pytest.raises(ModelError, match="README.md is not a model file: give a .nequip.zip, .ckpt, .nequip.pt2 or .sum.json file"):
        load_model(str(notes))  # refused by name, before anything is unpickled
    with pytest.raises(ModelError, match="internet"):
        load_model("nequip.net:mir-group/foo:0.1")


def test_float32_mode_matches_float64_within_round_off(tiny_model_path, tiny_model):
    import torch

    from e3d import edge_energies, from_smiles
    from e3d.edges import sum_rule_tolerance
    from e3d.pairs import pair_table

    m32 = load_model(tiny_model_path, device="cpu", dtype="float32")
    assert m32.dtype == torch.float32 and m32.info()["dtype"] == "float32"
    mlps = {n: p.dtype for n, p in m32.module.named_parameters() if ".mlp" in n}  # the radial spline stays float64
    assert len(mlps) >= 5 and set(mlps.values()) == {torch.float32}
    np.testing.assert_allclose(m32.edge_factor, tiny_model.edge_factor)
    mols = [from_smiles(s) for s in ("CCO", "CC(=O)Oc1ccccc1C(=O)O", "ClCC(F)S")]
    r64 = edge_energies(tiny_model, mols)
    r32 = edge_energies(m32, mols)  # default tolerance follows the dtype: no error
    for a, b in zip(r64, r32):
        assert abs(a.total_energy - b.total_energy) < 1e-3
        assert 0 < abs(b.residual) < sum_rule_tolerance(m32, b.molecule.n_atoms)  # real round-off, reported
        np.testing.assert_allclose(pair_table(a)["D_ij"], pair_table(b)["D_ij"], atol=0.05)  # kcal/mol
    # a float64 tolerance on a float32 model names the cause
    from e3d.errors import SumRuleError

    with pytest.raises(SumRuleError, match="float32"):
        edge_energies(m32, mols[1:2], tolerance=1e-12)


def test_bad_dtype_is_a_clean_error(tiny_model_path):
    with pytest.raises(ModelError, match="float32 or float64"):
        load_model(tiny_model_path, dtype="float16")


@pytest.mark.parametrize("device, message", [("tpu", "not a device name"), ("mps", "runs on cpu or cuda"),
                                             ("cuda:99", "device 'cuda:99'")])
def test_bad_device_is_a_clean_error(tiny_model_path, device, message):
    """--device names torch cannot parse, or a GPU this machine lacks: torch's RuntimeError/AssertionError
    tracebacks before; cuda:99 fails on CPU-only and GPU machines alike."""
    with pytest.raises(ModelError, match=message):
        load_model(tiny_model_path, device=device)


def test_concurrent_energy_only_and_force_calls_do_not_interfere(tiny_model):
    """The app shares one model between sessions: forces must never come back missing because another
    thread has the force pass switched off."""
    import threading

    import e3d
    from e3d.calculator import model_energy
    from e3d.edges import edge_energies

    mols = [e3d.from_smiles(s) for s in ("CCO", "c1ccccc1", "CC(=O)N")]
    errors = []

    def energies():
        try:
            for _ in range(10):
                edge_energies(tiny_model, mols)
        except Exception as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    def forces():
        try:
            for m in mols * 4:
                model_energy(m, tiny_model)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (energies, forces, energies, forces)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(m.do_derivatives for m in tiny_model.module.modules() if hasattr(m, "do_derivatives"))


def test_calculator_is_nequips_and_returns_edge_energies(tiny_model):
    """E3DCalculator subclasses nequip's ASE calculator and leaves the same edge energies as
    e3d.edge_energies, which with the shifts sum to its energy."""
    from nequip.integrations.ase import NequIPCalculator

    import e3d
    from e3d.calculator import E3DCalculator

    mol = e3d.from_smiles("CC(=O)O")
    atoms = mol.to_ase()
    atoms.calc = calc = E3DCalculator(tiny_model)
    assert isinstance(calc, NequIPCalculator)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert forces.shape == (mol.n_atoms, 3) and np.isfinite(forces).all()
    (ref,) = e3d.edge_energies(tiny_model, [mol])
    got = dict(zip(map(tuple, calc.results["edge_index"].T), calc.results["edge_energies"]))
    want = dict(zip(zip(ref.i, ref.j), ref.e))
    assert got.keys() == want.keys()
    assert max(abs(got[k] - want[k]) for k in want) < 1e-8
    assert abs(sum(got.values()) + ref.shift_sum - energy) < 1e-6
