"""The model family: nested xTB variants and the index the CLI/app read."""

import json
import os

import pytest

from e3d.data.build import build_xtb_dataset
from e3d.family import load_family, subset_by_kind, write_index
from conftest import install_member


def test_variants_are_nested_subsets(tmp_path):
    base = str(tmp_path / "all.extxyz")
    build_xtb_dataset([("ethanol", "CCO"), ("methylamine", "CN")], base, variant="radicals", seed=2,
                      n_thermal=2, n_stretch=1, n_radical_bonds=1, progress=False)
    sizes = {}
    for variant in ("eq", "thermal", "stretch", "radicals"):
        out = str(tmp_path / f"{variant}.extxyz")
        sizes[variant] = subset_by_kind(base, variant, out)
        prov = json.load(open(out + ".json"))
        assert prov["variant"] == variant and prov["n_frames"] == sizes[variant]
    assert sizes["eq"] == 2 and sizes["thermal"] == 6 and sizes["eq"] < sizes["thermal"] < sizes["stretch"] < sizes["radicals"]
    eq_text = open(tmp_path / "eq.extxyz").read().splitlines()[0:11]
    assert "\n".join(eq_text) in open(tmp_path / "radicals.extxyz").read()


def test_index_lists_models_and_main(tmp_path, tiny_model_path):
    family = load_family()
    main_id = family["main"]
    path = install_member(main_id, tmp_path, tiny_model_path)  # a package, or a sum file (a seed mean)
    index = write_index(str(tmp_path))
    assert index["main"] == os.path.basename(path)
    assert [m["id"] for m in index["models"]] == [main_id]
    assert index["models"][0]["level_of_theory"] == "GFN2-xTB"
    assert "per_atom_energy_mae" in index["models"][0]["test"]
    assert json.load(open(os.path.join(tmp_path, "index.json"))) == index


def test_extended_training_corpus():
    from rdkit import Chem

    from e3d.corpus import evaluation_corpus, training_corpus
    from e3d.molecule import canonical

    curated, extended = training_corpus(), training_corpus(extended=True)
    assert len(curated) >= 200 and len(extended) >= 500
    assert extended[: len(curated)] == curated and extended == training_corpus(extended=True)  # deterministic
    smiles = [canonical(s) for _, s in extended]
    assert len(set(smiles)) == len(smiles)
    assert not set(smiles) & {canonical(s) for _, s in evaluation_corpus()}  # held-out stays held out
    elements = {a.GetSymbol() for s in smiles for a in Chem.MolFromSmiles(s).GetAtoms()}
    assert elements == {"H", "C", "N", "O", "F", "S", "Cl"}
    groups = {"C(=O)O", "C#N", "[N+](=O)[O-]", "S(=O)(=O)", "c1ccsc1", "c1ccoc1", "c1cncc1"}  # functional groups
    assert all(any(Chem.MolFromSmiles(s).HasSubstructMatch(Chem.MolFromSmarts(g)) for s in smiles) for g in groups)


def test_small_corpora_for_dft():
    from rdkit import Chem

    from e3d.corpus import CORPORA, canonical, held_out
    from e3d.family import corpus_parts

    train, test = CORPORA["train-small"](), CORPORA["eval-small"]()
    assert len(train) >= 50 and len(test) >= 5
    assert max(Chem.MolFromSmiles(s).GetNumHeavyAtoms() for _, s in train) == 3
    assert not {canonical(s) for _, s in train} & {canonical(s) for _, s in test}
    shell = CORPORA["train-heavy4"]()  # the next DFT shell: 4 heavy atoms, no BDE parent or evaluation molecule
    assert len(shell) >= 30 and {Chem.MolFromSmiles(s).GetNumHeavyAtoms() for _, s in shell} == {4}
    assert not {canonical(s) for _, s in shell} & held_out()
    dft_entries = [m for m in load_family()["models"] if m["data"]["labeller"] == "dft"]
    assert dft_entries and all(set(corpus_parts(m["data"])) <= set(CORPORA) and m["data"]["test_corpus"] in CORPORA
                               for m in dft_entries)


def test_emergence_members_train_as_their_study_runs(tmp_path):
    """A member that ships a study run takes the run's data, seed, cutoff and loss weights (no copy in
    configs/family.yaml), and is trained through the study: the runs it is fine-tuned from first, unless
    the run has already begun (then its unfinished ancestors are not resumed for it)."""
    from e3d.family import _entry, entry_overrides, study_run
    from e3d.study import dataset_path, lineage, run_overrides

    entry = _entry("xtb-emergence-4k")
    study, run = study_run(entry)
    assert "overrides" not in entry and run["id"] == "r3.0-qm9-4k-ew50-s1"
    overrides = entry_overrides(entry)
    assert overrides == run_overrides(study, run, dataset_path(study, 4000))
    assert "seed=1" in overrides and "training_module.loss.coeffs.total_energy=50" in overrides
    assert [r["id"] for r in lineage(study, run)] == ["r3.0-qm9-4k-s1", "r3.0-qm9-4k-ew50-s1"]
    assert [r["id"] for r in lineage(study, run, str(tmp_path))] == ["r3.0-qm9-4k-s1", "r3.0-qm9-4k-ew50-s1"]
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "r3.0-qm9-4k-ew50-s1.last.ckpt").write_bytes(b"")
    assert [r["id"] for r in lineage(study, run, str(tmp_path))] == ["r3.0-qm9-4k-ew50-s1"]
    assert study_run(_entry(load_family()["main"])) is None  # members trained on their own keep their overrides


