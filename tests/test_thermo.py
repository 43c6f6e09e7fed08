"""ZPE/thermal corrections (e3d.thermo) with real GFN2-xTB Hessians."""

import numpy as np
import pandas as pd
import pytest
from e3d.units import CODATA as units

from e3d import from_smiles, thermo
from e3d.bde import ELECTRONIC, ENTHALPY_298, with_298k
from e3d.references import ReferenceCache, xtb_relaxed
from e3d.thermo import thermal_correction
from e3d.data import xtb
from e3d.units import KCAL_PER_EV


def test_spring_network_has_3n_minus_6_positive_modes():
    """A pair-spring Hessian is translation/rotation invariant: the projection leaves 3N−6 real modes."""
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(5, 3)) * 1.5
    h = np.zeros((15, 15))
    for i in range(5):
        for j in range(i + 1, 5):
            u = (pos[i] - pos[j]) / np.linalg.norm(pos[i] - pos[j])
            block = 10.0 * np.outer(u, u)
            for a, b, sign in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
                h[3 * a:3 * a + 3, 3 * b:3 * b + 3] += sign * block
    hw, modes = thermo.harmonic_modes(pos, np.array([6, 6, 8, 1, 1]), h)
    assert len(hw) == 9 and (hw > 0).all() and modes.shape == (15, 9)
    # the same network rotated gives the same quanta
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = np.kron(np.eye(5), q)
    hw2, _ = thermo.harmonic_modes(pos @ q.T, np.array([6, 6, 8, 1, 1]), rot @ h @ rot.T)
    np.testing.assert_allclose(hw, hw2, rtol=1e-8)


def test_h2_correction_is_the_textbook_expression():
    """H2 → 2 H: ΔH_corr = 2·(5/2 kT) − (ZPE + 3/2 kT + kT + E_vib + kT) for the one xTB stretch."""
    m = xtb_relaxed(from_smiles("[H][H]"), fmax=0.002)
    h = thermo.hessian(m.positions, lambda p: xtb.energy_and_forces(m.numbers, p, 0, 1)[1])
    (hw,), _ = thermo.harmonic_modes(m.positions, m.numbers, h)
    assert 3500 < hw * thermo.EV_TO_CM < 4500  # H–H stretch, cm⁻¹
    kt = units.kB * thermo.T_298
    expected = (5 * kt - (hw / 2 + 3.5 * kt + hw / np.expm1(hw / kt))) * KCAL_PER_EV
    assert thermal_correction("[H][H]", "[H]", "[H]", ReferenceCache()) == pytest.approx(expected, abs=0.05)


def test_x_h_corrections_are_the_known_size():
    """ΔH_298 − D_e for X–H homolysis is ≈ −6…−9 kcal/mol (zero-point energy of the lost bond)."""
    cache = ReferenceCache()
    for row in [("C", "[CH3]", "[H]"), ("O", "[OH]", "[H]"), ("c1ccccc1O", "c1ccccc1[O]", "[H]")]:
        assert -10.0 < thermal_correction(*row, cache) < -5.0, row


def test_with_298k_columns_follow_the_model_quantity():
    bde = pd.DataFrame({"parent_smiles": ["C", "CC"], "fragment_a": ["[CH3]", "[CH3]"], "fragment_b": ["[H]", "[CH3]"],
                        "e3d_bde_kcal_mol": [110.0, 95.0], "model_fragment_bde_kcal_mol": [108.0, 93.0],
                        "e3d_cut_bde_kcal_mol": [104.0, 90.0],
                        "reference_bde_kcal_mol": [112.0, 96.0],
                        "error": [None, None]})
    cache = ReferenceCache()
    electronic = with_298k(bde, ELECTRONIC, cache)
    corr = electronic["thermal_correction_kcal_mol"]
    assert corr.notna().all() and (corr < 0).all()
    np.testing.assert_allclose(electronic["e3d_bde_298_kcal_mol"], bde["e3d_bde_kcal_mol"] + corr)
    np.testing.assert_allclose(electronic["reference_bde_298_kcal_mol"], bde["reference_bde_kcal_mol"] + corr)
    np.testing.assert_allclose(electronic["model_fragment_bde_298_kcal_mol"], bde["model_fragment_bde_kcal_mol"] + corr)
    np.testing.assert_allclose(electronic["e3d_cut_bde_298_kcal_mol"], bde["e3d_cut_bde_kcal_mol"] + corr)
    assert "e3d_relaxed_estimate_298_kcal_mol" not in electronic  # only the columns the table has
    enthalpy = with_298k(bde, ENTHALPY_298, cache)  # an H298-trained model already gives 298 K enthalpies
    np.testing.assert_allclose(enthalpy["e3d_bde_298_kcal_mol"], bde["e3d_bde_kcal_mol"])
    assert set(cache.thermal) == {"C", "CC", "[CH3]", "[H]"}  # each species once
