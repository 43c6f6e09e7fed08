"""The sum rule against the additivity gap (docs/E3D_METHOD.md §4d), with real GFN2-xTB and a real tiny model."""

import numpy as np
import pandas as pd
import pytest

import e3d
from e3d.additivity import GAP_COLUMNS, additivity_gap, model_additivity_gap, sum_rule_metrics, with_additivity_gap
from e3d.fragments import homolytic_fragments
from e3d.references import ReferenceCache, rigid_reference_bde, xtb_minimum


@pytest.fixture(scope="module")
def cache():
    return ReferenceCache()


def test_gap_of_diatomics_methane_and_rings(cache):
    h2 = additivity_gap("[HH]", cache)  # one bond: its BDE is the atomization energy
    assert h2["n_bonds"] == 1 and h2["atomization_kcal_mol"] > 50
    assert h2["gap_rigid_per_bond_kcal_mol"] == pytest.approx(0, abs=1e-6)
    assert h2["gap_relaxed_per_bond_kcal_mol"] == pytest.approx(0, abs=1e-6)
    ch4 = additivity_gap("C", cache)
    rigid_ch = rigid_reference_bde("C", "[CH3]", "[H]", "GFN2-xTB", cache)
    assert ch4["n_bonds"] == 4 and ch4["sum_rigid_bde_kcal_mol"] == pytest.approx(4 * rigid_ch)
    # four C–H BDEs exceed the atomization energy: more with frozen than with relaxed fragments
    assert ch4["gap_rigid_per_bond_kcal_mol"] > ch4["gap_relaxed_per_bond_kcal_mol"] > 0
    assert np.isnan(additivity_gap("C1CC1", cache)["gap_rigid_per_bond_kcal_mol"])  # ring bonds: no fragments


def test_sum_rule_identity_with_a_real_model(tiny_model, cache):
    """Over a molecule's bonds: mean(D_ij − rigid BDE) = −(G + Σ_non-bonded D)/n + (AE_model − AE_labels)/n."""
    smiles = "CO"
    parent = xtb_minimum(smiles, cache)
    pairs = e3d.pair_table(e3d.edge_energies(tiny_model, [parent])[0])
    bonds = list(parent.rdmol.GetBonds())
    rigid = {}
    for b in bonds:
        fa, fb = homolytic_fragments(parent.rdmol, b.GetIdx())
        i, j = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        rigid[(i, j)] = rigid_reference_bde(smiles, fa, fb, "GFN2-xTB", cache)
    d = pairs.set_index(["i", "j"])["D_ij"]
    miss = np.mean([d[k] - v for k, v in rigid.items()])
    gap = additivity_gap(smiles, cache)
    n = gap["n_bonds"]
    ae_model = pairs["D_ij"].sum()  # the sum rule: −Σ ε = AE of the model (its shifts are the atoms)
    nonbonded = pairs.loc[~pairs["bonded"], "D_ij"].sum()
    expected = -(gap["gap_rigid_per_bond_kcal_mol"] * n + nonbonded) / n + (ae_model - gap["atomization_kcal_mol"]) / n
    assert miss == pytest.approx(expected, abs=1e-6)
    # the model's own gap: its rigid BDEs of every bond add up to its atomization energy + G_model
    from e3d.bde import bond_cut_response

    model_rigid = [bond_cut_response(tiny_model, parent, b.GetBeginAtomIdx(), b.GetEndAtomIdx()).model_rigid_bde
                   for b in bonds]
    g_model = model_additivity_gap(tiny_model, parent)
    assert sum(model_rigid) == pytest.approx(ae_model + n * g_model, abs=1e-6)
    assert model_additivity_gap(tiny_model, e3d.from_smiles("[HH]")) == pytest.approx(0, abs=1e-9)


