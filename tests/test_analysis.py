"""Analyses on the tiny real model: entropy, bond-type statistics, baseline, scans, scaling."""

import numpy as np
import pandas as pd
import pytest

from e3d.bondtypes import (baseline_from_dataset, baseline_per_type, baseline_table, bond_type_stats,
                           compare_per_type, compare_with_mean_enthalpies, corpus_molecules, corpus_pairs,
                           fit_bond_additive, mean_bond_enthalpies, shannon_entropy, weighted_entropy)
from e3d.data.build import build_xtb_dataset
from e3d.molecule import from_smiles
from e3d.scaling import fit_power_law
from e3d.scan import scan_summary, stretch_scan


def test_shannon_entropy_definition():
    assert shannon_entropy([100.2] * 10) == pytest.approx(0.0)
    assert shannon_entropy([100.5, 101.5]) == pytest.approx(np.log(2))
    assert shannon_entropy(np.arange(0.5, 8.5, 1.0)) == pytest.approx(np.log(8))
    # bin width matters: two 2-kcal bins vs four 1-kcal bins
    assert shannon_entropy([0.5, 1.5, 2.5, 3.5], bin_width=2.0) == pytest.approx(np.log(2))


def test_mean_bond_enthalpies_in_kcal():
    mbe = mean_bond_enthalpies().set_index("bond_type")["mean_bond_enthalpy_kcal_mol"]
    assert mbe["C-H"] == pytest.approx(413 / 4.184)


def test_bond_type_stats_and_entropy(tiny_model):
    mols = corpus_molecules([("ethane", "CC"), ("propane", "CCC"), ("ethanol", "CCO"), ("benzene", "c1ccccc1")])
    pairs = corpus_pairs(tiny_model, mols)
    assert pairs.groupby("molecule")["f_bond"].nunique().eq(1).all()
    stats = bond_type_stats(pairs[pairs["bonded"]])
    ch = stats.set_index("bond_type").loc["C-H"]
    assert ch["n"] == 6 + 8 + 5 + 6
    assert ch["entropy_nats"] > 0 and ch["median"] > 0
    assert 0 < weighted_entropy(stats) < np.log(ch["n"]) + 1
    m = compare_with_mean_enthalpies(stats.set_index("bond_type")["median"])
    assert m["n"] >= 2


def test_bond_additive_fit_recovers_exact_energies():
    counts = pd.DataFrame({"C-H": [4, 6, 8, 5, 0], "C-C": [0, 1, 2, 1, 0], "C-O": [0, 0, 0, 1, 0],
                           "O-H": [0, 0, 0, 1, 2]})
    truth = pd.Series({"C-H": 99.0, "C-C": 83.0, "C-O": 86.0, "O-H": 110.0})
    fitted = fit_bond_additive(counts, counts.to_numpy() @ truth.to_numpy())
    pd.testing.assert_series_equal(fitted, truth, check_names=False)


def test_baseline_from_xtb_dataset(tmp_path):
    path = str(tmp_path / "d.extxyz")
    corpus = [("methane", "C"), ("ethane", "CC"), ("propane", "CCC"), ("water", "O"), ("methanol", "CO"),
              ("ethanol", "CCO"), ("dme", "COC")]
    build_xtb_dataset(corpus, path, variant="thermal", n_thermal=1, seed=0, progress=False)
    per_type, info = baseline_from_dataset(path)
    assert info["n_molecules"] == 7  # equilibrium frames only
    assert 80 < per_type["C-H"] < 130 and 80 < per_type["O-H"] < 150
    assert info["n_bonds"]["C-H"] == 4 + 6 + 8 + 3 + 5 + 6 and info["n_bonds"]["C-O"] == 1 + 1 + 2

    table = baseline_table("d.extxyz", path)
    assert set(table.columns) >= {"dataset", "bond_type", "baseline_kcal_mol", "n_bonds", "rms_residual_kcal_mol"}
    # the data file gone (runs/ is rebuilt, not shipped): the fit saved in the precomputed tables is used
    saved = pd.concat([table, table.assign(dataset="other.extxyz", baseline_kcal_mol=0.0)])
    kept = baseline_table("d.extxyz", str(tmp_path / "missing.extxyz"), saved)
    pd.testing.assert_frame_equal(kept, table)
    assert baseline_table("d.extxyz", None, None).empty
    # types seen fewer than min_bonds times in the fit are left out of the comparison
    per = baseline_per_type(saved, "d.extxyz", min_bonds=5)
    assert "C-H" in per.index and "C-O" not in per.index and per["C-H"] == pytest.approx(per_type["C-H"])
    every = baseline_per_type(saved, "d.extxyz", min_bonds=1)
    m = compare_per_type((every + 2.0).drop("C-O"), every)
    assert m["mae"] == pytest.approx(2.0) and m["n"] == len(every) - 1 == 3


