"""Data generation → training → packaging → card → E3D, end to end at tiny scale (real nequip)."""

import json
import os
import shutil

import ase.io
import pytest

from e3d.cli import main
from e3d.data.build import build_xtb_dataset
from e3d.data.xtb import isolated_atom_energies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_xtb_dataset_variants_and_provenance(tmp_path):
    corpus = [("ethanol", "CCO"), ("methylamine", "CN")]
    prov = build_xtb_dataset(corpus, str(tmp_path / "d.extxyz"), variant="radicals", seed=5,
                             n_thermal=2, n_stretch=1, n_radical_bonds=1, progress=False)
    assert set(prov["frames_by_kind"]) == {"eq", "thermal", "stretch", "radical"}
    assert prov["labels"]["method"] == "GFN2-xTB" and prov["failures"] == []
    eq = build_xtb_dataset(corpus, str(tmp_path / "e.extxyz"), variant="eq", seed=5, progress=False)
    assert eq["frames_by_kind"] == {"eq": 2}
    # same seed, same data
    again = build_xtb_dataset(corpus, str(tmp_path / "d2.extxyz"), variant="radicals", seed=5,
                              n_thermal=2, n_stretch=1, n_radical_bonds=1, progress=False)
    assert open(tmp_path / "d.extxyz").read() == open(tmp_path / "d2.extxyz").read()
    assert again["n_frames"] == prov["n_frames"]


def test_evaluate_reports_errors_per_frame_kind(tmp_path, tiny_model):
    import ase.io
    import numpy as np

    from e3d.calculator import E3DCalculator
    from e3d.evaluate import evaluate

    path = str(tmp_path / "d.extxyz")
    build_xtb_dataset([("ethanol", "CCO"), ("methylamine", "CN")], path, variant="radicals", seed=5,
                      n_thermal=2, n_stretch=1, n_radical_bonds=1, progress=False)
    result = evaluate(tiny_model, path, batch_size=3)
    frames = list(ase.io.iread(path))
    calc = E3DCalculator(tiny_model)  # a second route to the model's energies: one frame at a time
    errors = {}
    for atoms in frames:
        label = atoms.get_potential_energy()
        errors.setdefault(atoms.info["kind"], []).append(calc.get_potential_energy(atoms) - label)
    assert set(errors) == {"eq", "thermal", "stretch", "radical"} and result["n_frames"] == len(frames)
    for kind, err in errors.items():
        assert result[f"{kind}_energy_bias"] == pytest.approx(np.mean(err), abs=1e-5)
        assert result[f"{kind}_energy_mae"] == pytest.approx(np.mean(np.abs(err)), abs=1e-5)
    assert result["total_energy_mae"] == pytest.approx(np.mean(np.abs(np.concatenate(list(errors.values())))), abs=1e-5)
    # a sample: every 3rd frame (of the first 10)
    sample = evaluate(tiny_model, path, batch_size=3, limit=10, every=3)
    first = [calc.get_potential_energy(a) - a.get_potential_energy() for a in frames[:10:3]]
    assert sample["n_frames"] == 4 and sample["total_energy_mae"] == pytest.approx(np.mean(np.abs(first)), abs=1e-5)


@pytest.mark.parametrize("text, overrides, message", [
    (": : :\n", [], "cannot compose the config"), ("a: 1\n", [], "not a nequip training config"),
    (None, ["training_module.nothing=3"], "Could not override 'training_module.nothing'")])
def test_a_malformed_training_config_or_override_is_a_named_error(tmp_path, text, overrides, message):
    """`e3d train` on a broken config or a misspelt override: a message naming the config, not a Hydra traceback."""
    from e3d.errors import E3DError
    from e3d.train import load_config

    config = os.path.join(ROOT, "configs", "tiny.yaml")
    if text is not None:
        config = str(tmp_path / "c.yaml")
        open(config, "w").write(text)
    with pytest.raises(E3DError, match=message):
        load_config(config, overrides)


