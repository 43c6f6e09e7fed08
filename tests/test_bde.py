"""Learned BDE of specific bonds: bond location, model and GFN2-xTB BDEs, metrics, CLI contract."""

import os

import numpy as np
import pandas as pd
import pytest

from e3d.bde import bde_table
from e3d.metrics import parity_metrics
from e3d.fragments import locate_bond
from e3d.cli import main
from e3d.errors import InputError
from e3d.molecule import from_smiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXP_TABLE = os.path.join(ROOT, "e3d", "resources", "exp_bde_visible.csv")


@pytest.mark.parametrize("parent, a, b, elements, order", [
    ("CO", "[CH3]", "[OH]", {"C", "O"}, 1.0),
    ("CO", "C[O]", "[H]", {"O", "H"}, 1.0),
    ("CO", "[CH2]O", "[H]", {"C", "H"}, 1.0),
    ("C=C", "[CH2]", "[CH2]", {"C"}, 2.0),
    ("C#C", "C#[C]", "[H]", {"C", "H"}, 1.0),
    ("c1ccccc1", "[c]1ccccc1", "[H]", {"C", "H"}, 1.0),
])
def test_locate_bond(parent, a, b, elements, order):
    mol = from_smiles(parent)
    i, j = locate_bond(mol, a, b)
    bond = mol.rdmol.GetBondBetweenAtoms(i, j)
    assert {mol.symbols[i], mol.symbols[j]} == elements
    assert bond.GetBondTypeAsDouble() == order


def test_locate_bond_mismatch():
    with pytest.raises(InputError, match="no bond of"):
        locate_bond(from_smiles("CC"), "[CH3]", "[OH]")