def test_finetuned_members_name_a_trained_parent(tmp_path):
    """A member fine-tuned from another (``init_from``) starts from that member's shipped model: the parent
    is listed before it, and training it without the parent stops with a message naming both."""
    from e3d.errors import E3DError
    from e3d.family import train_family

    members = load_family()["models"]
    ids = [m["id"] for m in members]
    tuned = [m for m in members if m.get("init_from")]
    assert tuned and all(ids.index(m["init_from"]) < ids.index(m["id"]) for m in tuned)
    with pytest.raises(E3DError, match=f"{tuned[0]['id']}: fine-tunes {tuned[0]['init_from']}, which is not trained"):
        train_family(only=[tuned[0]["id"]], models_dir=str(tmp_path))


def test_the_dft_sets_ship_and_are_not_relabelled(tmp_path, monkeypatch):
    """The DFT frames (an hour of PySCF on two cores) ship in precomputed/labels/: building a DFT member's data
    copies them, provenance included, instead of labelling again."""
    from e3d.family import SHIPPED_LABELS, _entry, labelled_set, prepare_data

    monkeypatch.chdir(tmp_path)
    entry = _entry("dft-radicals")
    prepare_data(entry)  # would run PySCF for an hour if it did not copy
    for split in ("trainval", "test"):
        path = labelled_set(entry["data"], split)
        shipped = os.path.join(SHIPPED_LABELS, os.path.basename(path))
        for suffix in ("", ".json"):
            assert open(path + suffix, "rb").read() == open(shipped + suffix, "rb").read()
        assert json.load(open(path + ".json"))["labels"]["method"] == "B3LYP/def2-SVP"


def test_fine_tuned_models_say_what_they_were_pretrained_on():
    """The provenance line of a fine-tuned model names its parent and the parent's labels (CLI, app, card
    summary); a model trained from scratch says nothing of the kind."""
    from e3d.cards import MODELS_DIR, pretraining, read_card
    from e3d.family import card_summary, entry_overrides

    tuned = [m for m in load_family()["models"] if m.get("init_from")]
    for m in tuned:
        card = read_card(os.path.join(MODELS_DIR, f"{m['id']}.nequip.zip"))
        parent = read_card(os.path.join(MODELS_DIR, f"{m['init_from']}.nequip.zip"))
        fresh = ", edge readout re-drawn" if "fresh_readout=true" in entry_overrides(m) else ""
        assert pretraining(card) == f"fine-tuned from {m['init_from']} ({parent['level_of_theory']} labels){fresh}"
        assert card_summary(card)["fine-tuned from"] == f"{m['init_from']} ({parent['level_of_theory']} labels){fresh}"
        assert card["hyperparameters"] == parent["hyperparameters"]  # the architecture is the parent's
    assert pretraining(read_card(os.path.join(MODELS_DIR, "dft-radicals.nequip.zip"))) == ""


def test_seeds_of_one_recipe_share_its_overrides_and_differ_in_seed():
    from e3d.family import _entry, entry_overrides

    one, two = entry_overrides(_entry("dft-emergence")), entry_overrides(_entry("dft-emergence-seed2"))
    assert "seed=1" in one and "seed=2" in two and "seed=2" not in one
    assert [o for o in one if o != "seed=1"] == [o for o in two if o != "seed=2"]
    # a variant names the recipe's anchor and adds to it ([*dft_finetune, …]): the same list plus its change
    patient = entry_overrides(_entry("dft-emergence-patient"))
    assert patient == one[:-1] + ["training_module.lr_scheduler.scheduler.patience=80", "seed=1"]
    # a variant of that variant (the next DFT shell) adds its training file: nesting of any depth is flattened
    heavy4 = entry_overrides(_entry("dft-emergence-heavy4"))
    assert heavy4 == patient[:-1] + ["trainval_file=runs/data/dft_radicals_train-small+train-heavy4_trainval.extxyz",
                                     "seed=1"]