def test_stretch_scan_goes_to_zero_beyond_cutoff(tiny_model):
    mol = from_smiles("CO")
    scan = stretch_scan(tiny_model, mol, 0, 1, n=12, reference="GFN2-xTB")
    beyond = scan[scan["r"] > tiny_model.r_max]
    assert (beyond["eps_ij_kcal_mol"].abs() < 1e-9).all()  # ε_ij = 0 beyond r_max by construction
    assert scan["r"].is_monotonic_increasing
    assert scan["reference_dE_kcal_mol"].notna().sum() >= 10
    summary = scan_summary(scan, tiny_model.r_max)
    assert summary["reference_breaking_energy_kcal_mol"] > 50  # GFN2-xTB breaks C-O at a real cost
    assert np.isfinite(summary["scan_mae_kcal_mol"])


def test_power_law_fit():
    n = np.array([1e3, 2e3, 4e3, 8e3])
    fit = fit_power_law(n, 5.0 * n**-0.4)
    assert fit["b"] == pytest.approx(-0.4) and fit["a"] == pytest.approx(5.0) and fit["r2_log"] == pytest.approx(1.0)
    from e3d.scaling import power_law_curve

    grid, curve = power_law_curve(fit, [10, 1000], points=3)
    np.testing.assert_allclose(grid, [10, 100, 1000])
    np.testing.assert_allclose(curve, 5.0 * grid ** -0.4)


@pytest.mark.slow  # every analysis end to end (~30 s): full suite only
def test_precompute_tables(tmp_path, tiny_model_path):
    import json

    from conftest import install_member
    from e3d.family import load_family, write_index
    from e3d.corpus import EXP_BDE_TABLE
    from e3d.precompute import precompute

    models = tmp_path / "models"
    models.mkdir()
    main_id = load_family()["main"]
    card = json.load(open(tiny_model_path.replace(".nequip.zip", ".card.json")))
    card["training_domain"] = {"max_atoms": 5, "max_heavy_atoms": 1}  # as if trained on CH4, NH3, H2O only
    install_member(main_id, models, tiny_model_path, card)  # a package, or a sum file (a seed mean)
    write_index(str(models))
    rows = pd.read_csv(EXP_BDE_TABLE).iloc[[0, 1, 12, 13, 22]]  # methane, ethane, water, methanol x2
    bde_path = tmp_path / "bde.csv"
    rows.to_csv(bde_path, index=False)
    out = tmp_path / "pre"
    manifest = precompute(str(out), models_dir=str(models), bde_path=str(bde_path),
                          corpus=[("ethanol", "CCO"), ("acetonitrile", "CC#N"), ("propane", "CCC")], progress=False)
    assert [m["id"] for m in manifest["models"]] == [main_id]
    summary = pd.read_parquet(out / "models.parquet").iloc[0]
    assert summary["bde_n"] == 5 and summary["weakest_bond_n"] == 1  # methanol has two rows
    assert summary["level_of_theory"] == "GFN2-xTB" and np.isfinite(summary["bde_mae_vs_reference"])
    assert np.isfinite(summary["scan_mae_vs_reference_kcal_mol"]) and np.isfinite(summary["entropy_weighted_nats"])
    scans = pd.read_parquet(out / "scans.parquet")
    assert scans["label"].nunique() == 5 and scans["reference_dE_kcal_mol"].notna().any()
    assert set(pd.read_parquet(out / "molecules.parquet")["molecule"]) == {"ethanol", "acetonitrile", "propane"}
    assert json.load(open(out / "manifest.json"))["tables"]["pairs"] > 0
    from e3d.report import results_markdown

    assert f"| {main_id} | GFN2-xTB |" in results_markdown(str(out))
    assert summary["bde_in_domain_n"] == 2 and np.isfinite(summary["bde_298_mae_vs_exp_in_domain"])  # CH4, H2O
    assert f"| {main_id} | GFN2-xTB | 2 of 5 |" in results_markdown(str(out))
    bde = pd.read_parquet(out / "bde.parquet").set_index("label")  # the model's own headline rows, domain included
    assert bde["headline"].sum() == summary["headline_n"] and not bde.loc["C2H5-H", "headline"]
    # deterministic: the same tables again
    precompute(str(tmp_path / "again"), models_dir=str(models), bde_path=str(bde_path),
               corpus=[("ethanol", "CCO"), ("acetonitrile", "CC#N"), ("propane", "CCC")], progress=False)
    for name in ("pairs", "bde", "scans", "bondtypes", "models"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "again" / f"{name}.parquet"))


