"""The emergence study end to end at tiny scale: QM9 parents → GFN2-xTB data → real Allegro runs
(two seeds, one frame-kind subset) → interrupted and resumed training → the study tables."""

import os

import ase.io
import numpy as np
import pandas as pd
import pytest
import yaml

import e3d
from e3d.data.build import corpus_items, generate_frames
from e3d.fragments import bond_sides, cut_energy, cut_response, split_at_bond
from e3d.units import KCAL_PER_EV
from e3d.molecule import from_smiles

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_qm9_parents_are_nested_and_exclude_held_out_molecules():
    from e3d.corpus import held_out

    small, large = corpus_items("qm9:5"), corpus_items("qm9:12")
    assert [m.name for m in small] == [m.name for m in large[:5]]
    assert not {m.smiles for m in large} & held_out()
    assert all(m.charge == 0 and m.multiplicity == 1 for m in large)


def test_qm9_test_parents_come_from_the_split_no_training_size_draws_on():
    from e3d.data.qm9 import read_qm9, splits

    df = read_qm9()
    test_index = set(df["Index"].iloc[splits(len(df))["test"]].astype(int))
    test = corpus_items("qm9-test:5")
    assert len(test) == 5 and {int(m.name.removeprefix("qm9-")) for m in test} <= test_index
    assert not {m.name for m in test} & {m.name for m in corpus_items("qm9:40")}
    with pytest.raises(e3d.E3DError, match="qm9-test:N"):
        corpus_items("qm9-test:five")


def test_qm9_parents_keep_their_geometry_and_radicals_are_rigid():
    import numpy as np

    (parent,) = corpus_items("qm9:1")
    geo, failures = generate_frames([parent], "radicals", seed=3, n_thermal=2, n_stretch=1, n_radical_bonds=1,
                                    progress=False)
    assert not failures
    kinds = [k for _, k, _ in geo]
    assert kinds[0] == "eq" and np.array_equal(geo[0][2].positions, parent.positions)  # QM9 geometry as given
    radicals = [m for _, kind, m in geo if kind == "radical"]

    def at_parent_geometry(m):  # every atom sits where it sat in the parent
        d = np.linalg.norm(parent.positions[:, None] - m.positions[None], axis=-1)
        return np.allclose(d.min(axis=0), 0.0)

    rigid = [m for m in radicals if at_parent_geometry(m)]
    # the fragments (≥ 2 atoms: a lone H atom teaches nothing) of one bond, each + 1 displaced copy
    assert len(rigid) in (1, 2) and len(radicals) == 2 * len(rigid)
    assert sum(m.n_atoms for m in rigid) in (parent.n_atoms, parent.n_atoms - 1)
    assert {m.multiplicity for m in rigid} == {2}


def test_labelling_workers_come_from_the_environment(monkeypatch):
    from e3d.data.build import env_workers
    from e3d.errors import E3DError

    monkeypatch.delenv("E3D_WORKERS", raising=False)
    assert env_workers() == 1
    monkeypatch.setenv("E3D_WORKERS", "2")
    assert env_workers() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("E3D_WORKERS", bad)
        with pytest.raises(E3DError, match="E3D_WORKERS"):
            env_workers()


def test_extra_radicals_are_labelled_once_and_combined(tmp_path, monkeypatch):
    """``extra_radical_bonds``: the run's set is the study's set plus the rigid radicals of more broken
    bonds per QM9 parent (radical frames only, labelled by the same GFN2-xTB), over E3D_WORKERS processes."""
    from e3d.study import prepare_data, run_dataset

    monkeypatch.setenv("E3D_WORKERS", "2")
    study = {"data": {"corpus": "", "dir": str(tmp_path), "n_thermal": 2, "n_stretch": 1, "n_radical_bonds": 1,
                      "seed": 0}}
    run = {"id": "x", "n_qm9": 4, "extra_radical_bonds": 2}
    out = prepare_data(study, run, progress=False)
    assert out == run_dataset(study, run) and out.endswith("qm9-4_rad+2.extxyz")
    base = list(ase.io.iread(str(tmp_path / "xtb_radicals_heldout_qm9-4.extxyz")))
    extra = list(ase.io.iread(str(tmp_path / "xtb_radicals_heldout_qm9-4_radicals-supplement2.extxyz")))
    combined = list(ase.io.iread(out))
    assert extra and {a.info["kind"] for a in extra} == {"radical"}
    assert len(combined) == len(base) + len(extra)
    assert sum(a.info["kind"] == "radical" for a in extra) > sum(a.info["kind"] == "radical" for a in base)
    import json

    prov = json.load(open(out + ".json"))
    assert prov["n_frames"] == len(combined) and [p["n_frames"] for p in prov["combined_from"]] == [len(base), len(extra)]
    assert prov["combined_from"][1]["settings"]["kinds"] == ["radical"]
    assert prepare_data(study, run, progress=False) == out  # built once