def test_a_member_trains_on_the_union_of_two_shipped_sets(tmp_path, monkeypatch):
    """``corpus: a+b`` trains on the shipped frames of both corpora, combined by name (their provenance named),
    and tests on the first one's test set — the same frames as the members trained on ``a`` alone."""
    import ase.io

    from e3d.family import SHIPPED_LABELS, _entry, entry_overrides, labelled_set, prepare_data

    monkeypatch.chdir(tmp_path)
    entry = _entry("dft-emergence-heavy4")
    prepare_data(entry)  # copies and combines; labelling would take hours
    union = labelled_set(entry["data"], "trainval")
    assert os.path.basename(union) == "dft_radicals_train-small+train-heavy4_trainval.extxyz"
    assert f"trainval_file={union}" in entry_overrides(entry)  # what it trains on is what was built
    parts = [os.path.join(SHIPPED_LABELS, f"dft_radicals_{c}_trainval.extxyz") for c in ("train-small", "train-heavy4")]
    sizes = [len(ase.io.read(p, ":")) for p in parts]
    prov = json.load(open(union + ".json"))
    assert len(ase.io.read(union, ":")) == prov["n_frames"] == sum(sizes)
    assert [p["dataset"] for p in prov["combined_from"]] == [os.path.basename(p) for p in parts]
    test = labelled_set(entry["data"], "test")
    assert test == labelled_set(_entry("dft-emergence")["data"], "test")
    assert open(test, "rb").read() == open(os.path.join(SHIPPED_LABELS, os.path.basename(test)), "rb").read()


def test_sums_name_trained_parts_and_delta_members_are_parts(tmp_path):
    """A ``sum_of`` member (and a ``mean_of`` one) is listed after its parts, refuses to be written before they are trained, and its
    Δ part is not a model of the index (role delta) while the sum is."""
    from e3d.errors import E3DError
    from e3d.family import PART_ROLE, member_file, train_family

    members = load_family()["models"]
    ids = [m["id"] for m in members]
    sums = [m for m in members if m.get("sum_of")]
    assert sums and all(ids.index(p) < ids.index(m["id"]) for m in sums for p in m["sum_of"])
    means = [m for m in members if m.get("mean_of")]  # (family domains refreshes parts first by this order)
    assert means and all(ids.index(p) < ids.index(m["id"]) for m in means for p in m["mean_of"])
    assert all(next(x for x in members if x["id"] == m["sum_of"][-1])["role"] == PART_ROLE for m in sums)
    assert member_file(sums[0], str(tmp_path)).endswith(f"{sums[0]['id']}.sum.json")
    with pytest.raises(E3DError, match=f"{sums[0]['id']}: sums .*not trained yet"):
        train_family(only=[sums[0]["id"]], models_dir=str(tmp_path))
    index = json.load(open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "precomputed", "models", "index.json")))
    listed = {m["id"] for m in index["models"]}
    assert {m["id"] for m in sums} <= listed and not any(m["role"] == PART_ROLE and m["id"] in listed for m in members)


def test_refresh_training_domains_reads_the_training_files(tmp_path, tiny_model_path):
    """``family domains``: a card's stale domain is recomputed from the training file its config names, a sum's from
    its parts (what both saw); a card without its training file here is left as it is; a second pass changes nothing."""
    from e3d.cards import read_card
    from e3d.errors import E3DError
    from e3d.family import refresh_training_domains
    from e3d.train import training_domain

    files = {}
    for name, molecules in (("base", [("ethanol", "CCO")]), ("delta", [("ethanol", "CCO"), ("methylamine", "CN")])):
        files[name] = str(tmp_path / f"{name}.extxyz")
        build_xtb_dataset(molecules, files[name], variant="eq", seed=5, progress=False)
    models = tmp_path / "models"
    models.mkdir()
    tiny = read_card(tiny_model_path)
    stale = {"max_atoms": 1, "max_heavy_atoms": 1, "bond_types": {"H-H": 1}}
    paths = {mid: install_member(mid, models, tiny_model_path, {**tiny, "id": mid, "training_domain": stale, **extra})
             for mid, extra in (("xtb-emergence-4k", {"overrides": [f"trainval_file={files['base']}"]}),
                                ("delta-heavy4", {"overrides": [f"trainval_file={files['delta']}"]}),
                                ("dft-delta", {}),
                                ("xtb-emergence-4k-seed2", {"config": None}))}
    status = refresh_training_domains(str(models))
    assert status == {"xtb-emergence-4k": "updated", "delta-heavy4": "updated", "dft-delta": "updated",
                      "xtb-emergence-4k-seed2": "no training file here"}
    base, delta = training_domain(files["base"]), training_domain(files["delta"])
    assert read_card(paths["xtb-emergence-4k"])["training_domain"] == base
    assert read_card(paths["delta-heavy4"])["training_domain"] == delta and "C-N" in delta["bond_types"]
    assert read_card(paths["dft-delta"])["training_domain"]["bond_types"] == base["bond_types"]  # C–N: only Δ saw it
    assert read_card(paths["xtb-emergence-4k-seed2"])["training_domain"] == stale
    assert set(refresh_training_domains(str(models)).values()) == {"unchanged", "no training file here"}
    assert refresh_training_domains(str(models), only=["dft-delta"]) == {"dft-delta": "unchanged"}
    with pytest.raises(E3DError, match="unknown model id nope"):
        refresh_training_domains(str(models), only=["nope"])