def test_reactivity_correlation_table():
    from e3d.report import reactivity_markdown

    models = pd.DataFrame({"entropy_weighted_nats": [1.0, 2.0, 3.0, 4.0],
                           "bde_298_mae_vs_exp": [10.0, 20.0, 30.0, 25.0], "bde_mae_vs_reference": [1, 2, 3, 4],
                           "scan_mae_vs_reference_kcal_mol": [np.nan] * 4, "weakest_bond_accuracy": [0.9, 0.8, 0.7, 0.6]})
    md = reactivity_markdown(models)
    assert "| BDE MAE vs the labels' own BDEs (kcal/mol) | 4 | 1.00 |" in md
    assert "| weakest-bond accuracy (fraction of parents) | 4 | -1.00 |" in md
    assert "| BDE MAE vs experiment, 298 K (kcal/mol) | 4 | 0.80 |" in md and "stretch-scan" not in md  # too few


def test_bonds_weakest_first_and_comparison_of_two_models(tiny_model):
    import e3d
    from e3d.model import load_model
    from e3d.pairs import bonds_weakest_first, compare_bonds

    mol = e3d.from_smiles("CC(=O)O")
    pairs = e3d.pair_table(e3d.edge_energies(tiny_model, [mol])[0])
    bonds = bonds_weakest_first(pairs)
    assert list(bonds["D_ij"]) == sorted(bonds["D_ij"]) and len(bonds) == mol.rdmol.GetNumBonds()
    first = bonds.iloc[0]
    assert first["bond"] == f"{first['element_i']}{first['i'] + 1}–{first['element_j']}{first['j'] + 1}"
    same = compare_bonds(pairs, pairs)
    assert len(same) == len(bonds) and (same["delta_D"] == 0).all()
    f32 = e3d.pair_table(e3d.edge_energies(load_model(tiny_model.path, device="cpu", dtype="float32"), [mol])[0])
    diff = compare_bonds(pairs, f32)
    assert diff["delta_D"].abs().max() < 1e-3 and list(diff["delta_D"].abs()) == sorted(diff["delta_D"].abs(), reverse=True)


def test_half_bond_energies_average_to_d_ij(tiny_model):
    """The explorer's directed view: each half −2·e_{i→j}; the two halves' mean is D_ij, and a bond
    whose edges carry different energies shows different halves."""
    from e3d.edges import edge_energies
    from e3d.pairs import bond_table, half_bond_energies

    (result,) = edge_energies(tiny_model, [from_smiles("CC(=O)O")])
    bonds = bond_table(result)
    halves = np.array([half_bond_energies(b.e_ij, b.e_ji) for b in bonds.itertuples()])
    np.testing.assert_allclose(halves.mean(axis=1), bonds["D_ij"], atol=1e-9)
    assert np.abs(halves[:, 0] - halves[:, 1]).max() > 0.1  # C–H, O–H: the heavy atom's edge differs