def test_a_learning_rate_that_can_reach_its_floor_early_is_flagged():
    """The plateau scheduler counts epochs: on the 571 DFT frames (17 steps an epoch) patience 8 lets the rate
    reach its floor in 1,530 steps of a 20,000-step fine-tune (it did, by 2,975); patience 80 or a large set do not."""
    from e3d.train import load_config, lr_floor_note, steps_to_lr_floor

    finetune = ["trainval_file=precomputed/labels/dft_radicals_train-small_trainval.extxyz", "++trainer.max_steps=20000",
                "training_module.optimizer.lr=0.0012"]
    config = load_config("configs/emergence.yaml", finetune)
    assert steps_to_lr_floor(config, 571) == 10 * 9 * 17  # 10 cuts of 0.6 from 1.2e-3 to 1e-5, 9 epochs each
    note = lr_floor_note(config, 571)
    assert note and "1,530 of the run's 20,000 steps" in note and "patience (≥ 58" in note
    assert lr_floor_note(load_config("configs/emergence.yaml",
                                     finetune + ["training_module.lr_scheduler.scheduler.patience=80"]), 571) is None
    assert lr_floor_note(load_config("configs/emergence.yaml"), 43336) is None  # the 4k study runs
    assert lr_floor_note(load_config("configs/xtb_radicals.yaml"), 571) is None  # capped by epochs, not steps


def test_sets_of_one_labeller_combine_despite_scf_noise_in_their_atoms(tmp_path):
    """The two shipped B3LYP/def2-SVP sets were built in different sessions: their isolated atoms differ by
    ~1e-5 eV (SCF noise) and still combine; atoms of another labeller are refused by name."""
    import json
    import shutil

    import ase.io

    from e3d.data.build import combine_frames
    from e3d.errors import E3DError

    parts = []
    for name in ("dft_radicals_train-small_trainval", "dft_radicals_train-heavy4_trainval"):
        src, dst = f"precomputed/labels/{name}.extxyz", str(tmp_path / f"{name}.extxyz")
        ase.io.write(dst, list(ase.io.iread(src, index=":3")), format="extxyz")
        shutil.copy(src + ".json", dst + ".json")
        parts.append(dst)
    atoms = [json.load(open(p + ".json"))["isolated_atom_energies_eV"] for p in parts]
    assert atoms[0] != atoms[1] and max(abs(atoms[0][e] - atoms[1][e]) for e in atoms[0]) < 1e-4
    prov = combine_frames(parts, str(tmp_path / "both.extxyz"))
    assert prov["n_frames"] == 6 and len(list(ase.io.iread(tmp_path / "both.extxyz"))) == 6
    assert prov["isolated_atom_energies_eV"] == atoms[0]
    other = json.load(open(parts[1] + ".json"))
    other["isolated_atom_energies_eV"]["C"] -= 0.5  # another labeller's carbon
    json.dump(other, open(parts[1] + ".json", "w"))
    with pytest.raises(E3DError, match="different isolated-atom energies"):
        combine_frames(parts, str(tmp_path / "refused.extxyz"))


def test_interrupted_build_resumes_to_the_same_dataset_and_keeps_failures(tmp_path):
    import ase.io

    corpus = [("ethanol", "CCO"), ("broken", "C1CC"), ("methylamine", "CN")]
    kwargs = dict(variant="radicals", seed=5, n_thermal=2, n_stretch=1, n_radical_bonds=1, progress=False)
    full = build_xtb_dataset(corpus, str(tmp_path / "full.extxyz"), **kwargs)
    frames = ase.io.read(tmp_path / "full.extxyz", index=":")
    assert [f["smiles"] for f in full["failures"]] == ["C1CC"] and full["n_frames"] == len(frames)
    cut = str(tmp_path / "cut.extxyz")
    ase.io.write(cut, frames[:5], format="extxyz")  # as if killed after five frames
    resumed = build_xtb_dataset(corpus, cut, resume=True, **kwargs)
    assert open(cut).read() == open(tmp_path / "full.extxyz").read()
    assert resumed["frames_by_kind"] == full["frames_by_kind"] and resumed["failures"] == full["failures"]


