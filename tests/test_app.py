"""Streamlit AppTest: every page renders from the shipped tables without exceptions; widgets work;
uploads of good and bad input give results or clear errors."""

import os

import pytest
from streamlit.testing.v1 import AppTest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "app", "main.py")
DATA = os.path.join(ROOT, "tests", "data")
PAGES = ["views/overview.py", "views/explorer.py", "views/compare.py", "views/bde.py", "views/bond_types.py",
         "views/datasets.py", "views/upload.py"]


def page(path: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=240).run()  # st.navigation registers the pages on the first run
    at.switch_page(path)
    return at.run()


@pytest.mark.parametrize("path", PAGES)
def test_page_renders(path):
    at = page(path)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.sidebar.selectbox  # every page has a title and the model picker
    assert not at.error, [e.value for e in at.error]


def test_model_picker_lives_in_the_entry_point():
    """One picker, drawn by app/main.py before the page: a choice made on one page holds on the next."""
    at = page("views/bde.py")
    at.sidebar.selectbox(key="model_id").set_value("qm9-h298-4k").run()
    at.switch_page("views/explorer.py").run()
    assert at.sidebar.selectbox(key="model_id").value == "qm9-h298-4k"
    assert "model **qm9-h298-4k**" in " ".join(c.value for c in at.sidebar.caption)


def test_overview_headline_numbers_with_provenance():
    at = page("views/overview.py")
    shown = {m.label: m.value for m in at.metric}
    from e3d.family import read_index

    index = read_index()
    main = next(m for m in index["models"] if m["file"] == index["main"])
    import pandas as pd

    row = pd.read_parquet(os.path.join(ROOT, "precomputed", "models.parquet")).set_index("model_id").loc[main["id"]]
    # the headline bonds (issue #11: unseen bond types kept out), the same numbers as the emergence table below
    assert shown["D_ij MAE vs experiment, 298 K (kcal/mol)"] == f"{row.d_vs_exp298_mae:.1f}"
    assert shown["D_ij MAE vs labels (kcal/mol)"] == f"{row.d_vs_relaxed_mae:.1f}"
    assert shown["Spearman ρ vs experiment, 298 K"] == f"{row.d_vs_exp298_rho:.2f}"
    assert any(f"over all {row.bde_n:.0f} experimental bonds" in c.value and f"MAE {row.bde_298_mae_vs_exp:.1f}"
               in c.value for c in at.caption)
    assert any(f"labels {main['level_of_theory']}" in c.value for c in at.caption)


def test_explorer_smiles_and_bad_smiles():
    at = page("views/explorer.py")
    at.radio(key="explorer_source").set_value("Enter SMILES").run()
    at.text_input(key="explorer_smiles").set_value("CC(=O)O").run()
    assert not at.exception and not at.error
    assert any("f_bond" in c.value for c in at.caption)
    at.text_input(key="explorer_smiles").set_value("C1CC").run()
    assert not at.exception
    assert any("invalid SMILES" in e.value for e in at.error)
    at.text_input(key="explorer_smiles").set_value("CBr").run()
    assert any("Br not supported" in e.value for e in at.error)


def test_explorer_fragment_cut_column():
    at = page("views/explorer.py")
    at.radio(key="explorer_source").set_value("Enter SMILES").run()
    at.text_input(key="explorer_smiles").set_value("CCO").run()
    at.toggle(key="explorer_cut").set_value(True).run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert "fragment cut (kcal/mol)" in table.columns and table["fragment cut (kcal/mol)"].notna().all()


def test_explorer_corpus_molecule_toggles():
    at = page("views/explorer.py")
    at.selectbox(key="explorer_molecule").select_index(3).run()
    for toggle in at.toggle:
        toggle.set_value(True).run()
        assert not at.exception


def test_bde_filter_by_type():
    at = page("views/bde.py")
    at.multiselect(key="bde_types").set_value(["C-H"]).run()
    assert not at.exception and at.dataframe
    at.multiselect(key="bde_types").set_value([]).run()  # nothing left to plot: an empty metrics table, no error
    assert not at.exception