def test_molecules_at_rest_add_the_equilibrium_frames_of_the_molecules_beyond_n_qm9(tmp_path):
    """``at_rest: M``: the run's N molecules in every kind plus the equilibrium frames of QM9 molecules N+1…M,
    each parent's equilibrium frame once; the bond-additive baseline is the M-molecule set's."""
    from e3d.errors import E3DError
    from e3d.study import describe, load_study, molecules_at_rest, prepare_data, run_dataset

    study = {"data": {"corpus": "", "dir": str(tmp_path), "n_thermal": 1, "n_stretch": 1, "n_radical_bonds": 1,
                      "seed": 0}}
    run = {"id": "r", "n_qm9": 2, "at_rest": 4}
    out = prepare_data(study, run, progress=False)
    assert out == run_dataset(study, run) and out.endswith("qm9-2_rest-4.extxyz")
    plain = list(ase.io.iread(str(tmp_path / "xtb_radicals_heldout_qm9-2.extxyz")))
    rest = list(ase.io.iread(str(tmp_path / "xtb_radicals_heldout_qm9-4_eq.extxyz")))
    combined = list(ase.io.iread(out))
    added = combined[len(plain):]
    assert [a.info["parent"] for a in combined[:len(plain)]] == [a.info["parent"] for a in plain]
    assert len(added) == 2 and {a.info["kind"] for a in added} == {"eq"}
    assert not {a.info["parent"] for a in added} & {a.info["parent"] for a in plain}
    eq_parents = [a.info["parent"] for a in combined if a.info["kind"] == "eq"]
    assert sorted(eq_parents) == sorted(a.info["parent"] for a in rest)  # every molecule at rest once
    assert prepare_data(study, run, progress=False) == out  # built once
    assert molecules_at_rest(run) == 4 and molecules_at_rest({"n_qm9": 2}) == 2
    assert describe(dict(run, steps=1))["kinds"] == "radicals (+ QM9 molecules 3–4 at rest)"
    config = tmp_path / "s.yaml"
    config.write_text("base_config: configs/emergence.yaml\ndata: {test: t.extxyz}\n"
                      "runs:\n  - {id: a-s1, n_qm9: 250, at_rest: 250, steps: 10}\n")
    with pytest.raises(E3DError, match=r"run a-s1: at_rest \(250\) must exceed n_qm9 \(250\)"):
        load_study(str(config))


def test_model_minima_frames_are_the_species_where_a_model_relaxes_them(tmp_path, tiny_model_path):
    """``model_minima``: the run's parents and radicals (first frame of each) relaxed with a model, its minimum and
    the point half-way there labelled with GFN2-xTB, joined to the run's frames; a set of other labels is refused."""
    import json

    from e3d.calculator import E3DCalculator
    from e3d.data import xtb
    from e3d.data.model_minima import KIND, build_model_minima, start_frames
    from e3d.model import load_model
    from e3d.study import prepare_data, run_dataset

    study = {"data": {"corpus": "", "dir": str(tmp_path), "n_thermal": 2, "n_stretch": 1, "n_radical_bonds": 1,
                      "seed": 0}}
    run = {"id": "m", "n_qm9": 3, "model_minima": tiny_model_path}
    out = prepare_data(study, run, progress=False)
    assert out == run_dataset(study, run) and out.endswith("qm9-3_min-tiny_allegro.extxyz")
    plain = list(ase.io.iread(str(tmp_path / "xtb_radicals_heldout_qm9-3.extxyz")))
    minima = list(ase.io.iread(str(tmp_path / "xtb_radicals_heldout_qm9-3_minima-tiny_allegro.extxyz")))
    starts = start_frames(plain)
    assert {a.info["kind"] for a in starts} == {"eq", "radical"} and len(minima) == 2 * len(starts)
    assert {a.info["kind"] for a in minima} == {KIND} and len(list(ase.io.iread(out))) == len(plain) + len(minima)
    calc = E3DCalculator(load_model(tiny_model_path, device="cpu"))
    for start, half, end in zip(starts, minima[::2], minima[1::2]):
        assert half.info["start_kind"] == start.info["kind"] and half.info["multiplicity"] == start.info["multiplicity"]
        np.testing.assert_allclose(half.positions, (start.positions + end.positions) / 2, atol=1e-6)
        energy = []
        for atoms in (start, end):  # the end is where the model relaxes the species to: downhill
            probe = atoms.copy()
            probe.calc = calc
            energy.append(probe.get_potential_energy())
        assert energy[1] < energy[0]
    e, f = xtb.energy_and_forces(end.numbers, end.positions, 0, end.info["multiplicity"])
    assert end.get_potential_energy() == pytest.approx(e) and np.allclose(end.get_forces(), f)
    prov = json.load(open(out + ".json"))
    assert prov["frames_by_kind"][KIND] == len(minima) and prov["combined_from"][1]["settings"]["relaxed_with"]
    assert prepare_data(study, run, progress=False) == out  # built once
    dft = tmp_path / "dft.extxyz"
    ase.io.write(dft, plain[:1])
    json.dump({"labels": {"method": "B3LYP/def2-SVP"}}, open(str(dft) + ".json", "w"))
    with pytest.raises(e3d.E3DError, match="labelled by 'B3LYP/def2-SVP'"):
        build_model_minima(str(dft), tiny_model_path, str(tmp_path / "no.extxyz"), progress=False)
    with pytest.raises(e3d.E3DError, match="model_minima 'no-such-run'"):
        prepare_data(study, dict(run, model_minima="no-such-run"), progress=False)


def test_parent_split_keeps_each_molecule_on_one_side_and_repeats_curated_train_frames(tmp_path):
    """``split: parent``: no parent on both sides, each source (curated, QM9) split alike, the curated
    molecules' train frames K times, validation never repeated; provenance counts the frames."""
    import json

    from e3d.data.build import build_xtb_dataset, is_curated, parent_split, parent_split_paths
    from e3d.errors import E3DError

    corpus = [("ethanol", "CCO"), ("methylamine", "CN"), ("water", "O"), ("ethane", "CC"),
              *((f"qm9-{i}", smi) for i, smi in enumerate(["C", "CO", "CF", "N", "CCC", "OO", "C=C", "C#N",
                                                            "CC=O", "NN"]))]
    full = str(tmp_path / "d.extxyz")
    build_xtb_dataset(corpus, full, variant="thermal", seed=0, n_thermal=2, progress=False)
    frames = list(ase.io.iread(full))
    train, val = parent_split(full, seed=3, val_fraction=0.25, curated_repeats=3)
    assert (train, val) == parent_split_paths(full, seed=3, val_fraction=0.25, curated_repeats=3)
    t, v = list(ase.io.iread(train)), list(ase.io.iread(val))
    parents = lambda part: {a.info["parent"] for a in part}  # noqa: E731
    assert not parents(t) & parents(v) and parents(t) | parents(v) == parents(frames)
    assert sum(map(is_curated, parents(v))) == 1 and sum(not is_curated(p) for p in parents(v)) == round(0.25 * 10)
    per_parent = {p: sum(a.info["parent"] == p for a in frames) for p in parents(frames)}
    assert len(v) == sum(per_parent[p] for p in parents(v))  # whole molecules, once
    assert len(t) == sum(per_parent[p] * (3 if is_curated(p) else 1) for p in parents(t))
    prov = json.load(open(train + ".json"))
    assert prov["n_frames"] == len(t) and prov["split"]["curated_repeats"] == 3 and prov["split"]["side"] == "train"
    assert json.load(open(val + ".json"))["split"]["n_parents"] == len(parents(v))
    # the same seed draws the same validation molecules whatever K is; another seed, others
    assert parents(ase.io.iread(parent_split(full, seed=3, val_fraction=0.25)[1])) == parents(v)
    assert parents(ase.io.iread(parent_split(full, seed=4, val_fraction=0.25)[1])) != parents(v)
    with pytest.raises(E3DError, match="curated_repeats"):
        parent_split(full, curated_repeats=0)