def test_isolated_atoms_are_spin_polarised():
    """The shifts μ are spin-polarised ground-state atoms: below the same atoms without spin polarisation
    (tblite, same multiplicity), by about 1 eV for H and C."""
    import numpy as np
    from tblite.interface import Calculator

    from e3d.data import xtb
    from e3d.units import EV_PER_HARTREE, KELVIN_PER_HARTREE

    ref = isolated_atom_energies(["H", "C"])
    for el, z, unpaired in (("H", 1, 1), ("C", 6, 2)):
        plain = Calculator(xtb.METHOD, np.array([z]), np.zeros((1, 3)), uhf=unpaired)
        plain.set("verbosity", 0)
        plain.set("temperature", xtb.ELECTRONIC_TEMPERATURE_K / KELVIN_PER_HARTREE)
        unpolarised = float(plain.singlepoint().get("energy")) * EV_PER_HARTREE
        assert 0.5 < unpolarised - ref[el] < 2.0, (el, ref[el], unpolarised)


@pytest.mark.slow
def test_train_package_card_and_bonds(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    data = tmp_path / "data"
    for name, corpus in (("tiny_trainval", "train"), ("tiny_test", "eval")):
        assert main(["data", "xtb", "--corpus", corpus, "--limit", "3", "--variant", "thermal",
                     "--n-thermal", "6", "--out", str(data / f"{name}.extxyz")]) == 0
    out = tmp_path / "m.nequip.zip"
    rc = main(["train", "configs/tiny.yaml", f"data_dir={data}", "trainer.max_epochs=1",
               "--run-dir", str(tmp_path / "run"), "--out", str(out), "--id", "pytest-tiny"])
    assert rc == 0
    card = json.load(open(tmp_path / "m.card.json"))
    assert card["id"] == "pytest-tiny"
    assert card["level_of_theory"] == "GFN2-xTB"
    assert card["energy_shifts"]["isolated_atoms"] is True
    assert card["metrics"]["epochs"] == 1
    assert "per_atom_energy_mae" in card["metrics"]["test"]
    capsys.readouterr()
    assert main(["bonds", "CC", "--model", str(out), "-o", str(tmp_path / "b.csv")]) == 0
    # the first 3 corpus molecules hold only H and C: other elements have no statistics
    assert main(["bonds", "CCO", "--model", str(out)]) == 2
    assert "O not supported by this model (it knows H, C)" in capsys.readouterr().err
    assert main(["info", "--model", str(out)]) == 0
    assert "pytest-tiny" in capsys.readouterr().out
    # the same run folder again: refused without --resume (a stale best.ckpt would be packaged) …
    again = ["train", "configs/tiny.yaml", f"data_dir={data}", "trainer.max_epochs=2",
             "--run-dir", str(tmp_path / "run"), "--out", str(out)]
    assert main(again) == 2
    assert "earlier run" in capsys.readouterr().err
    # … and continued with it, from the last checkpoint
    assert main([*again, "--resume"]) == 0
    assert json.load(open(tmp_path / "m.card.json"))["metrics"]["epochs"] == 2
    # … also from another folder (a copy, a later session's checkout): best.ckpt itself is renewed, never a
    # best-v1.ckpt beside a stale one that would be packaged
    import shutil
    import time

    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "run", moved)
    started = time.time()
    assert main(["train", "configs/tiny.yaml", f"data_dir={data}", "trainer.max_epochs=3", "--run-dir", str(moved),
                 "--out", str(out), "--resume"]) == 0
    assert not list(moved.glob("best-v*.ckpt")) and os.path.getmtime(moved / "best.ckpt") > started