def test_bde_page_explains_the_miss_with_each_models_own_labels():
    """An xTB-labelled and a DFT-labelled model: the sum rule's share of D_ij's miss (each with its own labels'
    additivity gap) and the error budget per bond type, from the precomputed table (numbers the same as
    e3d.additivity / e3d.bde compute)."""
    import pandas as pd

    from e3d.additivity import sum_rule_metrics
    from e3d.bde import headline_mask

    at = page("views/bde.py")
    at.sidebar.selectbox(key="model_id").set_value("xtb-emergence-4k").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    bde = pd.read_parquet(os.path.join(ROOT, "precomputed", "bde.parquet"))
    rows = bde[(bde["model_id"] == "xtb-emergence-4k") & bde["error"].isna()]
    expected = sum_rule_metrics(rows, headline_mask(rows))
    assert metrics["what the sum rule alone makes it (kcal/mol)"] == f"{expected['sum_rule_mean_offset']:+.1f}"
    assert metrics["mean D_ij − rigid labels (kcal/mol)"] == f"{expected['d_vs_rigid_mean_error']:+.1f}"
    assert any("locality at radical centres" in df.value.columns for df in at.dataframe)
    # a model with DFT labels: its B3LYP gaps (shipped reference energies), and the sum rule's share against
    # experiment (the relaxed gap)
    at.sidebar.selectbox(key="model_id").set_value("dft-radicals").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    rows = bde[(bde["model_id"] == "dft-radicals") & bde["error"].isna()]
    expected = sum_rule_metrics(rows, headline_mask(rows))
    assert rows["reference_method"].eq("B3LYP/def2-SVP").all() and expected["sum_rule_n"] >= 30
    assert metrics["what the sum rule alone makes it (kcal/mol)"] == f"{expected['sum_rule_mean_offset']:+.1f}"
    assert any(f"D_ij + G_relaxed/n_bonds MAE {expected['d_plus_relaxed_gap_vs_exp298_mae']:.1f}" in c.value
               for c in at.caption)
    assert any("locality at radical centres" in df.value.columns for df in at.dataframe)