def test_split_at_bond_and_cut_energy(tiny_model):
    import e3d

    mol = from_smiles("CCO")
    o = [a.GetIdx() for a in mol.rdmol.GetAtoms() if a.GetSymbol() == "O"][0]
    c = mol.rdmol.GetAtomWithIdx(o).GetNeighbors()[0].GetIdx()
    a, b = bond_sides(mol.rdmol, c, o)
    assert sorted(a + b) == list(range(mol.n_atoms)) and o in b and c in a
    frags = split_at_bond(mol, c, o)
    assert sorted(f.n_atoms for f in frags) == [2, 7] and {f.multiplicity for f in frags} == {2}
    pairs = e3d.pair_table(e3d.edge_energies(tiny_model, [mol])[0])
    cut = cut_energy(pairs, a, b)
    bond = pairs[(pairs["i"] == min(c, o)) & (pairs["j"] == max(c, o))]["D_ij"].item()
    across = pairs[pairs["i"].isin(a) != pairs["j"].isin(a)]
    assert cut == pytest.approx(across["D_ij"].sum()) and len(across) > 1 and cut != pytest.approx(bond)
    # the cut's response: the change of every pair inside the fragments adds up to the locality term
    # D_cut − BDE_rigid(model) (docs/E3D_METHOD.md §4c), each fragment's atoms mapped back to the parent
    assert sorted(sum((list(f.parent_atoms) for f in frags), [])) == list(range(mol.n_atoms))
    results = e3d.edge_energies(tiny_model, frags)
    response = cut_response(pairs, [(f, e3d.pair_table(r)) for f, r in zip(frags, results)], c, o)
    e_parent = e3d.edge_energies(tiny_model, [mol])[0].total_energy
    rigid_bde = (sum(r.total_energy for r in results) - e_parent) * KCAL_PER_EV
    assert response["delta_D"].sum() == pytest.approx(cut - rigid_bde, abs=1e-6)
    assert not ((response["i"].isin(a)) != (response["j"].isin(a))).any()  # nothing across the cut
    centre = response[response["at_centre"]]
    assert (centre["i"].isin([c, o]) | centre["j"].isin([c, o])).all()
    h = next(n.GetIdx() for n in mol.rdmol.GetAtomWithIdx(o).GetNeighbors() if n.GetSymbol() == "H")
    assert ((centre["i"] == min(o, h)) & (centre["j"] == max(o, h))).any()  # O–H: the O radical's own bond
    assert response.loc[~response["at_centre"], "delta_D"].abs().sum() > 0  # the tiny model is not local
    with pytest.raises(e3d.InputError, match="in a ring"):
        ring = from_smiles("C1CC1")
        bond_sides(ring.rdmol, 0, 1)


def test_training_hours_count_a_session_cut_off_before_packaging(tmp_path):
    """A run a session's end killed (never packaged) and resumed the next session: both trainings count, each
    from its start in train.log to its metrics' last write; a kept session of the same training is replaced."""
    import datetime

    from e3d.study import _merged_sessions, _run_dir_sessions

    t0 = 1_780_000_000.0  # seconds since the epoch
    spans = [(t0, t0 + 0.4 * 3600), (t0 + 2 * 3600, t0 + 2.1 * 3600)]  # 0.4 h, cut off; 0.1 h, resumed
    log = ""
    for k, (start, end) in enumerate(spans):
        stamp = datetime.datetime.fromtimestamp(start).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]  # nequip's local time
        log += f"[{stamp}][nequip.scripts.train][INFO] - [rank: 0] TRAIN RUN START\n[{stamp}][x][INFO] - other\n"
        metrics = tmp_path / "csv" / f"version_{k}" / "metrics.csv"
        metrics.parent.mkdir(parents=True)
        metrics.write_text("epoch,step\n")
        os.utime(metrics, (end, end))
    (tmp_path / "train.log").write_text(log)
    measured = _run_dir_sessions(str(tmp_path))
    assert sorted(measured.values()) == pytest.approx([0.1, 0.4])
    iso = datetime.datetime.fromtimestamp(t0 + 2 * 3600 - 3, datetime.timezone.utc).isoformat(timespec="seconds")
    kept = {iso: 0.02, "2026-01-01T00:00:00+00:00": 1.0, "earlier": 2.0}  # the resumed one, packaged before
    merged = _merged_sessions(kept, measured)
    assert sum(merged.values()) == pytest.approx(3.5) and iso not in merged
    # a training that ended seconds before the next began is another training, not the same one
    before = datetime.datetime.fromtimestamp(t0 - 20, datetime.timezone.utc).isoformat(timespec="seconds")
    assert _merged_sessions({before: 0.004}, measured)[before] == 0.004  # 14 s, ended 6 s before
    assert _run_dir_sessions(str(tmp_path / "missing")) == {}


