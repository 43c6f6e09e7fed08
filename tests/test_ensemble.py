"""Seed-ensemble spread of D_ij (e3d.ensemble) on real models' pair tables."""

import os

import numpy as np
import pandas as pd
import pytest

from e3d import edge_energies, from_smiles, load_model
from e3d.ensemble import (SPREAD_QUANTITIES, bde_spread, bond_spread, ensemble_members, seed_mean_parity,
                          spread_by_quantity, spread_by_type)
from e3d.cards import MODELS_DIR
from e3d.pairs import pairs_for_molecules

OTHER = os.path.join(MODELS_DIR, "xtb-eq.nequip.zip")  # a second real model with the same elements


def test_members_from_index():
    index = {"models": [{"id": "a"}, {"id": "a-s2", "ensemble": "a"}, {"id": "a-s3", "ensemble": "a"},
                        {"id": "b"}, {"id": "c-s2", "ensemble": "c"}]}  # c itself is not shipped: no ensemble
    assert ensemble_members(index) == {"a": ["a", "a-s2", "a-s3"]}


@pytest.mark.skipif(not os.path.exists(OTHER), reason="shipped model missing")
def test_bond_spread_of_two_real_models(tiny_model, tmp_path):
    mols = [from_smiles(s, name=s) for s in ("CCO", "CC#N")]
    tables = []
    for mid, model in (("m1", tiny_model), ("m2", load_model(OTHER, device="cpu"))):
        t = pairs_for_molecules(edge_energies(model, mols))
        tables.append(t.assign(model_id=mid))
    pairs = pd.concat(tables, ignore_index=True)
    spread = bond_spread(pairs, ["m1", "m2"])
    assert len(spread) == 8 + 5  # every bond of both molecules, once
    d1 = tables[0][tables[0]["bonded"]].set_index(["molecule", "i", "j"])["D_ij"]
    d2 = tables[1][tables[1]["bonded"]].set_index(["molecule", "i", "j"])["D_ij"]
    s = spread.set_index(["molecule", "i", "j"])
    np.testing.assert_allclose(s["D_std"], (d1 - d2).abs().reindex(s.index) / np.sqrt(2))
    np.testing.assert_allclose(s["D_mean"], ((d1 + d2) / 2).reindex(s.index))
    assert (s["n_members"] == 2).all() and (s["D_std"] > 0).any()
    by_type = spread_by_type(spread).set_index("bond_type")
    assert by_type.loc["C-H", "n"] == 8 and by_type.loc["C#N", "n"] == 1


def test_bde_spread_merges_duplicate_sources_and_skips_errors():
    bde = pd.DataFrame({
        "model_id": ["a", "a", "b", "b", "a", "b"],
        "label": ["CH3-H", "CH3-H", "CH3-H", "CH3-H", "HO-H", "HO-H"],
        "parent_smiles": ["C"] * 4 + ["O", "O"], "fragment_a": ["[CH3]"] * 4 + ["[OH]"] * 2,
        "fragment_b": ["[H]"] * 6, "e3d_bde_kcal_mol": [100.0, 100.0, 104.0, 104.0, 110.0, np.nan],
        "error": [None, None, None, None, None, "failed"]})
    out = bde_spread(bde, ["a", "b"])
    assert list(out["label"]) == ["CH3-H"]
    assert out["bde_mean"].iloc[0] == pytest.approx(102.0) and out["bde_std"].iloc[0] == pytest.approx(np.sqrt(8))


def test_spread_by_quantity_separates_energy_from_its_split():
    """Two seeds that agree on their own BDEs (energy differences) but split the energy differently."""
    rows = []
    for model, shift in (("a", 0.0), ("b", 6.0)):
        for label, organic in (("CH3-H", True), ("Cl-Cl", False)):
            rows.append({"model_id": model, "label": label, "parent_smiles": label, "fragment_a": "x",
                         "fragment_b": "y", "error": None, "common_organic": organic, "bond_type_seen": True,
                         "e3d_bde_kcal_mol": 100.0 + shift, "e3d_cut_bde_kcal_mol": 90.0 - shift,
                         "model_rigid_bde_kcal_mol": 110.0 + shift / 6, "model_fragment_bde_kcal_mol": 105.0})
    spread = bde_spread(pd.DataFrame(rows), ["a", "b"])
    assert spread.set_index("label")["headline"].to_dict() == {"CH3-H": True, "Cl-Cl": False}
    out = spread_by_quantity(spread).set_index("quantity")
    assert list(out["n"]) == [1, 1, 1, 1]  # the headline row only
    assert out["median_std"].tolist() == pytest.approx([6 / np.sqrt(2), 6 / np.sqrt(2), 1 / np.sqrt(2), 0.0])
    assert list(out.index) == [label for _, label in SPREAD_QUANTITIES.values()]