def test_bde_page_splits_the_miss_into_per_type_offsets():
    """"Within a bond type" (docs/E3D_METHOD.md §4j): the page's numbers are e3d.within_type's on the rows shown,
    for the chosen series and reference; with too few rows per type it says so instead."""
    import pandas as pd

    from e3d.bde import headline_mask
    from e3d.within_type import type_offset_split

    at = page("views/bde.py")
    at.sidebar.selectbox(key="model_id").set_value("dft-emergence").run()
    assert not at.exception
    bde = pd.read_parquet(os.path.join(ROOT, "precomputed", "bde.parquet"))
    rows = bde[(bde["model_id"] == "dft-emergence") & bde["error"].isna()]
    rows = rows[headline_mask(rows)]
    expected = type_offset_split(rows["bde_kcal_mol"], rows["e3d_bde_298_kcal_mol"], rows["bond_type"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["MAE, offsets taken out (kcal/mol)"] == f"{expected['offset_corrected_mae']:.1f}"
    assert metrics["within-type Spearman ρ"] == f"{expected['within_rho']:.2f}"
    assert any("MAE of the type mean (kcal/mol)" in df.value.columns for df in at.dataframe)
    at.multiselect(key="bde_types").set_value(["C-H", "O-H"]).run()  # the split follows the rows shown
    assert not at.exception
    shown = rows[rows["bond_type"].isin(["C-H", "O-H"])]
    two = type_offset_split(shown["bde_kcal_mol"], shown["e3d_bde_298_kcal_mol"], shown["bond_type"])
    assert {m.label: m.value for m in at.metric}["within-type Spearman ρ"] == f"{two['within_rho']:.2f}"
    at.multiselect(key="bde_types").set_value(["S-H"]).run()  # two rows of one type: nothing to split
    assert not at.exception and any("nothing to split" in i.value for i in at.info)


def test_compare_two_models_on_one_molecule():
    at = page("views/compare.py")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) > 0 and any(c.startswith("ΔD") for c in table.columns)
    assert table.iloc[:, 0].str.match(r"^[A-Z][a-z]?\d+–[A-Z][a-z]?\d+$").all()  # C1–H5, 1-based
    at.text_input(key="compare_smiles").set_value("CBr").run()
    assert not at.exception and any("Br not supported" in e.value for e in at.error)
    at.text_input(key="compare_smiles").set_value("CCO").run()
    at.toggle(key="compare_fixed").set_value(True).run()
    assert not at.exception and not at.error


def test_upload_smiles_and_files():
    at = page("views/upload.py")
    at.text_area[0].set_value("CCO ethanol\nC1CC broken\nCBr bromomethane")
    at.button[0].click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "invalid SMILES" in errors and "Br not supported" in errors
    assert any("Computed 1 molecule" in s.value for s in at.success)
    assert at.session_state["uploads"][0]["name"] == "ethanol"
    # the explorer shows the uploaded molecule
    at.switch_page("views/explorer.py").run()
    at.radio(key="explorer_source").set_value("My molecules").run()
    assert not at.exception and not at.error


def test_upload_computes_live_with_a_sum_of_models():
    """A Δ sum (precomputed/models/dft-delta.sum.json) computes an upload like any model."""
    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = "dft-delta"
    at.switch_page("views/upload.py").run()
    at.text_area[0].set_value("CCO ethanol")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any("Computed 1 molecule" in s.value for s in at.success)
    at.switch_page("views/explorer.py").run()
    at.radio(key="explorer_source").set_value("My molecules").run()
    assert not at.exception and not at.error
    bonds = next(d.value for d in at.dataframe if "D_ij (kcal/mol)" in d.value.columns)
    assert "of which delta-heavy4 (kcal/mol)" in bonds.columns  # computed live, split like the precomputed ones


def test_explorer_splits_a_sums_bond_energies_into_its_parts():
    """For a Δ sum the explorer's bond table shows each part's D_ij beside the sum's (precomputed/pairs.parquet);
    they add up to it.  A single model's table has no such columns."""
    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = "dft-delta"
    at.switch_page("views/explorer.py").run()
    assert not at.exception
    bonds = next(d.value for d in at.dataframe if "D_ij (kcal/mol)" in d.value.columns)
    parts = ["of which xtb-emergence-4k (kcal/mol)", "of which delta-heavy4 (kcal/mol)"]
    assert all(p in bonds.columns for p in parts)
    assert (bonds[parts].sum(axis=1) - bonds["D_ij (kcal/mol)"]).abs().max() < 1e-6
    at.session_state["model_id"] = "dft-emergence"
    at.run()
    bonds = next(d.value for d in at.dataframe if "D_ij (kcal/mol)" in d.value.columns)
    assert not any(c.startswith("of which") for c in bonds.columns)


def test_explorer_shows_a_seed_means_seeds_and_their_spread():
    """For a seed mean (precomputed/models/dft-locdelta-mean.sum.json) the bond table shows each seed's D_ij, whose
    mean is the model's, and their σ over the seeds."""
    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = "dft-locdelta-mean"
    at.switch_page("views/explorer.py").run()
    assert not at.exception
    bonds = next(d.value for d in at.dataframe if "D_ij (kcal/mol)" in d.value.columns)
    seeds = [f"seed {s} (kcal/mol)" for s in ("dft-locdelta", "dft-locdelta-seed2", "dft-locdelta-seed3")]
    assert all(s in bonds.columns for s in seeds) and "σ over the seeds (kcal/mol)" in bonds.columns
    assert (bonds[seeds].mean(axis=1) - bonds["D_ij (kcal/mol)"]).abs().max() < 1e-4
    assert (bonds[seeds].std(axis=1) - bonds["σ over the seeds (kcal/mol)"]).abs().max() < 1e-6
    assert bonds["σ over the seeds (kcal/mol)"].max() > 0.5  # the seeds do differ
    at.switch_page("views/bde.py").run()  # its learned BDEs carry its seeds' spread as error bars
    assert not at.exception
    assert any("±σ of the learned BDE over the seed ensemble dft-locdelta, dft-locdelta-seed2, dft-locdelta-seed3"
               in c.value for c in at.caption)


def test_upload_errors_in_the_apps_words_each_named_once():
    at = page("views/upload.py")
    at.text_area[0].set_value("C1CC broken\n" + "C" * 45 + " long")
    at.button[0].click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("the app computes molecules of up to" in e for e in errors), errors
    assert not any("--max-atoms" in e for e in errors)  # no CLI flags in the web page
    assert all(e.count("broken:") <= 1 and e.count("long:") <= 1 for e in errors)


def _read(name):
    with open(os.path.join(DATA, name), "rb") as fh:
        return fh.read()


def test_upload_good_and_bad_files():
    at = page("views/upload.py")
    at.file_uploader[0].set_value([("two.sdf", _read("two.sdf"), "chemical/x-mdl-sdfile"),
                                   ("ethanol.xyz", _read("ethanol.xyz"), "chemical/x-xyz"),
                                   ("binary.sdf", _read("binary.sdf"), "chemical/x-mdl-sdfile"),
                                   ("truncated.xyz", _read("truncated.xyz"), "chemical/x-xyz")])
    at.button[0].click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "binary" in errors and "truncated" in errors
    assert [u["name"] for u in at.session_state["uploads"]] == ["acetonitrile", "benzene", "ethanol"]
    assert any("Computed 3 molecule" in s.value for s in at.success)
    # downloads are offered (CSV and SDF with energies)
    assert len(at.get("download_button")) == 2


def test_upload_sdf_keeps_the_records_around_a_malformed_one():
    """One malformed record used to refuse the whole file; now it is named (with its file, once) and the others
    are computed."""
    two = _read("two.sdf").decode()
    records = two.split("$$$$\n")
    broken = records[0] + "$$$$\nbroken\n  not a counts line\n\nM  END\n$$$$\n" + records[1] + "$$$$\n"
    at = page("views/upload.py")
    at.file_uploader[0].set_value([("mixed.sdf", broken.encode(), "chemical/x-mdl-sdfile")])
    at.button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["mixed.sdf: record 2 is malformed (RDKit could not parse it)"]
    assert [u["name"] for u in at.session_state["uploads"]] == ["acetonitrile", "benzene"]


# Every bad input a user might upload, with the words its one error message must contain.
BAD_UPLOADS = [("empty.xyz", "empty"), ("truncated.xyz", "truncated"), ("binary.sdf", "binary"),
               ("nan.xyz", "NaN"), ("close_atoms.xyz", "closer than 0.5"), ("bad.sdf", "malformed"),
               ("xenon.xyz", "Xe not supported"), ("bad_row.csv", "invalid SMILES")]
BAD_SMILES = [("C1CC", "invalid SMILES"), ("C(C", "invalid SMILES"), ("CBr", "Br not supported"),
              ("[Fe]", "Fe not supported"), ("C" * 45, "the app computes molecules of up to"),
              ("CC(C)(C)(C)(C)C", "invalid SMILES")]


def test_upload_bad_input_corpus_each_named_once():
    """The bad-input corpus through the upload page at once: one message per bad input, naming it, in the
    app's words; the good inputs beside them are computed; a file type the app does not read (.txt) is
    refused by the library with the types it takes, not by the uploader with a second message."""
    at = page("views/upload.py")
    at.text_area[0].set_value("\n".join(f"{s} bad{k}" for k, (s, _) in enumerate(BAD_SMILES)) + "\nCCO ethanol")
    files = [(name, _read(name), "application/octet-stream") for name, _ in BAD_UPLOADS]
    at.file_uploader[0].set_value(files + [("notes.txt", b"CCO", "text/plain")])
    at.button[0].click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    for k, (_, message) in enumerate(BAD_SMILES):
        named = [e for e in errors if e.startswith(f"bad{k}:")]
        assert len(named) == 1 and message in named[0], (k, errors)
    for name, message in BAD_UPLOADS + [("notes.txt", "unsupported file type .txt")]:
        named = [e for e in errors if name in e or name.rsplit(".", 1)[0] in e]
        assert named and any(message in e for e in named), (name, errors)
    assert not any("--" in e for e in errors)  # no CLI flags in the web page
    assert [u["name"] for u in at.session_state["uploads"]] == ["ethanol", "ethanol"]  # typed + bad_row.csv's good row
    assert any("Computed 2 molecule" in s.value for s in at.success)


def test_viewer_data_cylinders_labels_and_token(tiny_model):
    """What the persistent 3D viewer draws: one cylinder per bond (two halves when directed),
    dashed pair cylinders on request, the highlighted bond thicker and labelled; the token
    changes with the picture (the browser waits on it)."""
    from rdkit import Chem

    from app.viewer import view_data
    from e3d import edge_energies, from_smiles, pair_table

    mol = from_smiles("CCO")
    pairs = pair_table(edge_energies(tiny_model, [mol])[0])
    block = Chem.MolToMolBlock(mol.rdmol)
    n_bonds = int(pairs["bonded"].sum())
    plain = view_data(block, pairs)
    assert len(plain["shapes"]) == n_bonds and not plain["labels"]
    assert not any(s["dashed"] for s in plain["shapes"])
    assert len(view_data(block, pairs, mode="directed")["shapes"]) == 2 * n_bonds
    with_pairs = view_data(block, pairs, show_nonbonded=True)
    assert sum(s["dashed"] for s in with_pairs["shapes"]) == int((~pairs["bonded"]).sum())
    i, j = map(int, pairs[pairs["bonded"]].iloc[0][["i", "j"]])
    lit = view_data(block, pairs, highlight=(i, j))
    assert max(s["radius"] for s in lit["shapes"]) > max(s["radius"] for s in plain["shapes"])
    assert len(lit["labels"]) == 1 and len(view_data(block, pairs, labels=True)["labels"]) == n_bonds
    assert plain["token"] == view_data(block, pairs)["token"] != lit["token"]


def _shipped_model_ids():
    from e3d.family import read_index

    return [m["id"] for m in read_index()["models"]]


@pytest.mark.slow
@pytest.mark.parametrize("model_id", _shipped_model_ids())
def test_every_shipped_model_on_its_table_pages(model_id):
    """Each model has its own precomputed rows: the per-model pages render for every one of them."""
    for path in ("views/overview.py", "views/bde.py", "views/bond_types.py"):
        at = AppTest.from_file(MAIN, default_timeout=240)
        at.session_state["model_id"] = model_id
        at.switch_page(path).run()
        assert not at.exception, (model_id, path, [e.message for e in at.exception])
        assert not at.warning, (model_id, path, [w.value for w in at.warning])  # e.g. "no precomputed table"


def test_bde_page_restricts_to_the_training_domain():
    """For a model trained on small molecules, the toggle keeps only parents it could have seen."""
    from e3d.family import read_index
    from e3d.cards import MODELS_DIR, read_card

    small = [m["id"] for m in read_index()["models"]
             if (read_card(os.path.join(MODELS_DIR, m["file"])).get("training_domain") or {}).get("max_heavy_atoms", 99) <= 3]
    if not small:
        pytest.skip("no shipped model trained on small molecules only")
    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = small[0]
    at.switch_page("views/bde.py").run()
    n_all = at.dataframe[0].value["n"].iloc[0]
    at.toggle(key="bde_domain").set_value(True).run()
    assert not at.exception
    n_domain = at.dataframe[0].value["n"].iloc[0]
    assert 0 < n_domain < n_all


def test_datasets_page_cards_are_a_table_with_units():
    at = page("views/datasets.py")
    assert not at.exception
    cards = at.dataframe[-1].value
    assert "test energy MAE (meV/atom)" in cards.index and "r_max (Å)" in cards.index
    import re

    values = [str(v) for v in cards.to_numpy().ravel()]
    assert not any(v.lstrip().startswith(("{", "[")) for v in values)  # no raw JSON
    assert not any(re.search(r"\d\.\d{5,}", v) for v in values), values  # no 16-digit floats


def test_bond_types_page_compares_medians_with_the_labels_additive_fit():
    """The page shows the model's type medians against the bond-additive fit to its own labels, with the
    value the library computes from the shipped tables (precomputed/baseline.parquet, bondtypes.parquet)."""
    import pandas as pd

    from e3d.bondtypes import baseline_per_type, compare_per_type

    pre = os.path.join(ROOT, "precomputed")
    models = pd.read_parquet(os.path.join(pre, "models.parquet")).set_index("model_id")
    model_id = models["median_D_r2_vs_baseline"].dropna().index[0]
    types = pd.read_parquet(os.path.join(pre, "bondtypes.parquet"))
    medians = types[types["model_id"] == model_id].set_index("bond_type")["median"]
    baseline = baseline_per_type(pd.read_parquet(os.path.join(pre, "baseline.parquet")), models.loc[model_id, "dataset"])
    expected = compare_per_type(medians, baseline)

    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = model_id
    at.switch_page("views/bond_types.py").run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label == "E3D median D vs the labels' bond-additive fit")
    assert metric.value == f"R² {expected['r2']:.2f}" and f"MAE {expected['mae']:.1f} kcal/mol" in metric.delta
    assert any(m.label == "Labels' bond-additive fit vs mean bond enthalpies" for m in at.metric)
    # the violin plot marks each type's fitted energy beside the textbook value
    import json

    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    marks = {tr["x"][0]: tr["y"][0] for tr in figure["data"] if tr.get("name") == "labels' bond-additive fit"}
    assert marks and all(v == pytest.approx(baseline[t]) for t, v in marks.items())