@pytest.mark.slow
def test_qm9_nested_subsets_and_energy_only_training(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = tmp_path / "qm9"
    assert main(["data", "qm9", "--limit", "300", "--sizes", "50,100", "--out", str(data)]) == 0
    small = open(data / "qm9_H298_train50.extxyz").read().split("\n")
    big = open(data / "qm9_H298_train100.extxyz").read()
    assert "\n".join(small[:40]) in big  # nested: the small set is the start of the big one
    prov = json.load(open(data / "qm9_H298_train100.extxyz.json"))
    assert prov["labels"]["target"] == "H298" and prov["n_frames"] == 100
    # H298 atom references in eV (QM9 atomref, hartree × 27.211386)
    assert prov["isolated_atom_energies_eV"]["H"] == pytest.approx(-0.497912 * 27.211386246, abs=1e-6)
    out = tmp_path / "q.nequip.zip"
    assert main(["train", "configs/qm9_h298.yaml", f"data_dir={data}", "n_train=100", "trainer.max_epochs=1",
                 "--run-dir", str(tmp_path / "run"), "--out", str(out)]) == 0
    card = json.load(open(tmp_path / "q.card.json"))
    assert card["level_of_theory"] == "B3LYP/6-31G(2df,p)" and card["energy_shifts"]["isolated_atoms"]
    assert "forces_mae" not in card["metrics"]["test"]
    assert main(["bonds", "CC", "--model", str(out)]) == 0
    # an energy-only model has untrained gradients: its BDEs are taken at the GFN2-xTB minimum
    import pandas as pd

    from e3d.bde import ENTHALPY_298, XTB_MINIMUM, bde_table
    from e3d.model import load_model

    rows = pd.DataFrame({"label": ["CH3-H"], "parent_smiles": ["C"], "fragment_a": ["[CH3]"], "fragment_b": ["[H]"]})
    bde = bde_table(load_model(str(out), device="cpu"), rows, reference=None, progress=False)
    assert bde["error"].isna().all() and bde.loc[0, "geometry"] == XTB_MINIMUM
    assert bde.loc[0, "quantity"] == ENTHALPY_298


@pytest.mark.slow
def test_finetune_switches_the_shifts_and_starts_from_the_trained_model(tmp_path, monkeypatch):
    """e3d train --init-from: a shipped (tiny) model fine-tuned on a dataset whose isolated atoms differ
    (here: the xTB atoms moved by +1 eV, as a DFT set's would differ): the new model carries the new
    shifts, its card says where it started, and its sum rule holds."""
    import torch

    import e3d
    from e3d.model import load_model

    monkeypatch.chdir(ROOT)
    data = tmp_path / "data"
    assert main(["data", "xtb", "--corpus", "train", "--limit", "3", "--variant", "thermal", "--n-thermal", "6",
                 "--out", str(data / "tiny_trainval.extxyz")]) == 0
    prov_path = data / "tiny_trainval.extxyz.json"
    prov = json.load(open(prov_path))
    moved = {t: v + 1.0 for t, v in prov["isolated_atom_energies_eV"].items()}
    prov["isolated_atom_energies_eV"] = moved
    json.dump(prov, open(prov_path, "w"))
    out = tmp_path / "tuned.nequip.zip"
    rc = main(["train", "configs/tiny.yaml", f"data_dir={data}", f"test_file={data / 'tiny_trainval.extxyz'}",
               "trainer.max_epochs=1", "--run-dir", str(tmp_path / "run"), "--out", str(out),
               "--init-from", "tests/models/tiny_allegro.nequip.zip"])
    assert rc == 0
    card = json.load(open(tmp_path / "tuned.card.json"))
    assert card["finetuned_from"] == "tests/models/tiny_allegro.nequip.zip"
    assert card["energy_shifts"]["isolated_atoms"] is True and card["energy_shifts"]["values_eV"] == moved
    tuned, base = load_model(str(out)), load_model("tests/models/tiny_allegro.nequip.zip")
    for t, v in moved.items():
        assert tuned.shifts[tuned.type_names.index(t)] == pytest.approx(v)
        assert tuned.shifts[tuned.type_names.index(t)] == pytest.approx(base.shifts[base.type_names.index(t)] + 1.0)
    (r,) = e3d.edge_energies(tuned, [e3d.from_smiles("CC")])
    assert abs(r.residual) < 1e-6
    # fresh_readout=true (e3d/fresh_readout.py): the same fine-tune, its edge readout re-drawn at the first step
    fresh_out = tmp_path / "fresh.nequip.zip"
    assert main(["train", "configs/tiny.yaml", f"data_dir={data}", f"test_file={data / 'tiny_trainval.extxyz'}",
                 "trainer.max_epochs=1", "fresh_readout=true", "--run-dir", str(tmp_path / "fresh"),
                 "--out", str(fresh_out), "--init-from", "tests/models/tiny_allegro.nequip.zip"]) == 0
    weights = lambda m, readout: torch.cat([p.detach().flatten() for n, p in m.module.named_parameters()  # noqa: E731
                                            if ("edge_readout" in n) == readout])
    fresh = load_model(str(fresh_out))
    for model, kept in ((tuned, True), (fresh, False)):  # one epoch moves a kept readout little, a re-drawn one is new
        r = torch.corrcoef(torch.stack([weights(model, True), weights(base, True)]))[0, 1].item()
        assert (r > 0.9) if kept else (abs(r) < 0.5)
        assert torch.corrcoef(torch.stack([weights(model, False), weights(base, False)]))[0, 1].item() > 0.9
    (r,) = e3d.edge_energies(fresh, [e3d.from_smiles("CC")])
    assert abs(r.residual) < 1e-6


def test_read_metrics_drops_a_stale_test_pass(tmp_path):
    """A resumed run's first session ended with a test pass; the second trained on and was stopped before
    its own: the card must not carry the first session's test errors as the model's."""
    import pandas as pd

    from e3d.train import read_metrics

    def log(version, rows):
        folder = tmp_path / "csv" / f"version_{version}"
        folder.mkdir(parents=True)
        pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)

    log(0, [{"epoch": 0, "step": 100, "val0_epoch/forces_mae": 0.3},
            {"epoch": 0, "step": 100, "test0_epoch/forces_mae": 0.31}])
    log(1, [{"epoch": 1, "step": 200, "val0_epoch/forces_mae": 0.2}])
    metrics = read_metrics(str(tmp_path))
    assert "test" not in metrics and metrics["validation"]["forces_mae"] == 0.2 and metrics["epochs"] == 2
    log(2, [{"epoch": 1, "step": 200, "test0_epoch/forces_mae": 0.21}])  # its own test pass, after the last epoch
    assert read_metrics(str(tmp_path))["test"] == {"forces_mae": 0.21}