def test_seed_mean_parity_averages_the_split_out():
    """D̄_ij of two seeds against the rigid reference, beside each seed on the same headline rows."""
    ref = {"A": 100.0, "B": 90.0, "C": 80.0, "D": 70.0}
    d = {"a": {"A": 104.0, "B": 86.0, "C": 80.0, "D": 0.0}, "b": {"A": 96.0, "B": 94.0, "C": 84.0, "D": 0.0}}
    rows = [{"model_id": m, "label": label, "parent_smiles": label, "fragment_a": "x", "fragment_b": "y",
             "error": None, "e3d_bde_kcal_mol": d[m][label], "rigid_reference_bde_kcal_mol": ref[label],
             "headline": not (m == "b" and label == "D")}  # outside b's headline set: not counted for either
            for m in d for label in ref]
    out = seed_mean_parity(pd.DataFrame(rows), ["a", "b"])
    assert out["n"] == 3 and out["n_seeds"] == 2
    assert out["seed_mean_mae"] == pytest.approx(2 / 3)  # means 100, 90, 82
    assert out["member_mae"] == pytest.approx((8 / 3 + 4) / 2)
    assert out["seed_mean_rho"] == pytest.approx(1.0)
    # without a headline column the bond-type mask decides (common organic, seen types)
    plain = pd.DataFrame(rows).drop(columns="headline").assign(common_organic=True, bond_type_seen=True)
    assert seed_mean_parity(plain, ["a", "b"])["n"] == 4


def test_inheritance_compares_a_fine_tune_with_its_parent_row_by_row():
    """e3d.inheritance on the shipped BDE table: every shipped fine-tune is found with its parent (from the
    cards), rows are matched by bond (not by position), and the comparisons are those of docs/E3D_METHOD.md §4h."""
    from e3d.family import load_family, shipped_cards
    from e3d.inheritance import inheritance_table, parents_from_cards

    bde = pd.read_parquet(os.path.join(os.path.dirname(MODELS_DIR), "bde.parquet"))
    parents = parents_from_cards(shipped_cards())
    # a fine-tune's parent is its init_from; a Δ sum's the model it adds the Δ model to (the first part)
    family = {m["id"]: m.get("init_from") or (m.get("sum_of") or [None])[0] for m in load_family()["models"]}
    assert parents and all(family[child] == parent for child, parent in parents.items())
    assert "dft-emergence" in parents and "dft-radicals" not in parents  # trained from scratch: no parent
    table = inheritance_table(bde, parents).set_index("model_id")
    assert set(table.index) == {c for c in parents if c in set(bde["model_id"])}
    # a model against itself, its rows shuffled: identical D_ij, and "parent's labels" are its own
    one = bde[bde["model_id"] == "dft-emergence"]
    shuffled = pd.concat([one.assign(model_id="self"), one.sample(frac=1.0, random_state=0)])
    r = inheritance_table(shuffled, {"self": "dft-emergence"}).iloc[0]
    assert r["n"] == int(one["headline"].sum()) and r["d_vs_parent_d_mae"] == 0
    assert r["d_vs_parent_d_rho"] == pytest.approx(1)
    assert (r["d_vs_parent_labels_rigid_rho"] == r["d_vs_own_labels_rigid_rho"]
            == r["parent_d_vs_parent_labels_rigid_rho"])
    assert r["own_labels_vs_parent_labels_rigid_rho"] == pytest.approx(1) and r["d_shift_vs_labels_shift_mae"] == 0
    # the DFT fine-tune against its xTB parent: a different labeller, and its energies follow its own labels
    tuned = table.loc["dft-emergence"]
    assert tuned["parent_labels"] == "GFN2-xTB" and tuned["labels"] == "B3LYP/def2-SVP"
    assert tuned["own_labels_vs_parent_labels_rigid_rho"] < 0.9 and tuned["own_rigid_vs_own_labels_rigid_rho"] > 0.8
    # against experiment B3LYP's rigid BDEs rank these bonds better than GFN2-xTB's (the ceiling each partition has)
    assert tuned["own_labels_rigid_vs_experiment_rho"] > tuned["parent_labels_rigid_vs_experiment_rho"] + 0.2
    # on the same parents and DFT frames, the Δ sums move D_ij the way the labels moved closer than the fine-tunes
    # (docs/E3D_METHOD.md §4i: for a sum that shift is the Δ model's D_ij, up to the parent's change between minima)
    for seed in ("", "-seed2", "-seed3"):
        delta, tune = table.loc[f"dft-delta{seed}"], table.loc[f"dft-emergence-heavy4{seed}"]
        assert delta["parent_id"] == tune["parent_id"] and delta["n"] == tune["n"]
        assert delta["d_shift_vs_labels_shift_mae"] < tune["d_shift_vs_labels_shift_mae"] - 2


