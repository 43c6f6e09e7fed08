"""The split of a bond energy's miss into per-bond-type offsets and what it knows within a type (§4j)."""

import numpy as np
import pandas as pd
import pytest

from e3d.within_type import MIN_ROWS, by_type, sentence, type_offset_split, within_type_metrics

REF = {"C-H": [105.0, 101.1, 98.6, 96.5, 88.0], "O-H": [118.8, 104.6, 105.4, 87.0], "C-C": [90.1, 88.6, 87.4, 79.5]}


def _rows(pred_of):
    types = [t for t, v in REF.items() for _ in v]
    ref = [x for v in REF.values() for x in v]
    return np.array(ref), np.array([pred_of(t, x) for t, x in zip(types, ref)]), types


def test_a_constant_offset_per_type_is_all_of_the_miss():
    offsets = {"C-H": -14.0, "O-H": 6.0, "C-C": 2.5}
    ref, pred, types = _rows(lambda t, x: x + offsets[t])
    s = type_offset_split(ref, pred, types)
    assert s["n"] == 13 and s["n_types"] == 3
    assert s["offset_share"] == pytest.approx(1.0)
    assert s["offset_corrected_mae"] == pytest.approx(0.0, abs=1e-9) and s["within_rho"] == pytest.approx(1.0)
    assert s["mae"] == pytest.approx(np.mean([abs(offsets[t]) for t in types]))
    assert s["type_mean_mae"] > 5  # the type alone knows nothing of the environment


def test_a_bond_energy_that_knows_only_its_type_gains_nothing_over_the_type_mean():
    """D = one value per type: with its leave-one-out offset taken out it *is* the type mean of the other rows."""
    values = {"C-H": 90.0, "O-H": 120.0, "C-C": 100.0}
    ref, pred, types = _rows(lambda t, x: values[t])
    s = type_offset_split(ref, pred, types)
    assert s["offset_corrected_mae"] == pytest.approx(s["type_mean_mae"])
    table = by_type(ref, pred, types).set_index("bond_type")
    assert table["offset_corrected_mae"].to_numpy() == pytest.approx(table["type_mean_mae"].to_numpy())
    assert table.loc["C-H", "offset"] == pytest.approx(90.0 - np.mean(REF["C-H"]))


def test_rare_types_and_missing_values_are_left_out():
    ref, pred, types = _rows(lambda t, x: x + 1.0)
    ref, pred, types = np.append(ref, [100.0, 50.0]), np.append(pred, [np.nan, 60.0]), types + ["C-H", "N-N"]
    s = type_offset_split(ref, pred, types)
    assert s["n"] == 13 and s["n_types"] == 3  # the NaN row and the one-row type are not measured
    assert set(by_type(ref, pred, types)["bond_type"]) == set(REF)
    few = type_offset_split(ref[:3], pred[:3], types[:3])  # three C-H rows: fewer than MIN_ROWS
    assert MIN_ROWS > 3 and few["n"] == 0 and np.isnan(few["mae"])


def test_within_type_metrics_reads_an_e3d_bde_table_on_its_rows():
    ref, pred, types = _rows(lambda t, x: x - 10.0 + 0.5 * (x - 100.0))
    bde = pd.DataFrame({"bond_type": types, "bde_kcal_mol": ref, "e3d_bde_298_kcal_mol": pred, "error": None,
                        "e3d_bde_kcal_mol": pred + 5.0, "rigid_reference_bde_kcal_mol": ref + 5.0})
    m = within_type_metrics(bde)
    assert m["within_d_vs_exp298_n"] == 13 and m["within_d_vs_exp298_within_rho"] == pytest.approx(1.0)
    assert m["within_d_vs_rigid_mae"] == pytest.approx(m["within_d_vs_exp298_mae"])
    assert np.isnan(m["within_frag_vs_exp298_mae"])  # no such column: NaN, not an error
    rows = pd.Series([t != "C-C" for t in types])
    assert within_type_metrics(bde, rows)["within_d_vs_exp298_n_types"] == 2
    line = sentence(type_offset_split(ref, pred, types), "D_ij vs experiment")
    assert line.startswith("D_ij vs experiment, 13 rows of 3 bond types") and "within-type ρ 1.00" in line


def test_seed_mean_split_averages_the_seeds_bond_by_bond_on_the_rows_they_share():
    """Two seeds whose within-type errors cancel: their mean is exact within the types, each alone is not."""
    from e3d.within_type import seed_mean_split

    ref, _, types = _rows(lambda t, x: x)
    noise = np.tile([3.0, -3.0], len(ref))[: len(ref)]
    frames = []
    for model, sign in (("m", 1.0), ("m-seed2", -1.0)):
        frames.append(pd.DataFrame({
            "model_id": model, "label": [f"b{k}" for k in range(len(ref))], "parent_smiles": "C", "fragment_a": "a",
            "fragment_b": "b", "bond_type": types, "bde_kcal_mol": ref, "e3d_bde_298_kcal_mol": ref - 10 + sign * noise,
            "error": None, "headline": True}))
    bde = pd.concat(frames, ignore_index=True)
    bde.loc[(bde["model_id"] == "m-seed2") & (bde["label"] == "b0"), "headline"] = False  # not shared: left out
    split = seed_mean_split(bde, ["m", "m-seed2"], "d_vs_exp298")
    assert split["seed_mean"]["n"] == 12 and split["members"]["n"] == 12
    assert split["seed_mean"]["offset_corrected_mae"] == pytest.approx(0.0, abs=1e-9)
    assert split["seed_mean"]["offset_share"] == pytest.approx(1.0)
    assert split["members"]["offset_corrected_mae"] > 2.0 and split["members"]["mae"] > split["seed_mean"]["mae"] - 1e-9