def test_cached_dataset_gives_nequips_frames_and_keeps_them(tmp_path):
    """The training data module builds each frame's neighbour list once: the frames are nequip's own
    (every key, every value), a second epoch reuses them, and a caller's changes do not reach the cache."""
    import torch
    from nequip.data.dataset import ASEDataset
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    from e3d.data.cached import CachedASEDataModule, CachedASEDataset

    path = str(tmp_path / "d.extxyz")
    build_xtb_dataset([("ethanol", "CCO"), ("methylamine", "CN")], path, variant="radicals", seed=5,
                      n_thermal=2, n_stretch=1, n_radical_bonds=1, progress=False)
    names = ["H", "C", "N", "O"]
    transforms = [ChemicalSpeciesToAtomTypeMapper(model_type_names=names,
                                                  chemical_species_to_atom_type_map={n: n for n in names}),
                  NeighborListTransform(r_max=3.0)]
    plain, cached = ASEDataset(path, transforms=transforms), CachedASEDataset(path, transforms=transforms)
    assert len(plain) == len(cached) > 5
    for _ in range(2):  # first pass builds, second pass reads the kept frames
        for a, b in zip(plain[list(range(len(plain)))], cached[list(range(len(cached)))]):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len(cached._done) == len(cached)
    frame = cached[0]
    frame["extra"] = torch.zeros(1)
    assert "extra" not in cached[0]

    module = CachedASEDataModule(seed=1, split_dataset={"file_path": path, "train": 0.8, "val": 0.2},
                                 test_file_path=path, transforms=transforms)
    module.setup("fit")
    module.setup("test")
    for subset in (module.train_dataset[0], module.val_dataset[0]):
        assert isinstance(subset.dataset, CachedASEDataset)
    assert isinstance(module.test_dataset[0], CachedASEDataset)