@pytest.mark.slow
def test_study_trains_interrupts_resumes_and_evaluates(tmp_path, monkeypatch):
    from e3d.study import checkpoint_path, evaluate_study, load_study, model_path, steps_done, train_run, train_runs

    monkeypatch.chdir(tmp_path)
    bde = pd.read_csv(os.path.join(ROOT, "e3d", "resources", "bde_reference.csv"))
    bde[bde["parent_smiles"].isin(["C", "CC", "CO", "CN"])].to_csv(tmp_path / "bde.csv", index=False)
    cfg = {"name": "pytest", "base_config": "configs/tiny.yaml",
           "data": {"corpus": "", "dir": str(tmp_path / "data"), "test": str(tmp_path / "data" /
                                                                               "xtb_radicals_heldout_qm9-30.extxyz"),
                    # the same frames as a second held-out set: its errors must be the test set's
                    "test_qm9": str(tmp_path / "data" / "xtb_radicals_heldout_qm9-30.extxyz"),
                    "n_thermal": 2, "n_stretch": 1, "n_radical_bonds": 1, "bde_table": str(tmp_path / "bde.csv")},
           "runs": [{"id": "t-s1", "r_max": 3.0, "n_qm9": 30, "seed": 1, "steps": 30},
                    {"id": "t-s2", "r_max": 3.0, "n_qm9": 30, "seed": 2, "steps": 30},
                    {"id": "t-eq-s1", "r_max": 3.0, "n_qm9": 30, "kinds": "eq", "seed": 1, "steps": 10**6,
                     "overrides": ["trainer.max_time=00:00:00:20", "trainer.max_epochs=100000"],
                     "convergence": {"min_decays": 99}},  # never converged: the wall-time budget stops it
                    # a fine-tune of t-s1 at learning rate 0 must be t-s1 itself (fresh weights would not be)
                    {"id": "t-ft-s1", "r_max": 3.0, "n_qm9": 30, "seed": 1, "steps": 30, "init_from": "t-s1",
                     "overrides": ["training_module.optimizer.lr=0.0", "training_module.loss.coeffs.total_energy=50"]},
                    # a test that holds at the second validation: the run stops there, far below its step budget
                    {"id": "t-conv-s1", "r_max": 3.0, "n_qm9": 30, "seed": 1, "steps": 10**6,
                     "convergence": {"window": 1, "min_decays": 0, "rel_change": 1.0}},
                    # train and validation split by parent molecule (e3d.data.build.parent_split)
                    {"id": "t-split-s1", "r_max": 3.0, "n_qm9": 30, "seed": 1, "steps": 30, "split": "parent"}],
           "scaling": ["t"]}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    study, out = load_study(str(path)), str(tmp_path / "study")
    assert train_runs(study, study["runs"][:2], parallel=2, study_dir=out, progress=False) == ["finished"] * 2
    assert train_run(study, study["runs"][0], study_dir=out, progress=False) == "done"
    assert train_run(study, study["runs"][3], study_dir=out, progress=False) == "finished"
    from e3d.model import load_model

    methanol = [from_smiles("CO")]
    parent, tuned = (e3d.edge_energies(load_model(model_path(r, out)), methanol)[0] for r in ("t-s1", "t-ft-s1"))
    np.testing.assert_allclose(tuned.e, parent.e, atol=1e-6)
    from e3d.cards import read_card

    parent_steps = read_card(model_path("t-s1", out))["study"]["steps_done"]
    assert read_card(model_path("t-ft-s1", out))["study"]["init_from_steps"] == parent_steps  # where it began
    eq = study["runs"][2]
    # the wall-time budget stops the long run: its last checkpoint is kept for a later session …
    assert train_run(study, eq, study_dir=out, progress=False) == "interrupted"
    assert {a.info["kind"] for a in ase.io.iread(tmp_path / "data" / "xtb_radicals_heldout_qm9-30_eq.extxyz")} == {"eq"}
    assert read_card(model_path("t-eq-s1", out))["dataset_variant"] == "eq"  # the subset's kinds, not the full set's
    saved = checkpoint_path("t-eq-s1", out)
    import shutil

    import torch
    from e3d.study import read_curve

    # last.ckpt is the last validation's, not the best one's (a resume continues where the run stopped)
    kept_step = torch.load(saved, map_location="cpu", weights_only=False)["global_step"]  # our own checkpoint
    assert kept_step >= read_curve(os.path.join("runs", "study", "runs", "t-eq-s1"))["step"].max()

    step_before = steps_done(os.path.join("runs", "study", "runs", "t-eq-s1"))
    shutil.rmtree(os.path.join("runs", "study", "runs", "t-eq-s1"))  # … a new session has no runs/
    assert os.path.exists(saved) and train_run(study, eq, study_dir=out, progress=False) == "interrupted"
    assert steps_done(os.path.join("runs", "study", "runs", "t-eq-s1")) > step_before  # resumed, not restarted
    from e3d.study import package_run

    hours = read_card(model_path("t-eq-s1", out))["study"]
    package_run(study, eq, out)  # packaging again in the same session counts its hours once
    again = read_card(model_path("t-eq-s1", out))["study"]
    assert len(hours["sessions"]) == 2 and again["training_hours"] == pytest.approx(hours["training_hours"])
    # a finished fine-tune whose step budget is raised resumes (a restart would be refused) in a new session
    shutil.rmtree(os.path.join("runs", "study", "runs", "t-ft-s1"))
    assert train_run(study, dict(study["runs"][3], steps=60), study_dir=out, progress=False) == "finished"
    resumed = read_card(model_path("t-ft-s1", out))["study"]
    assert resumed["steps_done"] >= 60 and resumed["init_from_steps"] == parent_steps  # kept across sessions
    # the convergence test stops a run (configs/common.yaml convergence; e3d.convergence)
    conv = study["runs"][4]
    assert train_run(study, conv, study_dir=out, progress=False) == "converged"
    stopped = read_card(model_path("t-conv-s1", out))["study"]
    assert stopped["converged"] and stopped["finished"] and len(stopped["curve"]) == 2
    assert train_run(study, conv, study_dir=out, progress=False) == "done"
    split = study["runs"][5]
    assert train_run(study, split, study_dir=out, progress=False) == "finished"
    hydra = yaml.safe_load(open(os.path.join("runs", "study", "runs", "t-split-s1", ".hydra", "config.yaml")))
    train_file, val_file = hydra["data"]["train_file_path"], hydra["data"]["val_file_path"]
    assert "split_dataset" not in hydra["data"] and train_file.endswith("_train.extxyz")
    assert not {a.info["parent"] for a in ase.io.iread(train_file)} & {a.info["parent"] for a in ase.io.iread(val_file)}
    assert read_card(model_path("t-split-s1", out))["study"]["split"] == "by parent"
    table = evaluate_study(study, study_dir=out, progress=False, cache_dir=str(tmp_path / "cache"))
    # the evaluation cache: the same inputs give the same tables without evaluating a run again …
    tables = {n: pd.read_parquet(os.path.join(out, f"{n}.parquet")) for n in ("emergence", "seed_spread", "quantity_spread")}

    def not_again(*args, **kwargs):
        raise AssertionError("evaluated again although its inputs are unchanged")

    monkeypatch.setattr("e3d.study.evaluate_run", not_again)
    pd.testing.assert_frame_equal(evaluate_study(study, study_dir=out, progress=False, cache_dir=str(tmp_path / "cache")),
                                  table)
    for name, before in tables.items():
        pd.testing.assert_frame_equal(pd.read_parquet(os.path.join(out, f"{name}.parquet")), before)
    # a card repackaged with hours an earlier packaging missed: the cached evaluation does not hide them
    from e3d.train import write_card

    card = read_card(model_path("t-eq-s1", out))
    card["study"]["training_hours"] += 1.0
    write_card(model_path("t-eq-s1", out), card)
    again = evaluate_study(study, study_dir=out, progress=False, cache_dir=str(tmp_path / "cache")).set_index("run_id")
    assert again.loc["t-eq-s1", "training_time_h"] == pytest.approx(table.set_index("run_id").loc[
        "t-eq-s1", "training_time_h"] + 1.0)
    # … and a changed input (a BDE row less) evaluates again
    pd.read_csv(tmp_path / "bde.csv").iloc[1:].to_csv(tmp_path / "bde.csv", index=False)
    with pytest.raises(AssertionError, match="evaluated again"):
        evaluate_study(study, study_dir=out, progress=False, cache_dir=str(tmp_path / "cache"))
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    assert list(table["run_id"]) == ["t-s1", "t-s2", "t-eq-s1", "t-ft-s1", "t-conv-s1", "t-split-s1"]
    assert table["finished"].tolist() == [True, True, False, True, True, True]
    assert table["converged"].tolist()[2:] == [False, False, True, False]
    assert table["init_from"].tolist() == ["", "", "", "t-s1", "", ""]
    assert table["split"].tolist() == ["frames"] * 5 + ["by parent"]
    assert (table["bde_n"] > 0).all() and table["d_vs_rigid_mae"].notna().all()
    assert table[["test_bias_eq_kcal_mol", "test_bias_radical_kcal_mol"]].notna().all().all()
    np.testing.assert_allclose(table["test_qm9_energy_mae_meV_atom"], table["test_energy_mae_meV_atom"], rtol=1e-3)
    np.testing.assert_allclose(table["test_qm9_forces_mae_eV_A"], table["test_forces_mae_eV_A"], rtol=1e-3)
    assert table.loc[2, "epochs"] >= 2  # the curve of both sessions
    # the bond-additive fit to the runs' own labels is kept beside the table (data files are not shipped)
    baseline = pd.read_parquet(os.path.join(out, "baseline.parquet"))
    assert set(baseline["dataset"]) == {"xtb_radicals_heldout_qm9-30.extxyz"} and "median_D_r2_vs_baseline" in table
    spread = pd.read_parquet(os.path.join(out, "seed_spread.parquet"))
    assert set(spread["group"]) == {"t"} and (spread["n_seeds"] == 2).all() and (spread["median_std"] > 0).all()
    agree = pd.read_parquet(os.path.join(out, "quantity_spread.parquet")).set_index("quantity")
    assert set(agree["group"]) == {"t"} and (agree["n_seeds"] == 2).all() and (agree["n"] > 0).all()
    assert {"E3D D_ij", "model's own rigid BDE (energy difference)"} <= set(agree.index)
    seed_mean = pd.read_parquet(os.path.join(out, "seed_mean.parquet")).set_index("group").loc["t"]
    # the seeds one by one on the rows they share: each run's own D_ij-vs-rigid MAE (same headline rows)
    assert seed_mean["n_seeds"] == 2 and seed_mean["n"] == table.loc[table["group"] == "t", "bde_n"].min()
    assert np.isclose(seed_mean["member_mae"], table.loc[table["group"] == "t", "d_vs_rigid_mae"].mean())
    assert np.isfinite(seed_mean["seed_mean_mae"])
    configurations = pd.read_parquet(os.path.join(out, "configurations.parquet")).set_index("group")
    assert np.isclose(configurations.loc["t", "d_vs_rigid_mae_mean"],
                      table.loc[table["group"] == "t", "d_vs_rigid_mae"].mean())
    assert set(configurations.index) == set(table["group"])
    scaling = pd.read_parquet(os.path.join(out, "scaling.parquet"))
    assert scaling["n_qm9"].tolist() == [30] and scaling["seeds"].tolist() == [2]
    assert np.isclose(scaling["d_vs_rigid_mae_mean"].iloc[0],
                      table.loc[table["group"] == "t", "d_vs_rigid_mae"].mean())
    assert np.isclose(scaling["test_bias_radical_kcal_mol_mean"].iloc[0],  # how the radical bias scales
                      table.loc[table["group"] == "t", "test_bias_radical_kcal_mol"].mean())
    assert np.isclose(scaling["test_qm9_energy_mae_meV_atom_mean"].iloc[0],
                      table.loc[table["group"] == "t", "test_qm9_energy_mae_meV_atom"].mean())
    assert os.path.exists(model_path("t-s1", out)) and os.path.exists(os.path.join(out, "curves.parquet"))