def test_datasets_page_plots_the_study_scaling_series_from_its_table():
    """The emergence study's scaling series: one point per size, the shipped table's values, error bars
    from the seeds; switching the quantity redraws it."""
    import json

    import pandas as pd

    from e3d.study import CONFIGURATION_QUANTITIES

    scaling = pd.read_parquet(os.path.join(ROOT, "precomputed", "study", "scaling.parquet"))
    at = page("views/datasets.py")
    assert not at.exception
    box = at.selectbox(key="study_scaling_metric")
    assert box.value == "d_vs_rigid_mae_mean"
    assert set(box.options) == {CONFIGURATION_QUANTITIES[q] for q in CONFIGURATION_QUANTITIES}

    def values(v):  # plotly sends numpy arrays as typed binary arrays
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist() if isinstance(v, dict) else v

    def study_trace(at, axis):
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        return values(next(tr for fig in charts for tr in fig["data"] if tr.get("name") == "study")[axis])

    assert study_trace(at, "x") == scaling["n_qm9"].tolist()
    assert study_trace(at, "y") == pytest.approx(scaling["d_vs_rigid_mae_mean"].tolist())
    box.set_value("sigma_worst").run()
    assert not at.exception and study_trace(at, "y") == pytest.approx(scaling["sigma_worst"].tolist(), nan_ok=True)
    box.set_value("relaxation_term_mean_mean").run()  # its spread column is relaxation_term_mean_std
    assert not at.exception
    assert study_trace(at, "y") == pytest.approx(scaling["relaxation_term_mean_mean"].tolist(), nan_ok=True)