def test_training_split_is_nequips_own(tmp_path, monkeypatch):
    """The train/validation frames a model's card implies (config, overrides, seed) are those nequip's data module
    draws for that run; a run without a random split (no card config) has none."""
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper

    from e3d.cards import read_card
    from e3d.data.cached import CachedASEDataModule
    from e3d.train import load_config, training_split

    monkeypatch.chdir(tmp_path)  # the card names its config relative to the repository, wherever this runs
    path = str(tmp_path / "d.extxyz")
    build_xtb_dataset([("ethanol", "CCO"), ("methylamine", "CN")], path, variant="radicals", seed=5,
                      n_thermal=4, n_stretch=2, n_radical_bonds=1, progress=False)
    n = len(ase.io.read(path, index=":"))
    card = {**read_card(os.path.join(ROOT, "tests", "models", "tiny_allegro.nequip.zip")),
            "overrides": ["seed=3", f"trainval_file={path}"]}
    file_path, sides = training_split(card, n)
    assert file_path == path and sorted(sides["train"] + sides["val"]) == list(range(n)) and 0 < len(sides["val"]) < n
    split = load_config(os.path.join(ROOT, card["config"]), card["overrides"])["data"]["split_dataset"]
    names = ["H", "C", "N", "O"]
    module = CachedASEDataModule(seed=3, split_dataset={**split, "file_path": path}, transforms=[
        ChemicalSpeciesToAtomTypeMapper(model_type_names=names, chemical_species_to_atom_type_map={n: n for n in names})])
    module.setup("fit")
    assert list(module.train_dataset[0].indices) == sides["train"] and list(module.val_dataset[0].indices) == sides["val"]
    assert training_split({**card, "overrides": ["seed=4", f"trainval_file={path}"]}, n)[1]["val"] != sides["val"]
    assert training_split({"id": "no-config"}, n) is None


def test_edge_prior_targets_non_bonded_edges_only(tmp_path):
    """The edge prior's transform: on a real frame's neighbour list, target 0 on every edge between atoms
    farther apart than 1.2 × their covalent radii, NaN (no target) on the bonds; one value per edge."""
    import torch
    from nequip.data import AtomicDataDict
    from nequip.data.dataset import ASEDataset
    from nequip.data.transforms import ChemicalSpeciesToAtomTypeMapper, NeighborListTransform

    from e3d.data.edge_prior import NonbondedEdgeTarget

    path = str(tmp_path / "d.extxyz")
    build_xtb_dataset([("ethanol", "CCO")], path, variant="eq", seed=5, progress=False)
    names = ["H", "C", "N", "O"]
    frame = ASEDataset(path, transforms=[
        ChemicalSpeciesToAtomTypeMapper(model_type_names=names, chemical_species_to_atom_type_map={n: n for n in names}),
        NeighborListTransform(r_max=3.0), NonbondedEdgeTarget(type_names=names)])[0]
    i, j = frame[AtomicDataDict.EDGE_INDEX_KEY]
    target = frame[AtomicDataDict.EDGE_ENERGY_KEY]
    assert target.shape == (len(i), 1)
    bonded = torch.isnan(target[:, 0])
    assert int(bonded.sum()) == 2 * 8  # ethanol's 8 bonds, both directions
    assert torch.all(target[~bonded] == 0) and int((~bonded).sum()) > 16
    r = torch.linalg.norm(frame[AtomicDataDict.POSITIONS_KEY][j] - frame[AtomicDataDict.POSITIONS_KEY][i], dim=-1)
    assert float(r[bonded].max()) < 1.6 < float(r[~bonded].min())  # C–C 1.5 Å bonded, geminal H···H 1.75 Å not