def test_converged_needs_learning_rate_cuts_and_a_plateau():
    from e3d.convergence import converged

    lr = [0.002] * 10 + [0.0012] * 10 + [0.00072] * 11  # the second cut's validation, then 10 more
    flat = pd.DataFrame({"epoch": range(31), "weighted_sum": np.r_[np.linspace(1.0, 0.5, 15), np.full(16, 0.5)],
                         "learning_rate": lr})
    assert converged(flat)
    assert not converged(flat.iloc[:30])  # 9 validations after the second cut: it has not yet shown what it buys
    assert converged(flat.assign(learning_rate=lr[:-1] + [np.nan]))  # a run's last row logs no rate: still the cut one
    assert not converged(flat.iloc[:22])  # flat for 10 validations, but the second cut was 2 validations ago
    assert not converged(flat.assign(learning_rate=0.002))  # at its first learning rate: still descending
    assert not converged(flat.assign(learning_rate=[0.002] * 20 + [0.0012] * 11))  # one cut is not enough
    falling = flat.assign(weighted_sum=np.linspace(1.0, 0.3, 31))  # 0.53 → 0.30 over the last 10: 43 % better
    assert not converged(falling) and converged(falling, rel_change=0.5)
    assert not converged(flat.iloc[:10])  # a curve no longer than the window