def test_targets_table_names_the_best_model_and_who_meets_each_target(tmp_path):
    """The targets table is computed from the tables: best value per measure, and which model meets
    both halves of a target (a model with the best ρ but a large MAE does not)."""
    import json
    import os

    from e3d.report import targets_markdown

    cols = ["d_vs_rigid_mae", "d_vs_rigid_rho", "relaxed_est_vs_relaxed_mae", "relaxed_est_vs_relaxed_rho",
            "d_vs_exp298_mae", "d_vs_exp298_rho", "median_D_r2_vs_mbe", "median_D_r2_vs_baseline"]
    models = pd.DataFrame([["xa", "GFN2-xTB", 12.0, 0.95, 20.0, 0.5, 30.0, 0.2, 0.3, 0.95],
                           ["da", "B3LYP", np.nan, np.nan, np.nan, np.nan, 9.0, 0.85, 0.5, 0.4]],
                          columns=["model_id", "level_of_theory"] + cols)
    study = pd.DataFrame([["run-s1", 5.5, 0.93, 7.0, 0.91, 20.0, 0.3, 0.1, 0.5, True, 4000]],
                         columns=["run_id"] + cols + ["converged", "n_qm9"])
    os.makedirs(tmp_path / "study")
    os.makedirs(tmp_path / "models")
    study.to_parquet(tmp_path / "study" / "emergence.parquet")
    (tmp_path / "models" / "index.json").write_text(json.dumps({"main": "da.nequip.zip",
                                                                "models": [{"id": "da", "file": "da.nequip.zip"}]}))
    text = targets_markdown(str(tmp_path), models)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["D_ij vs GFN2-xTB rigid BDE, xTB-trained models"].endswith(
        "| 5.5 (run-s1) | 0.95 (xa) | run-s1 |")  # xa has the best ρ, but only run-s1 meets both
    assert rows["main model (da, B3LYP) D_ij vs experiment (298 K)"].endswith("| 9.0 | 0.85 | yes |")
    assert rows["per-type medians of D vs the labels' own bond-additive fit (like with like): R²"].endswith(
        "| 0.95 (xa) | xa |")
    assert "Converged scaling curve" not in text  # no scaling series evaluated yet
    sizes = [250, 1000, 4000, 16000]
    scaling = pd.DataFrame({"n_qm9": sizes, "seeds": [3, 3, 3, 3], "converged": [3, 3, 3, 2]})
    scaling.to_parquet(tmp_path / "study" / "scaling.parquet")
    assert "3 size(s) (250, 1,000, 4,000 QM9 molecules, 16×) of the 4 size(s) with a trained run — not met" in targets_markdown(
        str(tmp_path), models)  # the 16k size has a seed still descending
    scaling.assign(converged=3).to_parquet(tmp_path / "study" / "scaling.parquet")
    assert "4 size(s) (250, 1,000, 4,000, 16,000 QM9 molecules, 64×) of the 4 size(s) with a trained run — met" in targets_markdown(
        str(tmp_path), models)