def test_parity_metrics_known_values():
    m = parity_metrics([1, 2, 3, 4], [2, 3, 4, 5])
    assert m["n"] == 4 and m["mae"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(1.0)
    assert m["slope"] == pytest.approx(1.0) and m["intercept"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 4 / 5)
    assert parity_metrics([1, np.nan, 3], [1, 2, np.nan])["n"] == 1
    flat = parity_metrics([0, 0, 0], [0, 1, 2])  # a reference without spread: errors, but no slope or ranking
    assert flat["mae"] == pytest.approx(1.0) and np.isnan(flat["slope"]) and np.isnan(flat["spearman"])
    constant = parity_metrics([0, 1, 2], [5, 5, 5])  # a constant prediction: a slope of 0, but no ranking
    assert constant["slope"] == pytest.approx(0.0) and np.isnan(constant["spearman"])


def test_bde_table_with_xtb_reference_and_bad_rows(tiny_model):
    table = pd.DataFrame({
        "label": ["H3C-OH", "HO-H", "nonsense", "bad smiles"],
        "parent_smiles": ["CO", "O", "CC", "C1CC"],
        "fragment_a": ["[CH3]", "[OH]", "[CH3]", "[CH3]"],
        "fragment_b": ["[OH]", "[H]", "[OH]", "[H]"],
        "bde_kcal_mol": [92.1, 118.8, 0.0, 0.0],
    })
    out = bde_table(tiny_model, table, progress=False)
    assert list(out["label"]) == list(table["label"])  # same rows, same order
    good = out.iloc[:2]
    assert good["error"].isna().all()
    assert (good["reference_method"] == "GFN2-xTB").all()
    # GFN2-xTB's own homolytic BDEs (relaxed, spin-polarised fragments) are strong bonds
    assert good["reference_bde_kcal_mol"].between(80, 200).all()
    assert np.isfinite(good["e3d_bde_kcal_mol"]).all() and np.isfinite(good["model_fragment_bde_kcal_mol"]).all()
    assert "no bond of" in out.loc[2, "error"] and "invalid SMILES" in out.loc[3, "error"]
    # the error budget: D_ij − rigid labels = accuracy + locality + partition, row by row and on average
    from e3d.bde import error_budget

    total = good["e3d_bde_kcal_mol"] - good["rigid_reference_bde_kcal_mol"]
    parts = ((good["model_rigid_bde_kcal_mol"] - good["rigid_reference_bde_kcal_mol"])
             + (good["e3d_cut_bde_kcal_mol"] - good["model_rigid_bde_kcal_mol"])
             + (good["e3d_bde_kcal_mol"] - good["e3d_cut_bde_kcal_mol"]))
    np.testing.assert_allclose(parts, total, atol=1e-9)
    budget = error_budget(out)
    assert sum(budget[f"budget_{t}_mean"] for t in ("accuracy", "locality", "partition")) == pytest.approx(total.mean())
    assert budget["budget_locality_at_centres_mean"] + budget["budget_locality_beyond_mean"] == pytest.approx(
        budget["budget_locality_mean"]) and np.isfinite(budget["budget_locality_at_centres_mae"])
    assert budget["budget_partition_mae"] == pytest.approx(
        (good["e3d_bde_kcal_mol"] - good["e3d_cut_bde_kcal_mol"]).abs().mean())
    # the relaxed estimate's miss = the cut's miss against the rigid labels + the relaxation term
    from e3d.bde import relaxation_term

    relaxed_miss = good["e3d_relaxed_estimate_kcal_mol"] - good["reference_bde_kcal_mol"]
    relaxation = ((good["rigid_reference_bde_kcal_mol"] - good["reference_bde_kcal_mol"])
                  - (good["model_rigid_bde_kcal_mol"] - good["model_fragment_bde_kcal_mol"]))
    np.testing.assert_allclose(relaxed_miss, good["e3d_cut_bde_kcal_mol"] - good["rigid_reference_bde_kcal_mol"]
                               + relaxation, atol=1e-9)
    term = relaxation_term(out)
    assert term["relaxation_term_mean"] == pytest.approx(relaxation.mean())
    assert term["relaxation_term_mae"] == pytest.approx(relaxation.abs().mean())
    # the model's rigid BDE is its own energies: fragments frozen at the parent geometry, minus the parent
    from e3d.calculator import model_energy
    from e3d.fragments import split_at_bond
    from e3d.units import KCAL_PER_EV
    from e3d.bde import model_geometry
    from e3d.references import ReferenceCache

    parent, _ = model_geometry(tiny_model, "O", ReferenceCache())
    i, j = int(good.iloc[1]["atom_i"]), int(good.iloc[1]["atom_j"])
    rigid = (sum(model_energy(f, tiny_model) for f in split_at_bond(parent, i, j)) - model_energy(parent, tiny_model))
    assert rigid * KCAL_PER_EV == pytest.approx(good.iloc[1]["model_rigid_bde_kcal_mol"], abs=1e-6)
    # the labels' bond-additive fit: the row's bond-type energy, a series of its own in the metrics
    from e3d.bde import SERIES, bde_metrics, with_298k, with_additive_fit

    fit = pd.Series({"C-O": 80.0, "O-H": 110.0})
    with_fit = with_298k(with_additive_fit(good, fit), good["quantity"].iloc[0])
    assert with_fit["additive_fit_kcal_mol"].tolist() == [80.0, 110.0]
    np.testing.assert_allclose(with_fit["additive_fit_298_kcal_mol"],
                               with_fit["additive_fit_kcal_mol"] + with_fit["thermal_correction_kcal_mol"])
    assert with_additive_fit(good, pd.Series({"C-O": 80.0}))["additive_fit_kcal_mol"].isna().tolist() == [False, True]
    metrics = bde_metrics(with_fit, with_fit["quantity"].iloc[0])
    row = metrics[(metrics["series"] == "labels' bond-additive fit") & (metrics["against"] == "labelling method, rigid")]
    assert "labels' bond-additive fit" in SERIES and len(row) == 1
    assert row["mae"].iloc[0] == pytest.approx((with_fit["additive_fit_kcal_mol"]
                                                - with_fit["rigid_reference_bde_kcal_mol"]).abs().mean())


def test_bde_cli_on_reference_table(tiny_model_path, tmp_path, capsys):
    rows = pd.read_csv(EXP_TABLE).iloc[[0, 12, 22]]
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    out = tmp_path / "out.csv"
    assert main(["bde", str(path), "--model", tiny_model_path, "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert {"e3d_bde_kcal_mol", "model_fragment_bde_kcal_mol", "reference_bde_kcal_mol",
            "atom_i", "atom_j", "error", "thermal_correction_kcal_mol", "e3d_bde_298_kcal_mol"} <= set(df.columns)
    assert df["thermal_correction_kcal_mol"].between(-15, 5).all()
    assert set(rows.columns) <= set(df.columns) and len(df) == 3
    assert df["error"].isna().all()
    printed = capsys.readouterr().out
    assert "vs experiment" in printed
    # GFN2-xTB labels (the tiny model's): the parents' additivity gap, the error budget and the sum rule's share
    assert {"additivity_gap_rigid_kcal_mol", "additivity_gap_relaxed_kcal_mol",
            "locality_at_centres_kcal_mol"} <= set(df.columns)
    assert "error budget of D_ij − rigid labels" in printed and "sum rule (n=" in printed


@pytest.mark.parametrize("smiles, centre, lowered_kcal", [("[CH]=O", 0, 11.0), ("C[C]=O", 1, 10.0)])
def test_species_minima_leave_the_linear_saddle_of_the_embedding(smiles, centre, lowered_kcal):
    """RDKit embeds acyl radicals with a linear radical centre, a GFN2-xTB saddle that a plain gradient
    relaxation keeps; the reference minimum is the bent radical, well below it."""
    from e3d.data import xtb
    from e3d.geometry import relax
    from e3d.references import ReferenceCache, xtb_energy, xtb_minimum
    from e3d.units import KCAL_PER_EV

    start = from_smiles(smiles)
    saddle = relax(start, xtb.xtb_calculator(0, 2), fmax=0.01, steps=500)
    minimum = xtb_minimum(smiles, ReferenceCache())
    drop = (xtb_energy(saddle, relax=False) - xtb_energy(minimum, relax=False)) * KCAL_PER_EV
    assert drop > lowered_kcal
    neighbours = [a.GetIdx() for a in minimum.rdmol.GetAtomWithIdx(centre).GetNeighbors()]
    u, v = (minimum.positions[n] - minimum.positions[centre] for n in neighbours)
    angle = np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
    assert 110 < angle < 150  # bent (B3LYP: HCO 124°, CH3CO 128°)


def test_graph_changes_lists_broken_and_fused_pairs():
    from e3d.geometry import graph_changes, stretch_bond

    ethane = from_smiles("CC")
    assert graph_changes(ethane) == []
    assert graph_changes(stretch_bond(ethane, 0, 1, 3.0)) == [(0, 1)]
    water = from_smiles("O")
    pos = water.positions.copy()
    pos[2] = pos[1] + 0.3 * (pos[2] - pos[1]) / np.linalg.norm(pos[2] - pos[1])  # the two H 0.3 Å apart
    assert (1, 2) in graph_changes(water.with_positions(pos))
    # a new bond at its usual length, not closer than the covalent radii (ratio 1.13; H2's is 1.19): a bond
    pos[2] = pos[1] + 0.70 * (pos[2] - pos[1]) / np.linalg.norm(pos[2] - pos[1])
    assert (1, 2) in graph_changes(water.with_positions(pos))


def test_a_species_the_labeller_takes_apart_has_no_reference_energy():
    """GFN2-xTB relaxes HCOO• into H + CO2: no energy of that species, so no relaxed BDE to it (NaN), while
    the rigid BDE (fragments frozen at the parent's geometry) stays defined."""
    from e3d.references import ReferenceCache, reference_bde, rigid_reference_bde, species_energy

    cache = ReferenceCache()
    assert np.isnan(species_energy("[O]C=O", "GFN2-xTB", cache))
    assert np.isnan(reference_bde("COC=O", "[CH3]", "[O]C=O", "GFN2-xTB", cache))
    assert 80 < rigid_reference_bde("COC=O", "[CH3]", "[O]C=O", "GFN2-xTB", cache) < 200


def test_a_fragment_with_no_minimum_leaves_its_values_empty_and_says_why(tmp_path, capsys):
    """A model trained without forces is evaluated at GFN2-xTB minima, and GFN2-xTB takes HCOO• apart (H + CO2):
    its model fragment BDE and relaxed estimate would be another species' — empty, with a note (the ZPE/thermal
    term too: no frequencies of that species); D_ij, read at the parent, stays.  The CLI names the row."""
    from e3d.bde import with_298k
    from e3d.model import load_model

    path = os.path.join(ROOT, "precomputed", "models", "qm9-h298-1k.nequip.zip")
    rows = pd.DataFrame({"label": ["CH3-OC=O", "CH3-H", "H-CO2"], "parent_smiles": ["COC=O", "C", "[O]C=O"],
                         "fragment_a": ["[CH3]", "[CH3]", "[O][C]=O"], "fragment_b": ["[O]C=O", "[H]", "[H]"]})
    out = with_298k(bde_table(load_model(path), rows, reference=None, progress=False), "electronic")
    bad, good = out.iloc[0], out.iloc[1]
    assert out.loc[2, "error"] == ("[O]C=O falls apart when relaxed with GFN2-xTB: no geometry of this molecule to "
                                   "read its bonds at")  # a parent with no minimum: nothing to read
    assert np.isnan(bad["model_fragment_bde_kcal_mol"]) and np.isnan(bad["e3d_relaxed_estimate_kcal_mol"])
    assert np.isfinite(bad["e3d_bde_kcal_mol"]) and pd.isna(bad["error"])
    assert bad["note"] == ("[O]C=O falls apart when relaxed with GFN2-xTB: no model fragment BDE or relaxed estimate; "
                           "no ZPE/thermal term ([O]C=O falls apart when relaxed with GFN2-xTB)")
    assert np.isfinite(good["model_fragment_bde_kcal_mol"]) and np.isfinite(good["thermal_correction_kcal_mol"])
    assert pd.isna(good["note"])
    table = tmp_path / "t.csv"
    rows.to_csv(table, index=False)
    assert main(["bde", str(table), "--model", path, "--no-reference", "-o", str(tmp_path / "o.csv")]) == 0
    printed = capsys.readouterr().out
    assert "1 row(s) with a note (values left empty" in printed and "row 1 (CH3-OC=O): [O]C=O falls apart" in printed
    assert "row 3 (H-CO2): [O]C=O falls apart" in printed  # the error, named as errors are


@pytest.mark.parametrize("model_id, smiles, why", [
    ("dft-emergence-seed3", "OCO", "bonds"),  # methanediol into a collapsed cluster: O···O 0.84 Å
    ("dft-emergence-heavy4-seed3", "OCCO", "bonds"),  # ethylene glycol's hydroxyl H bridging both O (O···H 1.01 Å)
    ("dft-locality", "OCCF", "hole"),  # bonds kept, 10.2 eV below the model's energy at the GFN2-xTB minimum
])
def test_a_collapsed_model_minimum_falls_back_to_the_labellers(model_id, smiles, why):
    """Shipped DFT fine-tunes relax these parents into clusters that are not the species (ethylene glycol's
    27 eV below its GFN2-xTB minimum, D_cut 695 kcal/mol until session 38), so the rows are evaluated at the GFN2-xTB
    minimum and say so."""
    from e3d.bde import MODEL_HOLE, XTB_FALLBACK, model_geometry
    from e3d.geometry import graph_changes
    from e3d.model import load_model
    from e3d.references import ReferenceCache

    model = load_model(os.path.join(ROOT, "precomputed", "models", f"{model_id}.nequip.zip"))
    geom, source = model_geometry(model, smiles, ReferenceCache())
    assert source == {"bonds": XTB_FALLBACK, "hole": MODEL_HOLE}[why] and graph_changes(geom) == []


def test_a_fragment_read_at_its_labellers_minimum_is_named_in_the_note():
    """dft-locality relaxes hydroxylamine soundly but its fragment H2NO into a hole (1.7 eV below the model's energy
    at the GFN2-xTB minimum): the row keeps its values, with the fragment's energy at its GFN2-xTB minimum, and the
    note names it (the row's ``geometry`` is the parent's)."""
    from e3d.bde import MODEL_HOLE, MODEL_MINIMUM
    from e3d.model import load_model

    model = load_model(os.path.join(ROOT, "precomputed", "models", "dft-locality.nequip.zip"))
    rows = pd.DataFrame({"label": ["NO-H"], "parent_smiles": ["NO"], "fragment_a": ["N[O]"], "fragment_b": ["[H]"]})
    row = bde_table(model, rows, reference=None, progress=False).iloc[0]
    assert row["geometry"] == MODEL_MINIMUM and pd.isna(row["error"])
    assert row["note"] == f"N[O] read at its {MODEL_HOLE}"
    assert np.isfinite(row["model_fragment_bde_kcal_mol"]) and np.isfinite(row["e3d_relaxed_estimate_kcal_mol"])


def test_models_trained_with_forces_are_relaxed_with_themselves(tiny_model):
    from e3d.bde import MODEL_MINIMUM

    rows = pd.DataFrame({"label": ["HO-H"], "parent_smiles": ["O"], "fragment_a": ["[OH]"], "fragment_b": ["[H]"]})
    out = bde_table(tiny_model, rows, reference=None, progress=False)
    assert out.loc[0, "geometry"] == MODEL_MINIMUM


def test_batched_relaxations_reach_the_minima_one_by_one_does(tiny_model):
    """relax_many_with_model: one BFGS per molecule, the force calls batched — the same geometries as ASE's BFGS run
    on each molecule with the model's calculator (a lone atom stays put; a step budget is each molecule's own)."""
    from e3d.calculator import E3DCalculator, relax_many_with_model
    from e3d.geometry import SYMMETRY_BREAK, relax

    mols = [from_smiles(s) for s in ("CCO", "[CH2]C", "[H]", "O", "C=C[CH2]", "CN")]
    for steps in (500, 3):
        alone = [relax(m, E3DCalculator(tiny_model), fmax=0.01, steps=steps, displace=SYMMETRY_BREAK) for m in mols]
        batched = relax_many_with_model(mols, tiny_model, fmax=0.01, steps=steps)
        for a, b in zip(alone, batched):
            np.testing.assert_allclose(b.positions, a.positions, atol=1e-6)
    assert np.array_equal(batched[2].positions, mols[2].positions)
    assert not np.allclose(batched[0].positions, mols[0].positions, atol=1e-3)  # it moved


def test_error_budget_by_type_adds_up():
    """Per bond type, the three terms' means add up to the mean of D_ij − rigid labels."""
    from e3d.bde import error_budget_by_type

    rng = np.random.default_rng(0)
    n = 12
    bde = pd.DataFrame({"bond_type": ["C-H"] * 8 + ["O-H"] * 4, "error": [None] * n,
                        "e3d_bde_kcal_mol": rng.normal(100, 10, n), "e3d_cut_bde_kcal_mol": rng.normal(100, 10, n),
                        "model_rigid_bde_kcal_mol": rng.normal(100, 10, n),
                        "rigid_reference_bde_kcal_mol": rng.normal(100, 10, n),
                        "locality_at_centres_kcal_mol": rng.normal(0, 5, n)})
    table = error_budget_by_type(bde).set_index("bond_type")
    assert list(table.index) == ["C-H", "O-H"] and list(table["n"]) == [8, 4]
    np.testing.assert_allclose(table[["accuracy", "locality", "partition"]].sum(axis=1), table["total"])
    oh = bde[bde["bond_type"] == "O-H"]
    assert table.loc["O-H", "locality"] == pytest.approx(
        (oh["e3d_cut_bde_kcal_mol"] - oh["model_rigid_bde_kcal_mol"]).mean())
    # the locality term's two parts: at the radical centres and beyond
    np.testing.assert_allclose(table[["locality_at_centres", "locality_beyond"]].sum(axis=1), table["locality"])
    assert table["relaxation"].isna().all()  # no relaxed columns in this table: no relaxation term
    bde = bde.assign(model_fragment_bde_kcal_mol=bde["model_rigid_bde_kcal_mol"] - 5.0,
                     reference_bde_kcal_mol=bde["rigid_reference_bde_kcal_mol"] - 3.0)
    assert error_budget_by_type(bde)["relaxation"].tolist() == pytest.approx([-2.0, -2.0])  # 3 − 5: relaxes too far
    assert table.loc["O-H", "locality_at_centres"] == pytest.approx(oh["locality_at_centres_kcal_mol"].mean())