def test_delta_shift_bench_prints_the_library_numbers():
    """bench/delta_shift.py (the study log's Δ tables) prints e3d.inheritance's comparisons for a shipped sum, and
    per bond type the mean signed misses of the shift, of the own rigid BDE and of D_ij against the labels."""
    import re
    import subprocess
    import sys

    from e3d.inheritance import inheritance_table

    bde = pd.read_parquet(os.path.join(os.path.dirname(MODELS_DIR), "bde.parquet"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "bench/delta_shift.py", "dft-locdelta", "--by-type"], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    r = inheritance_table(bde, {"dft-locdelta": "xtb-emergence-4k"}).iloc[0]
    assert f"own rigid BDE vs own labels (rigid) {r['own_rigid_vs_own_labels_rigid_mae']:.1f}" in out
    assert f"D_ij vs own labels (rigid) {r['d_vs_own_labels_rigid_mae']:.1f}" in out
    rows = bde[(bde["model_id"] == "dft-locdelta") & bde["headline"].eq(True)]
    ch = rows[rows["bond_type"] == "C-H"]
    line = next(line for line in out.splitlines() if line.startswith("C-H "))
    own, d_ij, n = (float(x) for x in re.split(r"\s+", line.strip())[2:5])
    assert own == pytest.approx((ch["model_rigid_bde_kcal_mol"] - ch["rigid_reference_bde_kcal_mol"]).mean(), abs=0.05)
    assert d_ij == pytest.approx((ch["e3d_bde_kcal_mol"] - ch["rigid_reference_bde_kcal_mol"]).mean(), abs=0.05)
    assert n == len(ch)


def test_part_medians_by_type_of_a_shipped_sum_ensemble():
    """Per bond type, each seed's median D_ij of the sum and of its parts (the pair table's D_ij[part] columns),
    with their s.d. over the seeds: the numbers are the pair table's, the parts named by the first seed's."""
    from e3d.ensemble import part_medians_by_type

    pairs = pd.read_parquet(os.path.join(os.path.dirname(MODELS_DIR), "pairs.parquet"))
    members = ["dft-locdelta", "dft-locdelta-seed2", "dft-locdelta-seed3"]
    table = part_medians_by_type(pairs, members).set_index(["bond_type", "part"])
    parts = ["model", "part 1 (xtb-emergence-4k)", "part 2 (delta-heavy4-locality)"]
    assert set(table.loc["C-H"].index) == set(parts)
    seed2 = pairs[(pairs["model_id"] == members[1]) & pairs["bonded"] & (pairs["bond_type"] == "C-C")]
    assert table.loc[("C-C", "model"), members[1]] == pytest.approx(seed2["D_ij"].median())
    assert table.loc[("C-C", parts[1]), members[1]] == pytest.approx(seed2["D_ij[xtb-emergence-4k-seed2]"].median())
    row = table.loc[("C-C", parts[2]), members]
    assert table.loc[("C-C", parts[2]), "std"] == pytest.approx(row.std(ddof=1))
    assert table.loc[("C-C", "model"), "n"] == len(pairs[(pairs["model_id"] == members[0]) & pairs["bonded"]
                                                          & (pairs["bond_type"] == "C-C")])
    # each bond's D_ij is its parts' sum (weights 1): the model's seed spread is the parts' spreads combined
    bonds = pairs[(pairs["model_id"] == members[0]) & pairs["bonded"]]
    assert np.allclose(bonds["D_ij"], bonds["D_ij[xtb-emergence-4k]"] + bonds["D_ij[delta-heavy4-locality]"],
                       atol=1e-6)
    assert part_medians_by_type(pairs, ["no-such-model"]).empty


@pytest.mark.slow
def test_part_spread_bench_live_sums_reproduce_the_shipped_tables():
    """bench/part_spread.py --sum (study runs' parents with Δ models, not shipped as sums) computes the pairs on the
    evaluation corpus as precompute does: for the parts of two shipped dft-locdelta seeds its per-seed medians and R²
    lines equal those it prints from precomputed/pairs.parquet."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(*args):
        out = subprocess.run([sys.executable, "bench/part_spread.py", *args, "--types", "C-C", "C-N"], cwd=root,
                             capture_output=True, text=True, check=True).stdout
        lines = [line.split() for line in out.splitlines() if line.startswith(("C-C ", "C-N "))]
        fits = [line.split(": ", 1)[1] for line in out.splitlines() if "vs mean bond enthalpies" in line]
        return [r[-3:] for r in lines if r[2] == "model"], [r[3:5] for r in lines if r[2] == "model"], fits

    shipped = run("dft-locdelta")
    m = os.path.relpath(MODELS_DIR, root)
    live = run("--sum", f"{m}/xtb-emergence-4k.nequip.zip", f"{m}/delta-heavy4-locality.nequip.zip",
               "--sum", f"{m}/xtb-emergence-4k-seed2.nequip.zip", f"{m}/delta-heavy4-locality-seed2.nequip.zip")
    assert [r[0] for r in live[1]] == [r[0] for r in shipped[1]]  # seed 1's medians (C-C, C-N)
    assert [r[1] for r in live[1]] == [r[1] for r in shipped[1]]  # seed 2's
    assert [r[1:] for r in live[0]] == [r[1:] for r in shipped[0]]  # mean bond enthalpy, labels' fit
    assert live[2] == shipped[2][:2]  # the per-seed R² lines
    bad = subprocess.run([sys.executable, "bench/part_spread.py", "--sum", f"{m}/xtb-emergence-4k.nequip.zip"],
                         cwd=root, capture_output=True, text=True)
    assert bad.returncode != 0 and "once per seed" in bad.stderr