def test_datasets_page_plots_the_study_by_configuration_from_its_table():
    """One bar per configuration (first row on top), the shipped table's means with the seeds' s.d. as error bars;
    switching the quantity redraws it."""
    import base64
    import json

    import numpy as np
    import pandas as pd

    table = pd.read_parquet(os.path.join(ROOT, "precomputed", "study", "configurations.parquet"))
    at = page("views/datasets.py")
    assert not at.exception

    def bars():
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        trace = next(tr for fig in charts for tr in fig["data"] if tr.get("name") == "configurations")
        return {k: (np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist() if isinstance(v, dict)
                    else v) for k, v in (("y", trace["y"]), ("x", trace["x"]), ("sd", trace["error_x"]["array"]))}

    shown = table.iloc[::-1]
    assert bars()["y"] == shown["group"].tolist()
    assert bars()["x"] == pytest.approx(shown["d_vs_rigid_mae_mean"].tolist())
    assert bars()["sd"] == pytest.approx(shown["d_vs_rigid_mae_std"].tolist(), nan_ok=True)
    at.selectbox(key="study_configuration_metric").set_value("relaxed_est_vs_relaxed_mae_mean").run()
    assert not at.exception
    assert bars()["x"] == pytest.approx(shown["relaxed_est_vs_relaxed_mae_mean"].tolist())
    # a column whose own name ends in _mean: its spread is relaxation_term_mean_std
    at.selectbox(key="study_configuration_metric").set_value("relaxation_term_mean_mean").run()
    assert not at.exception
    assert bars()["sd"] == pytest.approx(shown["relaxation_term_mean_std"].tolist(), nan_ok=True)