def test_targets_seed_by_seed_need_three_seeds_each_meeting_it(tmp_path):
    """The per-ensemble targets: every seed's value, mean ± sd, and the R² target met only when ≥ 3 seeds
    all meet it (two seeds that do, or three of which one misses, do not)."""
    import json
    import os

    from e3d.report import targets_markdown

    ids = ["a", "a-s2", "a-s3", "b", "b-s2"]
    models = pd.DataFrame({"model_id": ids, "level_of_theory": "B3LYP", "median_D_r2_vs_mbe": [0.91, 0.95, 0.93, 0.92, 0.97],
                           "d_vs_exp298_mae": [10.0, 12.0, 14.0, 9.0, 9.0], "d_vs_exp298_rho": 0.5})
    os.makedirs(tmp_path / "models")
    entries = [{"id": i, "file": f"{i}.nequip.zip", **({"ensemble": i.split("-")[0]} if "-" in i else {})} for i in ids]
    (tmp_path / "models" / "index.json").write_text(json.dumps({"main": "a.nequip.zip", "models": entries}))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in targets_markdown(str(tmp_path), models).splitlines()
            if line.startswith("| ")}
    assert rows["a"] == ("| a | 3 | 0.91 / 0.95 / 0.93 (mean 0.93 ± 0.02) | 10.0 / 12.0 / 14.0 (mean 12.0 ± 2.0) | "
                         "0.50 / 0.50 / 0.50 (mean 0.50 ± 0.00) | yes |")
    assert rows["b"].endswith("| no |")  # both seeds meet it, but two seeds are not a conclusion
    models.loc[2, "median_D_r2_vs_mbe"] = 0.89
    rows = {line.split(" | ")[0].lstrip("| "): line for line in targets_markdown(str(tmp_path), models).splitlines()
            if line.startswith("| ")}
    assert rows["a"].endswith("| no |")


def test_every_quantity_vs_experiment_per_ensemble(tmp_path):
    """Beside D_ij, each ensemble's fragment-cut sum, relaxed estimate and own fragment BDE against experiment:
    mean ± sd over the seeds of MAE / ρ, from the models table."""
    import json
    import os

    from e3d.report import ENSEMBLE_QUANTITIES, targets_markdown

    ids = ["a", "a-s2", "a-s3"]
    models = pd.DataFrame({"model_id": ids, "level_of_theory": "B3LYP", "median_D_r2_vs_mbe": 0.5})
    for i, key in enumerate(ENSEMBLE_QUANTITIES):
        models[f"{key}_mae"], models[f"{key}_rho"] = [10.0 + i, 12.0 + i, 14.0 + i], [0.5, 0.6, 0.7]
    os.makedirs(tmp_path / "models")
    entries = [{"id": i, "file": f"{i}.nequip.zip", **({"ensemble": "a"} if "-" in i else {})} for i in ids]
    (tmp_path / "models" / "index.json").write_text(json.dumps({"main": "a.nequip.zip", "models": entries}))
    text = targets_markdown(str(tmp_path), models)
    table = text[text.index("Every bond-energy quantity"):]
    assert ("| a | 3 | 12.0 ± 2.0 / 0.60 ± 0.10 | 13.0 ± 2.0 / 0.60 ± 0.10 | 14.0 ± 2.0 / 0.60 ± 0.10 | "
            "15.0 ± 2.0 / 0.60 ± 0.10 |") in table.splitlines()


def test_quantity_spread_table_one_row_per_group():
    from e3d.report import quantity_spread_markdown

    spread = pd.DataFrame({"group": ["g1", "g1", "g2"], "quantity": ["E3D D_ij", "model's own rigid BDE", "E3D D_ij"],
                           "n": [94, 94, 90], "median_std": [6.5, 1.6, 3.0], "p90_std": 0.0, "n_seeds": [3, 3, 2]})
    lines = quantity_spread_markdown(spread, "configuration").splitlines()
    assert "| configuration | seeds | bonds | E3D D_ij | model's own rigid BDE |" in lines
    assert "| g1 | 3 | 94 | 6.5 | 1.6 |" in lines and "| g2 | 2 | 90 | 3.0 | – |" in lines
    assert quantity_spread_markdown(pd.DataFrame(), "configuration") == ""


def test_seed_mean_table_one_row_per_configuration():
    from e3d.report import seed_mean_markdown

    table = pd.DataFrame({"group": ["g1"], "n": [94], "n_seeds": [3], "seed_mean_mae": [9.04],
                          "seed_mean_rho": [0.861], "member_mae": [12.96], "member_rho": [0.8]})
    lines = seed_mean_markdown(table).splitlines()
    assert ("| configuration | seeds | bonds | seed-mean D̄_ij vs rigid: MAE (kcal/mol) | seed-mean D̄_ij vs rigid: ρ "
            "| one seed vs rigid (mean over seeds): MAE (kcal/mol) | one seed vs rigid: ρ |") in lines
    assert "| g1 | 3 | 94 | 9.0 | 0.86 | 13.0 | 0.80 |" in lines
    assert seed_mean_markdown(pd.DataFrame()) == ""