@pytest.mark.slow
def test_edge_prior_pulls_non_bonded_pairs_towards_zero(tmp_path, monkeypatch):
    """Two tiny models, same data, seed and epochs, one with the edge prior's loss term strong: its
    non-bonded pairs carry less energy (mean |ε_ij| over the training molecules' non-bonded pairs)."""
    import pandas as pd

    from e3d import edge_energies, from_smiles
    from e3d.model import load_model
    from e3d.pairs import pairs_for_molecules

    monkeypatch.chdir(ROOT)
    data = tmp_path / "data"
    for name, corpus in (("tiny_trainval", "train"), ("tiny_test", "eval")):
        assert main(["data", "xtb", "--corpus", corpus, "--limit", "4", "--variant", "thermal",
                     "--n-thermal", "6", "--out", str(data / f"{name}.extxyz")]) == 0
    mols = [from_smiles(s) for s in ("CC", "C=C", "CCC", "C1CC1")]
    nonbonded = {}
    for coeff in (0, 30):
        out = tmp_path / f"m{coeff}.nequip.zip"
        assert main(["train", "configs/tiny_edge_prior.yaml", f"data_dir={data}", "trainer.max_epochs=25",
                     f"edge_prior_coeff={coeff}", "--run-dir", str(tmp_path / f"run{coeff}"), "--out", str(out)]) == 0
        pairs = pairs_for_molecules(edge_energies(load_model(str(out), device="cpu"), mols))
        nonbonded[coeff] = float(pairs.loc[~pairs["bonded"], "eps_ij"].abs().mean())
        logged = pd.concat(pd.read_csv(f) for f in (tmp_path / f"run{coeff}").glob("csv/*/metrics.csv"))
        assert "train_loss_epoch/nonbonded_edge_energy_mse" in logged
    assert nonbonded[30] < 0.5 * nonbonded[0], nonbonded


def test_locality_cut_separates_two_fragments_and_skips_rings():
    """One bond per molecule cut at the parent geometry: in ethanol the kept edges leave exactly two
    connected pieces and the cut edges are every edge between them (both directions); a ring of six
    carbons (every bond in the ring) gets no cut."""
    import numpy as np
    import torch
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from e3d import from_smiles
    from e3d.data.edge_prior import bonded_edges, covalent_radii_of
    from e3d.data.locality import cut_one_bond_each

    ethanol = from_smiles("CCO").positions
    ring = 1.4 * np.array([[np.cos(a), np.sin(a), 0.0] for a in np.arange(6) * np.pi / 3])
    pos = np.concatenate([ethanol, ring + 20.0])
    n = len(pos)
    graph_of_atom = np.repeat([0, 1], [len(ethanol), 6])
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    src, dst = np.nonzero((d < 3.0) & (d > 0))
    names = ["H", "C", "O"]
    types = np.array([names.index(s) for s in from_smiles("CCO").symbols] + [1] * 6)
    data = {"edge_index": torch.as_tensor(np.stack([src, dst])), "pos": torch.as_tensor(pos),
            "atom_types": torch.as_tensor(types)}
    bonded = bonded_edges(data, covalent_radii_of(names)).numpy()
    assert bonded.sum() == 2 * (8 + 6)
    for seed in range(8):  # different bonds of ethanol
        cross, cut_graph = cut_one_bond_each(np.stack([src, dst]), bonded, graph_of_atom, 2, np.random.default_rng(seed))
        assert cut_graph.tolist() == [True, False]
        assert not cross[graph_of_atom[src] == 1].any()
        assert (cross & bonded).sum() == 2  # the one bond, both ways
        kept = ~cross & (graph_of_atom[src] == 0)
        pieces = connected_components(coo_matrix((np.ones(kept.sum()), (src[kept], dst[kept])), shape=(n, n)))[1]
        assert len(set(pieces[:len(ethanol)])) == 2
        assert np.all(pieces[src[cross]] != pieces[dst[cross]])