def test_datasets_page_plots_the_accuracy_term_against_the_energy_error():
    """One point per study run from the shipped table, and the library's line."""
    import json

    import pandas as pd

    from e3d.study import accuracy_vs_energy_error

    study = pd.read_parquet(os.path.join(ROOT, "precomputed", "study", "emergence.parquet"))
    fit = accuracy_vs_energy_error(study)
    at = page("views/datasets.py")
    assert not at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    figure = next(fig for fig in charts if any(tr.get("name") == "study runs" for tr in fig["data"]))
    runs = next(tr for tr in figure["data"] if tr.get("name") == "study runs")
    assert runs["text"] == study["run_id"].tolist()
    line = next(tr for tr in figure["data"] if tr.get("name", "").startswith("least squares"))
    assert f"r = {fit['r']:.2f}" in line["name"]
    assert "meV/atom" in figure["layout"]["xaxis"]["title"]["text"]
    assert any(f"{fit['needed_meV_atom']:.1f} meV/atom" in c.value for c in at.caption)


def test_provenance_of_a_fine_tuned_main_model_names_its_pretraining():
    at = page("views/overview.py")
    assert not at.exception
    from e3d.cards import default_model_path, pretraining, read_card

    tuned = pretraining(read_card(default_model_path()))
    captions = " ".join(c.value for c in at.caption)
    assert tuned and tuned in captions