def test_verdict_grades_against_the_target_then_the_bond_type_fit():
    from e3d.verdict import BELOW_TARGET, DOES_NOT, HOLDS, PARTLY, grade

    assert grade(6.0, 0.92, "d_vs_rigid", 10.0, 0.5) == HOLDS  # the target's edges count as met
    assert grade(6.1, 0.95, "d_vs_rigid", 10.0, 0.5) == PARTLY  # misses the target, beats the fit on both
    assert grade(9.0, 0.50, "d_vs_rigid", 10.0, 0.5) == DOES_NOT  # ρ only ties the fit
    assert grade(10.5, 0.90, "d_vs_rigid", 10.0, 0.5) == DOES_NOT  # ranks better, sizes worse
    assert grade(9.9, 0.79, "d_vs_exp298", 12.0, 0.5) == PARTLY and grade(10.0, 0.8, "d_vs_exp298") == HOLDS
    assert grade(10.1, 0.8, "d_vs_exp298") == BELOW_TARGET  # no bond-type fit to compare with: no "does not"


def test_verdict_of_a_shipped_model_reads_its_metrics_and_seed_ensemble():
    """dft-emergence from the shipped tables: every finding's numbers are its models.parquet row, the grades
    follow the bars, the miss is explained by its largest error-budget term, and the seed finding is the worst
    bond type's median σ over the ensemble's held-out corpus bonds (types with ≥ 5 bonds)."""
    import os

    from e3d.cards import REPO_ROOT as ROOT
    from e3d.verdict import FINDINGS, SEEDS, TARGETS, ensemble_seed_sigma, findings, seed_sigma_of

    pre = os.path.join(ROOT, "precomputed")
    models = pd.read_parquet(os.path.join(pre, "models.parquet")).set_index("model_id", drop=False)
    row = models.loc["dft-emergence"]
    bonds = pd.read_parquet(os.path.join(pre, "ensemble_bonds.parquet"))
    sigma = seed_sigma_of("dft-emergence-seed2", ensemble_seed_sigma(bonds))  # a seed finds its ensemble too
    f = findings(row, sigma).set_index("finding")
    assert list(f.index) == [name for _, _, name, _ in FINDINGS] + [SEEDS]
    for key, fit, name, _ in FINDINGS:
        mae, rho = row[f"{key}_mae"], row[f"{key}_rho"]
        assert f.loc[name, "measured"] == f"MAE {mae:.1f} / ρ {rho:.2f}"
        expected = ("holds" if rho >= TARGETS[key][0] and mae <= TARGETS[key][1] else
                    "partly" if mae < row[f"{fit}_mae"] and rho > row[f"{fit}_rho"] else "does not")
        assert f.loc[name, "verdict"] == expected
    budget = {t: row[f"budget_{t}_mae"] for t in ("accuracy", "locality", "partition")}
    assert f"largest part of the miss: {max(budget, key=budget.get)}" in f.loc["D_ij vs rigid labels", "note"]
    mine = bonds[bonds["ensemble"] == "dft-emergence"]
    per_type = mine.groupby("bond_type")["D_std"].agg(["size", "median"])
    worst = per_type[per_type["size"] >= 5]["median"]
    assert f.loc[SEEDS, "measured"] == f"σ {worst.max():.1f} ({worst.idxmax()})"
    assert f.loc[SEEDS, "verdict"] == ("holds" if worst.max() <= 5 else "does not")
    assert seed_sigma_of("xtb-radicals", ensemble_seed_sigma(bonds)) is None  # no seeds, no seed finding
    from e3d.report import results_markdown

    report = results_markdown(pre)
    assert "Where emergence holds, model by model" in report
    assert all(f"| {m} | {models.loc[m, 'level_of_theory']} | " in report for m in models.index)