def test_gain_after_cut_compares_the_best_losses_around_a_cut():
    from e3d.convergence import gain_after_cut

    lr = [0.002] * 10 + [0.0012] * 10 + [0.00072] * 10
    loss = np.r_[np.linspace(1.0, 0.5, 20), np.full(10, 0.49)]  # best 0.5 before the second cut, 0.49 after
    curve = pd.DataFrame({"epoch": range(30), "weighted_sum": loss, "learning_rate": lr})
    assert gain_after_cut(curve) == pytest.approx(0.02)
    assert gain_after_cut(curve, cut=1) == pytest.approx((loss[9] - loss[10:20].min()) / loss[9])
    assert np.isnan(gain_after_cut(curve.iloc[:25]))  # 5 validations after the cut: not a full window
    assert np.isnan(gain_after_cut(curve, cut=3))  # no third cut


def test_lr_integral_weights_each_epochs_steps_by_the_rate_in_force():
    from e3d.convergence import lr_integral

    # validations every 10 steps; the rate recorded at step 20 (after the scheduler's cut) applies from step 21 on
    curve = pd.DataFrame({"epoch": range(4), "step": [10, 20, 30, 40], "learning_rate": [0.002, 0.001, 0.001, np.nan]})
    assert lr_integral(curve) == pytest.approx(10 * 0.002 + 10 * 0.002 + 10 * 0.001 + 10 * 0.001)
    assert lr_integral(curve.iloc[::-1]) == pytest.approx(lr_integral(curve))  # order of the rows does not matter
    assert np.isnan(lr_integral(curve.assign(learning_rate=np.nan)))  # no rate logged: unknown, not 0


def test_accuracy_vs_energy_error_fits_the_runs():
    from e3d.study import accuracy_vs_energy_error

    runs = pd.DataFrame({"test_energy_mae_meV_atom": [30.0, 40.0, 50.0, np.nan],
                         "budget_accuracy_mae": [10.0, 15.0, 20.0, 99.0]})  # 0.5 × E − 5; the NaN run is left out
    fit = accuracy_vs_energy_error(runs, target=6.0)
    assert fit["n"] == 3 and fit["r"] == pytest.approx(1.0)
    assert fit["slope"] == pytest.approx(0.5) and fit["intercept"] == pytest.approx(-5.0)
    assert fit["needed_meV_atom"] == pytest.approx(22.0) and fit["best_meV_atom"] == 30.0
    assert np.isnan(accuracy_vs_energy_error(runs.iloc[:2])["r"])  # two runs: no line


def test_seed_spread_counts_only_seeds_trained_alike():
    from e3d.study import seeds_alike

    runs = pd.DataFrame({"run_id": ["a-s1", "a-s2", "a-s3"], "steps_done": [120_000, 114_000, 25_000]})
    assert seeds_alike(runs) == ["a-s1", "a-s2"]  # the third seed is still catching up
    assert seeds_alike(runs.assign(steps_done=[120_000, 114_000, 95_000])) == ["a-s1", "a-s2", "a-s3"]
    # a seed the convergence test stopped early is trained alike
    assert seeds_alike(runs.assign(converged=[True, False, True])) == ["a-s1", "a-s2", "a-s3"]


def test_scaling_table_one_row_per_size_over_the_seeds_trained_alike():
    from e3d.study import scaling_table

    table = pd.DataFrame({
        "run_id": ["a-250-s1", "a-250-s2", "a-250-s3", "a-1k-s1", "a-1k-s2", "b-1k-s1"],
        "group": ["a-250", "a-250", "a-250", "a-1k", "a-1k", "b-1k"],
        "n_qm9": [250, 250, 250, 1000, 1000, 1000], "n_frames": [4000] * 3 + [12000] * 3,
        "steps_done": [30_000, 30_000, 5_000, 60_000, 58_000, 60_000],
        "converged": [True, False, False, True, True, True],
        "d_vs_rigid_mae": [20.0, 22.0, 99.0, 14.0, 16.0, 1.0], "d_vs_rigid_rho": [0.5, 0.7, 0.0, 0.8, 0.8, 1.0]})
    spread = pd.DataFrame({"group": ["a-250", "a-250", "a-250", "a-1k"], "bond_type": ["C-C", "C-H", "C#C", "C-C"],
                           "n": [50, 300, 1, 50], "median_std": [6.0, 4.0, 30.0, 2.0], "n_seeds": [2, 2, 2, 2]})
    out = scaling_table(table, spread, ["a-1k", "a-250", "a-4k"])  # a-4k: not run yet, no row
    assert out["n_qm9"].tolist() == [250, 1000] and out["seeds"].tolist() == [2, 2]  # a-250-s3 still catching up
    small, large = out.iloc[0], out.iloc[1]
    assert small["converged"] == 1 and small["d_vs_rigid_mae_mean"] == 21.0
    assert np.isclose(small["d_vs_rigid_mae_std"], np.sqrt(2.0)) and large["d_vs_rigid_rho_std"] == 0.0
    assert small["sigma_worst_type"] == "C-C" and small["sigma_worst"] == 6.0  # C#C: one bond, not counted
    assert small["sigma_median"] == 5.0 and large["sigma_worst"] == 2.0
    assert np.isnan(small["cut_vs_rigid_mae_mean"])  # a column the table lacks