def test_what_the_seeds_agree_on_tables_come_from_the_library():
    """Bond-types page (seed ensemble of the main model) and Training-datasets page (study configurations): the
    'what the seeds agree on' tables hold the library's median σ per quantity, from the shipped tables."""
    import pandas as pd

    from e3d.ensemble import quantity_spread_wide, spread_by_quantity

    pre = os.path.join(ROOT, "precomputed")
    ens = pd.read_parquet(os.path.join(pre, "ensemble_bde.parquet"))
    ens = ens[ens["ensemble"] == "dft-emergence"]
    expected = spread_by_quantity(ens).set_index("quantity")["median_std"]
    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = "dft-emergence"
    at.switch_page("views/bond_types.py").run()
    assert not at.exception
    shown = next(df.value for df in at.dataframe if "quantity" in df.value.columns).set_index("quantity")
    assert shown["median σ (kcal/mol)"].tolist() == pytest.approx(expected.round(2).tolist())
    study = quantity_spread_wide(pd.read_parquet(os.path.join(pre, "study", "quantity_spread.parquet")))
    at = page("views/datasets.py")
    assert not at.exception
    shown = next(df.value for df in at.dataframe if "E3D D_ij" in df.value.columns)
    assert shown["configuration"].tolist() == study["group"].tolist()
    assert shown["E3D D_ij"].tolist() == pytest.approx(study["E3D D_ij"].round(2).tolist())
    seed_mean = pd.read_parquet(os.path.join(pre, "study", "seed_mean.parquet"))
    shown = next(df.value for df in at.dataframe if "seed-mean D̄_ij vs rigid: MAE (kcal/mol)" in df.value.columns)
    assert shown["configuration"].tolist() == seed_mean["group"].tolist()
    assert shown["seed-mean D̄_ij vs rigid: MAE (kcal/mol)"].tolist() == pytest.approx(
        seed_mean["seed_mean_mae"].round(2).tolist())


def test_overview_says_where_emergence_holds_for_the_selected_model():
    from e3d.verdict import FINDINGS

    at = page("views/overview.py")
    assert not at.exception
    table = next(df.value for df in at.dataframe if "verdict" in df.value.columns)
    assert set(table["verdict"]) <= {"holds", "partly", "does not"} and len(table) >= len(FINDINGS)
    assert any("**partly**" in c.value and "bond-additive fit" in c.value for c in at.caption)