def test_gap_columns_and_sum_rule_metrics(cache):
    bde = pd.DataFrame({"parent_smiles": ["C", "C", "[HH]", "C1CC1"], "error": [None] * 4})
    out = with_additivity_gap(bde, cache, progress=False)
    ch4 = additivity_gap("C", cache)["gap_rigid_per_bond_kcal_mol"]
    assert out[GAP_COLUMNS["rigid"]].iloc[0] == pytest.approx(ch4) and np.isnan(out[GAP_COLUMNS["rigid"]].iloc[3])
    # each row's gap is its own labeller's; a DFT gap comes from the cache only (none here), GFN2-xTB's is computed
    other = with_additivity_gap(bde.assign(reference_method=["GFN2-xTB", "B3LYP/def2-SVP", None, "GFN2-xTB"]),
                                cache, progress=False)
    assert other[GAP_COLUMNS["rigid"]].iloc[0] == pytest.approx(ch4) and other[GAP_COLUMNS["rigid"]].iloc[1:3].isna().all()
    dft_only = with_additivity_gap(bde.assign(reference_method="B3LYP/def2-SVP"), None, progress=False)
    assert set(GAP_COLUMNS.values()) <= set(dft_only) and dft_only[list(GAP_COLUMNS.values())].isna().all().all()
    # a D_ij that misses by exactly −G/n: the sum rule accounts for all of it (r = 1)
    t = pd.DataFrame({"error": [None] * 4, GAP_COLUMNS["rigid"]: [10.0, 2.0, 6.0, np.nan],
                      "rigid_reference_bde_kcal_mol": [100.0, 90.0, 110.0, 95.0]})
    t["e3d_bde_kcal_mol"] = t["rigid_reference_bde_kcal_mol"] - t[GAP_COLUMNS["rigid"]].fillna(0)
    m = sum_rule_metrics(t)
    assert m["sum_rule_n"] == 3 and m["sum_rule_r"] == pytest.approx(1.0)
    assert m["d_vs_rigid_mean_error"] == pytest.approx(m["sum_rule_mean_offset"]) == pytest.approx(-6.0)
    assert m["additivity_gap_mean_abs"] == pytest.approx(6.0)
    assert m["d_plus_gap_vs_rigid_mae"] == pytest.approx(0.0) and m["d_plus_gap_vs_rigid_rho"] == pytest.approx(1.0)
    assert m["sum_rule_d_vs_rigid_mae"] == pytest.approx(6.0)  # D_ij itself on the same rows
    assert m["d_plus_relaxed_gap_vs_exp298_n"] == 0 and np.isnan(m["d_plus_relaxed_gap_vs_exp298_mae"])  # no experiment
    # against experiment (a relaxed BDE) the relaxed gap: a D_ij(298 K) that misses it by exactly −G_relaxed/n
    t = t.assign(**{GAP_COLUMNS["relaxed"]: [4.0, 1.0, 3.0, 2.0], "bde_kcal_mol": [90.0, 100.0, 80.0, 95.0]})
    t["e3d_bde_298_kcal_mol"] = t["bde_kcal_mol"] - t[GAP_COLUMNS["relaxed"]]
    m = sum_rule_metrics(t)
    assert m["d_plus_relaxed_gap_vs_exp298_n"] == 4 and m["d_plus_relaxed_gap_vs_exp298_mae"] == pytest.approx(0.0)
    assert m["d_plus_relaxed_gap_vs_exp298_rho"] == pytest.approx(1.0)


DFT = "B3LYP/def2-SVP"


def test_dft_gap_computed_once_then_read_from_the_cache():
    """A DFT additivity gap (real PySCF single points): H₂'s one bond is its atomization energy (G = 0, so the
    isolated atoms and the fragments share one reference); methane's four C–H BDEs exceed it.  Without ``compute``
    a gap comes only from energies already in the cache — all of a parent's bonds there, or NaN."""
    cache = ReferenceCache()
    assert additivity_gap("[HH]", cache, DFT)["gap_rigid_per_bond_kcal_mol"] == pytest.approx(0, abs=1e-6)
    ch4 = additivity_gap("C", cache, DFT)
    assert ch4["gap_rigid_per_bond_kcal_mol"] > ch4["gap_relaxed_per_bond_kcal_mol"] > 0
    bde = pd.DataFrame({"parent_smiles": ["C", "CC"], "reference_method": DFT, "error": [None, None]})
    shipped = ReferenceCache.from_json(cache.to_json())  # what a saved reference file gives a new process
    out = with_additivity_gap(bde, shipped, progress=False)
    assert out[GAP_COLUMNS["rigid"]].iloc[0] == pytest.approx(ch4["gap_rigid_per_bond_kcal_mol"])
    assert np.isnan(out[GAP_COLUMNS["rigid"]].iloc[1])  # ethane's bonds were never computed: no single point run
    assert "CC" not in shipped.energies.get(DFT, {})
    partial = ReferenceCache.from_json(cache.to_json())
    partial.rigid[DFT].pop(next(k for k in partial.rigid[DFT] if k.startswith("C>")))
    gap = additivity_gap("C", partial, DFT, compute=False)
    assert np.isnan(gap["gap_rigid_per_bond_kcal_mol"])  # one bond missing: no rigid gap …
    assert gap["gap_relaxed_per_bond_kcal_mol"] == pytest.approx(ch4["gap_relaxed_per_bond_kcal_mol"])  # … relaxed kept