@pytest.mark.slow
def test_locality_loss_makes_edges_insensitive_to_a_cut(tmp_path, monkeypatch):
    """Two tiny models, same data, seed and epochs, one with the locality loss strong: cutting a bond at the
    parent geometry changes its other edges' raw readout less (mean square over the kept edges, no grad)."""
    import numpy as np
    import pandas as pd
    import torch

    from e3d import from_smiles
    from e3d.data.edge_prior import bonded_edges, covalent_radii_of
    from e3d.data.locality import cut_batch, cut_one_bond_each
    from e3d.edges import molecules_to_data
    from e3d.model import load_model

    monkeypatch.chdir(ROOT)
    data = tmp_path / "data"
    for name, corpus in (("tiny_trainval", "train"), ("tiny_test", "eval")):
        assert main(["data", "xtb", "--corpus", corpus, "--limit", "4", "--variant", "thermal",
                     "--n-thermal", "6", "--out", str(data / f"{name}.extxyz")]) == 0
    mols = [from_smiles(s) for s in ("CCO", "CCC", "CCN", "CC(C)O", "CCCC")]
    change = {}
    for coeff in (0, 100):
        out = tmp_path / f"m{coeff}.nequip.zip"
        assert main(["train", "configs/tiny_locality.yaml", f"data_dir={data}", "trainer.max_epochs=25",
                     f"locality_coeff={coeff}", "--run-dir", str(tmp_path / f"run{coeff}"), "--out", str(out)]) == 0
        model = load_model(str(out), device="cpu")
        batch = molecules_to_data(mols, model)
        bonded = bonded_edges(batch, covalent_radii_of(model.type_names)).numpy()
        squares = []
        for seed in range(5):
            cross, _ = cut_one_bond_each(batch["edge_index"].numpy(), bonded, batch["batch"].numpy(), len(mols),
                                         np.random.default_rng(seed))
            keep = torch.from_numpy(~cross)
            with torch.no_grad(), model.energy_only():
                parent = model.module(dict(batch))["edge_energy"].reshape(-1)
                cut = model.module(cut_batch(batch, keep))["edge_energy"].reshape(-1)
            squares.append(float((cut - parent[keep]).square().mean()))
        change[coeff] = np.mean(squares)
        logged = pd.concat(pd.read_csv(f) for f in (tmp_path / f"run{coeff}").glob("csv/*/metrics.csv"))
        assert "train_loss_epoch/locality" in logged
    assert change[100] < 0.5 * change[0], change


def test_nequip_scripts_run_without_their_console_scripts(tmp_path, monkeypatch):
    """Wheels installed with ``pip --target`` (the GPU machine) leave no ``nequip-train`` beside the
    interpreter: the command falls back to the module, which must run."""
    import subprocess
    import sys

    from e3d.train import nequip_script

    assert nequip_script("nequip-train") == [os.path.join(os.path.dirname(sys.executable), "nequip-train")]
    python = sys.executable
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    cmd = nequip_script("nequip-package")
    assert cmd == [str(tmp_path / "python"), "-m", "nequip.scripts.package"]
    proc = subprocess.run([python, *cmd[1:], "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "build" in proc.stdout


PARENT = """
import subprocess, sys, threading
from e3d.train import dying_with_parent
wrap = dying_with_parent if sys.argv[1] == "wrapped" else list
def start():  # from a thread, as the study starts its trainings
    child = subprocess.Popen(wrap([sys.executable, "-c", "import time; time.sleep(120)"]))
    print(child.pid, flush=True)
    child.wait()
thread = threading.Thread(target=start)
thread.start()
thread.join()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has died, unreaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc") or not shutil.which("setpriv"), reason="Linux with util-linux setpriv")
def test_a_trainer_dies_with_the_process_that_started_it():
    """``kill PID`` of ``e3d study --train`` once left its nequip-train child training (session 44): the
    child of :func:`e3d.train.dying_with_parent` gets SIGTERM when its parent dies; a plain child lives on."""
    import signal
    import subprocess
    import sys
    import time

    children = {}
    for mode in ("wrapped", "plain"):
        parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True,
                                  env=dict(os.environ, PYTHONPATH=ROOT))
        children[mode] = int(parent.stdout.readline())
        time.sleep(0.5)
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
    try:
        deadline = time.time() + 20
        while _alive(children["wrapped"]) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(children["wrapped"])
        assert _alive(children["plain"])  # the control: without it the child outlives its parent
    finally:
        for pid in children.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_redraw_edge_readout_changes_the_readout_only(tiny_model_path):
    """The fresh readout of a fine-tune (e3d/fresh_readout.py) re-draws the edge readout's weights and leaves
    every other weight — the learned environments — as the parent had them."""
    import torch

    from e3d.fresh_readout import READOUT, redraw_edge_readout
    from e3d.model import load_model

    module = load_model(tiny_model_path, device="cpu").module
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    torch.manual_seed(0)
    assert redraw_edge_readout(module) == sum(READOUT in n for n in before) > 0
    for name, p in module.named_parameters():
        if READOUT in name:
            assert not torch.allclose(p, before[name]) and abs(p.var().item() - 1.0) < 0.5  # nequip's init scale
        else:
            assert torch.equal(p, before[name])