def test_datasets_page_shows_what_each_fine_tune_keeps_of_its_parent():
    """One row per shipped fine-tune or Δ sum, with its parent and the library's numbers (e3d.inheritance on the
    shipped BDE table), labelled with units."""
    import pandas as pd

    from e3d.family import shipped_cards
    from e3d.inheritance import inheritance_table, parents_from_cards

    expected = inheritance_table(pd.read_parquet(os.path.join(ROOT, "precomputed", "bde.parquet")),
                                 parents_from_cards(shipped_cards())).set_index("model_id")
    at = page("views/datasets.py")
    assert not at.exception
    shown = next(d.value for d in at.dataframe if "parent (fine-tuned from, or + Δ model on)" in d.value.columns)
    shown = shown.set_index("model")
    assert list(shown.index) == list(expected.index) and len(shown) >= 3
    assert (shown["parent (fine-tuned from, or + Δ model on)"] == expected["parent_id"]).all()
    assert shown["D_ij vs own labels (rigid): ρ"].round(2).tolist() == expected["d_vs_own_labels_rigid_rho"].round(2).tolist()
    assert "D_ij vs parent's D_ij: MAE (kcal/mol)" in shown.columns


def test_upload_a_bde_table_scores_it_live_and_names_bad_rows():
    """A user's BDE table on the upload page: learned BDEs against the user's values and (GFN2-xTB model) the
    labelling method's, computed live with the library's check (e3d.bde_check); a bad row is named with its error,
    the others computed; a row GFN2-xTB gives no thermal term for (it takes HCOO• apart) is computed and says why;
    a row whose parent the model relaxes into a hole is read at the GFN2-xTB minimum and says so; too many rows or a
    file that is not a CSV are refused with one message."""
    at = AppTest.from_file(MAIN, default_timeout=240)
    at.session_state["model_id"] = "xtb-emergence-4k"
    at.switch_page("views/upload.py").run()
    table = ("label,parent_smiles,fragment_a,fragment_b,bde_kcal_mol\nethane C-C,CC,[CH3],[CH3],90.1\n"
             "methanol C-O,CO,[CH3],[OH],92.1\nmethane C-H,C,[CH3],[H],105.0\nbroken,CXC,[CH3],[H],100\n"
             "methyl formate C-O,COC=O,[CH3],[O]C=O,97.0\nmethyl hydroperoxide O-O,COO,C[O],[OH],45.0\n")
    at.file_uploader(key="bde_file").set_value([("mine.csv", table.encode(), "text/csv")])
    at.button[1].click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "broken" in errors[0] and "invalid SMILES: 'CXC'" in errors[0], errors
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "methyl formate C-O: no ZPE/thermal term ([O]C=O falls apart" in warnings[0]
    infos = [i.value for i in at.info]  # the model relaxes CH3OOH into a hole of its surface (session 38)
    assert any("methyl hydroperoxide O-O: GFN2-xTB minimum (relaxing with the model fell into a hole" in i
               for i in infos), infos
    rows = at.session_state["bde_upload"]["rows"]
    assert rows["e3d_bde_298_kcal_mol"].notna().sum() == 4 and rows["reference_bde_kcal_mol"].notna().sum() == 4
    assert rows["e3d_bde_kcal_mol"].notna().sum() == 5  # the formate's D_ij is there, at 0 K
    metrics = next(d.value for d in at.dataframe if "MAE" in d.value.columns)
    assert {"experiment (298 K)", "labelling method, rigid"} <= set(metrics["against"])
    shown = next(d.value for d in at.dataframe if "your value, 298 K (kcal/mol)" in d.value.columns)
    assert len(shown) == 6 and {"error", "note (values left empty, species read elsewhere)"} <= set(shown.columns)
    assert len(at.get("download_button")) == 1
    assert any("GFN2-xTB" in c.value for c in at.caption)  # provenance next to the numbers
    many = "label,parent_smiles,fragment_a,fragment_b\n" + "x,CC,[CH3],[CH3]\n" * 26
    at.file_uploader(key="bde_file").set_value([("many.csv", many.encode(), "text/csv")])
    at.button[1].click().run()
    assert not at.exception and [e.value for e in at.error] == [
        "many.csv: 26 rows, more than the 25 the app computes live — `python -m e3d bde` on your own machine takes "
        "any number"] and "bde_upload" not in at.session_state
    at.file_uploader(key="bde_file").set_value([("binary.csv", _read("binary.sdf"), "text/csv")])
    at.button[1].click().run()
    assert not at.exception and len(at.error) == 1 and "binary.csv" in at.error[0].value