def test_configuration_table_one_row_per_configuration_in_table_order():
    from e3d.study import configuration_table

    table = pd.DataFrame({
        "run_id": ["b-s1", "a-s1", "a-s2"], "group": ["b", "a", "a"], "r_max": [4.5, 3.0, 3.0],
        "kinds": ["eq", "radicals", "radicals"], "n_qm9": [250] * 3, "n_frames": [400, 4000, 4000],
        "steps_done": [9_000, 20_000, 19_000], "converged": [False, True, True], "epochs": [700, 150, 140],
        "d_vs_rigid_mae": [30.0, 14.0, 16.0]})
    out = configuration_table(table, pd.DataFrame())
    assert out["group"].tolist() == ["b", "a"] and out["seeds"].tolist() == [1, 2]
    b, a = out.iloc[0], out.iloc[1]
    assert (b["r_max"], b["kinds"], b["n_frames"]) == (4.5, "eq", 400) and b["converged"] == 0
    assert b["d_vs_rigid_mae_mean"] == 30.0 and np.isnan(b["d_vs_rigid_mae_std"])  # one seed: no spread
    assert a["epochs_mean"] == 145.0 and np.isclose(a["d_vs_rigid_mae_std"], np.sqrt(2.0))
    assert a["sigma_worst_type"] is None and a["sigma_seeds"] == 0  # no seed-spread table


def test_configurations_markdown_has_one_cell_per_header_column():
    from e3d.report import configurations_markdown
    from e3d.study import configuration_table

    table = pd.DataFrame({
        "run_id": ["a-s1", "a-s2"], "group": ["a", "a"], "r_max": [3.0] * 2, "kinds": ["radicals"] * 2,
        "n_qm9": [250] * 2, "n_frames": [4000] * 2, "steps_done": [20_000] * 2, "converged": [True] * 2,
        "d_vs_rigid_mae": [14.0, 16.0], "d_plus_gap_vs_rigid_mae": [9.0, 11.0], "training_time_h": [0.25, 0.35]})
    lines = [line for line in configurations_markdown(configuration_table(table, pd.DataFrame())).splitlines()
             if line.startswith("|")]
    header, rule, row = lines
    assert header.count("|") == rule.count("|") == row.count("|")
    cells = dict(zip([h.strip() for h in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["D_ij vs rigid: MAE"] == "15.0 ± 1.4" and cells["D_ij + G/n vs rigid: MAE"] == "10.0 ± 1.4"
    assert cells["cut vs rigid: MAE"] == "–" and cells["training (h)"] == "0.30 ± 0.07"


def test_study_config_scaling_names_known_configurations(tmp_path):
    from e3d.errors import E3DError
    from e3d.study import load_study

    config = tmp_path / "s.yaml"
    config.write_text("base_config: c.yaml\ndata: {}\nscaling: [a-250, a-1k]\n"
                      "runs:\n  - {id: a-250-s1, n_qm9: 250, steps: 10}\n")
    with pytest.raises(E3DError, match="scaling names configurations no run belongs to: a-1k"):
        load_study(str(config))


@pytest.mark.parametrize("text, message", [
    (": : :\n", "not valid YAML"), ("- a\n- b\n", "must be a mapping"),
    ("base_config: c.yaml\ndata: {}\nruns: [1, 2]\n", "runs must be a list of mappings, each with an id")])
def test_a_malformed_study_config_is_a_named_error(tmp_path, text, message):
    """Used to end in a YAML ParserError or TypeError traceback from `e3d study`."""
    from e3d.errors import E3DError
    from e3d.study import load_study

    config = tmp_path / "s.yaml"
    config.write_text(text)
    with pytest.raises(E3DError, match=message):
        load_study(str(config))


def test_study_run_config_is_its_own_or_the_studys(tmp_path):
    from e3d.errors import E3DError
    from e3d.study import load_study, run_config

    config = tmp_path / "s.yaml"
    config.write_text("base_config: configs/emergence.yaml\ndata: {}\nruns:\n"
                      "  - {id: a-s1, n_qm9: 250, steps: 10}\n"
                      "  - {id: p-s1, n_qm9: 250, steps: 10, config: configs/emergence_edge_prior.yaml}\n")
    study = load_study(str(config))
    assert [os.path.relpath(run_config(study, r), ROOT) for r in study["runs"]] == [
        os.path.join("configs", "emergence.yaml"), os.path.join("configs", "emergence_edge_prior.yaml")]
    config.write_text("base_config: c.yaml\ndata: {}\nruns:\n  - {id: p-s1, n_qm9: 250, steps: 10, config: no.yaml}\n")
    with pytest.raises(E3DError, match="run p-s1: config no.yaml not found"):
        load_study(str(config))


def test_library_train_run_normalises_its_wall_time_and_refuses_a_bad_one_first(tmp_path):
    """The CLI's --time rule holds for library callers too: a bad budget fails before any data or training."""
    from e3d.errors import E3DError
    from e3d.study import load_study, train_run
    from e3d.train import wall_time

    assert wall_time("00:00:120:00") == "00:02:00:00" and wall_time("36:00:00") == "01:12:00:00"
    config = tmp_path / "s.yaml"
    config.write_text("base_config: configs/emergence.yaml\ndata: {dir: d}\nruns:\n  - {id: a-s1, n_qm9: 250, steps: 10}\n")
    study = load_study(str(config))
    with pytest.raises(E3DError, match="'2h' is not a wall time"):
        train_run(study, study["runs"][0], max_time="2h", study_dir=str(tmp_path / "study"), progress=False)
    assert not (tmp_path / "study").exists()


def test_training_refuses_a_missing_held_out_test_set_before_any_training(tmp_path, monkeypatch):
    """nequip tests every run at its end: a missing test file must stop the study before any training (its data are
    built first: a study may test on a set it builds; session 26 lost the test step of two 20,000-step runs to it)."""
    from e3d.errors import E3DError
    from e3d.study import load_study, train_runs

    config = tmp_path / "s.yaml"
    config.write_text(f"base_config: configs/emergence.yaml\ndata: {{dir: {tmp_path / 'd'}, test: {tmp_path / 'no.extxyz'}}}\n"
                      "runs:\n  - {id: a-s1, n_qm9: 250, steps: 10}\n")
    study = load_study(str(config))
    monkeypatch.setattr("e3d.study.prepare_data", lambda *a, **k: str(tmp_path / "d" / "built.extxyz"))  # no labelling
    with pytest.raises(E3DError, match="held-out test set .*no.extxyz is missing"):
        train_runs(study, study["runs"], study_dir=str(tmp_path / "study"), progress=False)
    assert not (tmp_path / "study").exists()  # nothing trained


def test_study_config_refuses_an_unknown_split_and_repeats_without_a_parent_split(tmp_path):
    from e3d.errors import E3DError
    from e3d.study import load_study, run_overrides, split_files, trained_frames

    config = tmp_path / "s.yaml"
    head = "base_config: configs/emergence.yaml\ndata: {test: t.extxyz, dir: d}\nruns:\n"
    config.write_text(head + "  - {id: a-s1, n_qm9: 250, steps: 10, split: molecules}\n")
    with pytest.raises(E3DError, match="run a-s1: split must be one of frames, parent"):
        load_study(str(config))
    config.write_text(head + "  - {id: a-s1, n_qm9: 250, steps: 10, curated_repeats: 4}\n")
    with pytest.raises(E3DError, match="run a-s1: curated_repeats needs split: parent"):
        load_study(str(config))
    config.write_text(head + "  - {id: a-s1, n_qm9: 250, steps: 10, split: parent, curated_repeats: 4}\n"
                             "  - {id: b-s1, n_qm9: 250, steps: 10}\n")
    study = load_study(str(config))
    train, val = split_files(study, study["runs"][0])
    assert train == os.path.join("d", "xtb_radicals_heldout_qm9-250_by-parent-s0-val10_curated-x4_train.extxyz")
    assert val == os.path.join("d", "xtb_radicals_heldout_qm9-250_by-parent-s0-val10_val.extxyz")
    overrides = run_overrides(study, study["runs"][0], "d/x.extxyz")
    assert {"~data.split_dataset", f"+data.train_file_path={train}", f"+data.val_file_path={val}"} <= set(overrides)
    assert split_files(study, study["runs"][1]) is None
    assert trained_frames(study, study["runs"][0]) == train  # the in-sample error: frames it trained on
    assert trained_frames(study, study["runs"][1]) == os.path.join("d", "xtb_radicals_heldout_qm9-250.extxyz")
    assert not any("split" in o or "file_path" in o for o in run_overrides(study, study["runs"][1], "d/x.extxyz"))


def test_in_sample_errors_are_kept_only_for_the_same_weights():
    """Without its data file a run's in-sample error is NaN; the previous table's value stands in only where
    the run is at the same step count (a run trained on since then has other weights)."""
    from e3d.study import kept_in_sample

    previous = pd.DataFrame({"run_id": ["a", "b", "c"], "steps_done": [10, 20, 30],
                             "train_energy_mae_meV_atom": [1.0, 2.0, 3.0], "train_forces_mae_eV_A": [0.1, 0.2, 0.3]})
    table = pd.DataFrame({"run_id": ["a", "b", "c", "d"], "steps_done": [10, 25, 30, 5],
                          "train_energy_mae_meV_atom": [np.nan, np.nan, 9.0, np.nan],
                          "train_forces_mae_eV_A": [np.nan, np.nan, 0.9, np.nan]})
    out = kept_in_sample(table, previous)
    assert out["train_energy_mae_meV_atom"].tolist()[0] == 1.0 and out["train_forces_mae_eV_A"].tolist()[0] == 0.1
    assert np.isnan(out["train_energy_mae_meV_atom"][1])  # trained on: not the same model
    assert out["train_energy_mae_meV_atom"][2] == 9.0  # measured now: kept as measured
    assert np.isnan(out["train_energy_mae_meV_atom"][3])  # new run
    pd.testing.assert_frame_equal(kept_in_sample(table, None), table)


def test_packaged_curve_stops_at_the_packaged_model(tmp_path):
    """A run stopped by hand after it was packaged has logged epochs beyond the packaged model: the study row and
    curve read only the epochs up to the model's steps_done (the card's copy merged with the run folder's log)."""
    from e3d.study import packaged_curve

    log = tmp_path / "csv" / "version_0"
    log.mkdir(parents=True)
    rows = [{"epoch": e, "step": 10 * (e + 1), "val0_epoch/weighted_sum": 1.0 / (e + 1)} for e in range(5)]
    pd.DataFrame(rows).to_csv(log / "metrics.csv", index=False)
    kept = [{"epoch": e, "step": 10 * (e + 1), "weighted_sum": 1.0 / (e + 1)} for e in range(4)]
    kept[3]["step"] = 31  # the packaged model's last epoch; resumed, the run logged epoch 3 again at step 40
    card = {"study": {"steps_done": 31, "curve": kept}}
    curve = packaged_curve(card, str(tmp_path))
    assert curve["epoch"].tolist() == [0, 1, 2, 3] and curve["step"].tolist() == [10, 20, 30, 31]
    assert len(packaged_curve({"study": {"curve": kept}}, str(tmp_path))) == 5  # no steps recorded: all of it
    assert packaged_curve(card, str(tmp_path / "gone"))["epoch"].tolist() == [0, 1, 2, 3]  # runs/ gone: the card's
