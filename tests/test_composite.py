"""A sum of models (e3d/composite.py) on real models: energies, forces and edge energies add, the sum
rule holds, and sums that cannot add edge by edge are refused with a clear message."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import ROOT


@pytest.fixture
def twice(tiny_model_path, tmp_path):
    """The tiny model plus itself, as a sum file beside a copy of it (and its card)."""
    for suffix in (".nequip.zip", ".card.json"):
        shutil.copy(tiny_model_path.replace(".nequip.zip", suffix), tmp_path / f"tiny{suffix}")
    path = tmp_path / "twice.sum.json"
    path.write_text(json.dumps({"parts": ["tiny.nequip.zip", str(tmp_path / "tiny.nequip.zip")]}))
    return str(path)


def test_sum_adds_energies_forces_and_edge_energies(twice, tiny_model):
    import e3d
    from e3d.calculator import E3DCalculator
    from e3d.model import load_model

    both = load_model(twice)
    assert both.kind == "sum" and len(both.parts) == 2 and both.r_max == tiny_model.r_max
    np.testing.assert_allclose(both.shifts, 2 * tiny_model.shifts)
    np.testing.assert_allclose(both.edge_factor, 1.0)
    mols = [e3d.from_smiles(s) for s in ("CCO", "C[CH2]")]
    for one, two in zip(e3d.edge_energies(tiny_model, mols), e3d.edge_energies(both, mols)):
        assert (one.i == two.i).all() and (one.j == two.j).all()
        np.testing.assert_allclose(two.e, 2 * one.e, atol=1e-12)
        assert abs(two.total_energy - 2 * one.total_energy) < 1e-8 and abs(two.residual) < 1e-6
    atoms = mols[0].to_ase()
    atoms.calc = E3DCalculator(both)
    f2 = atoms.get_forces()
    atoms.calc = E3DCalculator(tiny_model)
    np.testing.assert_allclose(f2, 2 * atoms.get_forces(), atol=1e-8)
    info = both.info()
    name = tiny_model.name
    assert both.part_names == [f"{name}#1", f"{name}#2"]  # equal ids told apart
    assert info["sum_of"] == [p.path for p in both.parts] and list(info["energy_scales_eV"]) == both.part_names


def test_sum_runs_in_float32(twice, tiny_model):
    import e3d
    from e3d.model import load_model

    fast = load_model(twice, dtype="float32")
    assert all(str(p.dtype) == "torch.float32" for p in fast.parts) and str(fast.dtype) == "torch.float32"
    (one,), (two,) = e3d.edge_energies(tiny_model, [e3d.from_smiles("CO")]), e3d.edge_energies(fast, [e3d.from_smiles("CO")])
    np.testing.assert_allclose(two.e, 2 * one.e, atol=1e-4)


def test_sums_that_cannot_add_are_refused(tmp_path, tiny_model_path):
    from e3d.errors import ModelError
    from e3d.model import load_model

    bad = tmp_path / "bad.sum.json"
    for text, message in [("{", "not a readable sum"), ('{"parts": ["a.nequip.zip"]}', "at least two"),
                          ('{"parts": ["a.nequip.zip", "b.nequip.zip"]}', "model file not found")]:
        bad.write_text(text)
        with pytest.raises(ModelError, match=message):
            load_model(str(bad))
    shipped = os.path.join(ROOT, "precomputed", "models", "xtb-emergence-4k.nequip.zip")  # r_max 3 Å; tiny: 4.5 Å
    bad.write_text(json.dumps({"parts": [tiny_model_path, shipped]}))
    with pytest.raises(ModelError, match="only on one cutoff"):
        load_model(str(bad))


MODELS = os.path.join(ROOT, "precomputed", "models")


def test_shipped_delta_sum_is_its_parts_edge_by_edge():
    """dft-delta (precomputed/models/dft-delta.sum.json): the GFN2-xTB model's edge energies plus the Δ model's."""
    import e3d
    from e3d.cards import read_card
    from e3d.model import load_model

    path = os.path.join(MODELS, "dft-delta.sum.json")
    card = read_card(path)
    assert card["sum_of"] == ["xtb-emergence-4k", "delta-heavy4"] and card["delta_on"] == ["xtb-emergence-4k"]
    assert card["level_of_theory"] == "B3LYP/def2-SVP" and card["energy_shifts"]["isolated_atoms"]
    assert card["metrics"]["test"]["n_frames"] > 0
    both = load_model(path)
    base, delta = (load_model(os.path.join(MODELS, f"{p}.nequip.zip")) for p in card["sum_of"])
    assert read_card(delta.path)["labels"]["method"] == "B3LYP/def2-SVP − GFN2-xTB"
    mols = [e3d.from_smiles("CCO"), e3d.from_smiles("[CH2]C")]
    for s, b, d in zip(*(e3d.edge_energies(m, mols) for m in (both, base, delta))):
        np.testing.assert_allclose(s.e, b.e + d.e, atol=1e-5)
        assert abs(s.total_energy - b.total_energy - d.total_energy) < 1e-5


def test_sum_card_needs_one_delta_model_on_its_labeller():
    from e3d.cards import read_card, sum_card
    from e3d.errors import ModelError

    card = lambda i: read_card(os.path.join(MODELS, f"{i}.nequip.zip"))  # noqa: E731
    with pytest.raises(ModelError, match="exactly one Δ model"):
        sum_card("x", ["xtb-emergence-4k", "xtb-locality-4k"], [card("xtb-emergence-4k"), card("xtb-locality-4k")])
    with pytest.raises(ModelError, match="corrects GFN2-xTB"):
        sum_card("x", ["dft-emergence", "delta-heavy4"], [card("dft-emergence"), card("delta-heavy4")])


def test_delta_labels_are_the_set_minus_gfn2_xtb(tmp_path):
    """e3d data delta on three real B3LYP frames: each label minus GFN2-xTB's at the same geometry, charge and
    multiplicity; the isolated atoms likewise; a Δ set or an xTB set is refused."""
    import ase.io

    from e3d.data import xtb
    from e3d.data.delta import build_delta
    from e3d.errors import E3DError

    src = os.path.join(ROOT, "precomputed", "labels", "dft_radicals_train-small_test.extxyz")
    frames = list(ase.io.iread(src, index=":40:20"))  # a closed-shell molecule and others, radicals among them
    small = tmp_path / "dft.extxyz"
    ase.io.write(small, frames, format="extxyz")
    prov = json.load(open(src + ".json"))
    (tmp_path / "dft.extxyz.json").write_text(json.dumps(prov))
    out = tmp_path / "delta.extxyz"
    got = build_delta(str(small), str(out), progress=False)
    assert got["n_frames"] == len(frames) and got["labels"]["method"] == "B3LYP/def2-SVP − GFN2-xTB"
    for a, d in zip(frames, ase.io.iread(out)):
        e, f = xtb.energy_and_forces(a.numbers, a.positions, a.info["charge"], a.info["multiplicity"])
        assert abs(d.get_potential_energy() - (a.get_potential_energy() - e)) < 1e-8
        np.testing.assert_allclose(d.get_forces(), a.get_forces() - f, atol=1e-8)
    atoms = xtb.isolated_atom_energies(["C"])
    assert abs(got["isolated_atom_energies_eV"]["C"] - (prov["isolated_atom_energies_eV"]["C"] - atoms["C"])) < 1e-8
    with pytest.raises(E3DError, match="already holds Δ-labels"):
        build_delta(str(out), str(tmp_path / "again.extxyz"), progress=False)
    prov["labels"]["method"] = "GFN2-xTB"
    (tmp_path / "dft.extxyz.json").write_text(json.dumps(prov))
    with pytest.raises(E3DError, match="Δ would be zero"):
        build_delta(str(small), str(tmp_path / "zero.extxyz"), progress=False)


def test_bonds_of_a_sum_show_each_parts_share(twice, tmp_path, capsys):
    """`e3d bonds` on a sum: each part's D_ij beside the sum's, adding up to it (here two equal halves)."""
    import pandas as pd

    from e3d.cli import main

    out = tmp_path / "bonds.csv"
    assert main(["bonds", "CCO", "--model", twice, "-o", str(out)]) == 0
    table = pd.read_csv(out)
    name = json.load(open(twice.replace(".sum.json", ".card.json").replace("twice", "tiny")))["id"]
    halves = [c for c in table.columns if c.startswith("D_ij[")]
    assert halves == [f"D_ij[{name}#1]", f"D_ij[{name}#2]"]  # equal names told apart
    np.testing.assert_allclose(table[halves].sum(axis=1), table["D_ij"], atol=1e-6)
    np.testing.assert_allclose(table[halves[0]], table[halves[1]], atol=1e-9)
    assert main(["bonds", "CCO", "--model", twice]) == 0
    assert f"of which {name}#1" in capsys.readouterr().out


def test_corpus_and_one_molecule_pair_tables_carry_the_parts(twice):
    """The precomputed pair table (bondtypes.corpus_pairs) and a single molecule's (the app's live table) of a sum
    carry each part's D_ij from the sum's own pass, equal to the part's D_ij run alone; a single model's tables
    gain nothing."""
    import e3d
    from e3d.bondtypes import corpus_pairs
    from e3d.model import load_model

    both = load_model(twice)
    mols = [e3d.from_smiles("CCO"), e3d.from_smiles("CC=O")]
    table = corpus_pairs(both, mols)
    cols = [f"D_ij[{n}]" for n in both.part_names]
    np.testing.assert_allclose(table[cols].sum(axis=1), table["D_ij"], atol=1e-6)
    (one,) = e3d.edge_energies(both, mols[1:])
    single = e3d.pair_table(one)
    np.testing.assert_allclose(single[cols[0]], table.loc[table["molecule"] == mols[1].label, cols[0]], atol=1e-9)
    (alone,) = e3d.edge_energies(both.parts[0], mols[1:])  # the part run by itself: the same D_ij
    np.testing.assert_allclose(single[cols[0]], e3d.pair_table(alone)["D_ij"], atol=1e-6)
    assert not any(c.startswith("D_ij[") for c in corpus_pairs(both.parts[0], mols).columns)


def _seed_mean(tmp_path, ids=("xtb-emergence-4k", "xtb-emergence-4k-seed2")):
    """A seed mean of shipped models, written as the family writes one (sum file + card) in tmp_path."""
    from e3d.cards import mean_card, read_card
    from e3d.composite import mean_spec
    from e3d.train import write_card

    files = [os.path.join(MODELS, f"{i}.nequip.zip") for i in ids]
    path = tmp_path / "mean.sum.json"
    path.write_text(json.dumps(mean_spec(files)))
    write_card(str(path), mean_card("mean", list(ids), [read_card(f) for f in files]))
    return str(path)


def test_seed_mean_is_the_seeds_average_edge_by_edge(tmp_path):
    """A seed mean (weights 1/N) of two shipped seeds: energies, forces and edge energies are the seeds' mean, μ_t
    too, so the sum rule holds; its pair tables carry each seed's D_ij and their σ (|D₁ − D₂|/√2 for two)."""
    import e3d
    from e3d.calculator import E3DCalculator
    from e3d.model import load_model
    from e3d.pairs import SEED_SD, part_headers, with_seed_sd

    mean = load_model(_seed_mean(tmp_path))
    a, b = mean.parts
    assert mean.part_weights == [0.5, 0.5] and mean.card["mean_of"] == ["xtb-emergence-4k", "xtb-emergence-4k-seed2"]
    np.testing.assert_allclose(mean.shifts, (a.shifts + b.shifts) / 2)
    mols = [e3d.from_smiles("CCO"), e3d.from_smiles("[CH2]C")]
    for m, x, y in zip(*(e3d.edge_energies(model, mols) for model in (mean, a, b))):
        np.testing.assert_allclose(m.e, (x.e + y.e) / 2, atol=1e-5)
        assert abs(m.total_energy - (x.total_energy + y.total_energy) / 2) < 1e-5 and abs(m.residual) < 1e-4
    assert np.abs(x.e - y.e).max() > 1e-3  # two seeds that differ: the mean is not one of them
    atoms = mols[0].to_ase()
    forces = []
    for model in (mean, a, b):
        atoms.calc = E3DCalculator(model)
        forces.append(atoms.get_forces())
    np.testing.assert_allclose(forces[0], (forces[1] + forces[2]) / 2, atol=1e-4)
    (one,) = e3d.edge_energies(mean, mols[:1])
    table = with_seed_sd(e3d.pair_table(one), mean)
    seeds = [f"D_ij[{n}]" for n in mean.part_names]
    np.testing.assert_allclose(table[seeds].mean(axis=1), table["D_ij"], atol=1e-4)
    np.testing.assert_allclose(table[seeds[1]], e3d.pair_table(y_alone := e3d.edge_energies(b, mols[:1])[0])["D_ij"],
                               atol=1e-4)  # a seed's column is that seed's own D_ij
    assert y_alone.part_names == () and with_seed_sd(e3d.pair_table(y_alone), b).equals(e3d.pair_table(y_alone))
    np.testing.assert_allclose(table[SEED_SD], (table[seeds[0]] - table[seeds[1]]).abs() / np.sqrt(2), atol=1e-9)
    assert list(part_headers(table).values()) == ["seed xtb-emergence-4k (kcal/mol)",
                                                  "seed xtb-emergence-4k-seed2 (kcal/mol)", "σ over the seeds (kcal/mol)"]
    fast = load_model(mean.path, dtype="float64")
    assert fast.part_weights == [0.5, 0.5]


def test_a_sum_and_its_parts_share_one_lock(tmp_path):
    """The app computes a seed mean and its seeds' D_ij from many sessions at once; the parts run the mean's own
    modules, so they share its lock, and threads computing both never meet inside a pass (before: "element 0 of
    tensors does not require grad" when one thread's energy-only pass switched the other's force pass off)."""
    import threading

    import e3d
    from e3d.calculator import E3DCalculator
    from e3d.model import load_model
    from e3d.pairs import with_seed_sd

    mean = load_model(_seed_mean(tmp_path))
    assert all(p.lock is mean.lock for p in mean.parts)
    mol = e3d.from_smiles("CCO")
    errors = []

    def work(k):
        try:
            for _ in range(5):
                if k % 2:  # the mean's pairs with its seeds' columns, or one seed alone
                    (r,) = e3d.edge_energies(mean if k % 4 == 1 else mean.parts[0], [mol])
                    with_seed_sd(e3d.pair_table(r), mean if k % 4 == 1 else mean.parts[0])
                else:  # forces (the calculator's pass needs the derivatives the others switch off)
                    atoms = mol.to_ase()
                    atoms.calc = E3DCalculator(mean)
                    atoms.get_forces()
        except Exception as exc:  # noqa: BLE001 — any failure in a thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_seed_mean_card_and_bad_weights(tmp_path):
    """The mean's card: the seeds' common domain and mean μ_t; seeds of two labelling methods, or weights that
    do not fit the parts, are refused with a message."""
    from e3d.cards import mean_card, read_card
    from e3d.errors import ModelError
    from e3d.model import load_model

    cards = [read_card(os.path.join(MODELS, f"{i}.nequip.zip")) for i in ("xtb-emergence-4k", "xtb-emergence-4k-seed2")]
    card = mean_card("m", ["a", "b"], cards)
    assert card["level_of_theory"] == "GFN2-xTB" and card["energy_shifts"]["isolated_atoms"]
    assert set(card["training_domain"]["bond_types"]) <= set(cards[0]["training_domain"]["bond_types"])
    assert card["energy_shifts"]["values_eV"]["C"] == pytest.approx(
        (cards[0]["energy_shifts"]["values_eV"]["C"] + cards[1]["energy_shifts"]["values_eV"]["C"]) / 2)
    with pytest.raises(ModelError, match="one labelling method"):
        mean_card("m", ["a", "b"], [cards[0], read_card(os.path.join(MODELS, "dft-emergence.nequip.zip"))])
    bad = tmp_path / "bad.sum.json"
    files = [os.path.join(MODELS, f"{i}.nequip.zip") for i in ("xtb-emergence-4k", "xtb-emergence-4k-seed2")]
    for weights in ([1.0], [1.0, "x"], [1.0, float("nan")], "half"):
        bad.write_text(json.dumps({"parts": files, "weights": weights}))
        with pytest.raises(ModelError, match='"weights" must be a list of 2 numbers'):
            load_model(str(bad))
    other = tmp_path / "other.sum.json"  # two sum files that name each other
    bad.write_text(json.dumps({"parts": [files[0], "other.sum.json"]}))
    other.write_text(json.dumps({"parts": [files[1], "bad.sum.json"]}))
    with pytest.raises(ModelError, match=r"name each other in a circle \(bad.sum.json → other.sum.json → bad.sum.json\)"):
        load_model(str(bad))


def test_residual_delta_labels_are_the_set_minus_a_model(tmp_path):
    """`e3d data delta --on MODEL`: each label minus that GFN2-xTB model's energy and forces, μ_Δ its shifts'
    difference; a frame of a bond type the model never saw (F–H) is left out and listed; a sum of the Δ model
    must take exactly that base model."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from e3d.calculator import E3DCalculator
    from e3d.cards import read_card, sum_card
    from e3d.data.delta import build_delta
    from e3d.errors import ModelError
    from e3d.model import load_model

    src = os.path.join(ROOT, "precomputed", "labels", "dft_radicals_train-small_test.extxyz")
    frames = list(ase.io.iread(src, index=":40:20"))
    hf = ase.Atoms("HF", positions=[[0, 0, 0], [0, 0, 0.92]], info={"smiles": "F", "charge": 0, "multiplicity": 1})
    hf.calc = SinglePointCalculator(hf, energy=-2700.0, forces=np.zeros((2, 3)))
    small = tmp_path / "dft.extxyz"
    ase.io.write(small, frames + [hf], format="extxyz")
    prov = json.load(open(src + ".json"))
    (tmp_path / "dft.extxyz.json").write_text(json.dumps(prov))
    base = os.path.join(MODELS, "xtb-emergence-4k.nequip.zip")
    got = build_delta(str(small), str(tmp_path / "res.extxyz"), progress=False, on_model=base)
    assert got["labels"]["method"] == "B3LYP/def2-SVP − xtb-emergence-4k" and got["labels"]["low"]["model"] == "xtb-emergence-4k"
    assert got["n_frames"] == len(frames) and "F-H" in got["failures"][-1]["error"]
    model = load_model(base)
    for a, d in zip(frames, ase.io.iread(tmp_path / "res.extxyz")):
        b = a.copy()
        b.calc = E3DCalculator(model)
        assert abs(d.get_potential_energy() - (a.get_potential_energy() - b.get_potential_energy())) < 1e-6
        np.testing.assert_allclose(d.get_forces(), a.get_forces() - b.get_forces(), atol=1e-6)
    mu = dict(zip(model.type_names, model.shifts))
    assert got["isolated_atom_energies_eV"]["C"] == pytest.approx(prov["isolated_atom_energies_eV"]["C"] - mu["C"])
    delta = {"labels": got["labels"], "training_elements": ["H", "C"]}
    sum_card("s", ["xtb-emergence-4k", "res"], [read_card(base), delta])  # its own base: accepted
    with pytest.raises(ModelError, match="corrects the model xtb-emergence-4k, not xtb-emergence-4k-seed2"):
        sum_card("s", ["xtb-emergence-4k-seed2", "res"],
                 [read_card(os.path.join(MODELS, "xtb-emergence-4k-seed2.nequip.zip")), delta])


def test_shipped_seed_mean_is_its_seeds_mean():
    """dft-locdelta-mean (precomputed/models/dft-locdelta-mean.sum.json): the mean of the three dft-locdelta sums,
    edge by edge, with the seeds' common domain on its card."""
    import e3d
    from e3d.cards import read_card
    from e3d.model import load_model

    path = os.path.join(MODELS, "dft-locdelta-mean.sum.json")
    card = read_card(path)
    assert card["mean_of"] == ["dft-locdelta", "dft-locdelta-seed2", "dft-locdelta-seed3"]
    assert card["level_of_theory"] == "B3LYP/def2-SVP" and card["metrics"]["test"]["n_frames"] > 0
    assert "F-H" not in card["training_domain"]["bond_types"]  # the Δ saw HF, its GFN2-xTB parts did not
    mean = load_model(path)
    seeds = [load_model(os.path.join(MODELS, f"{s}.sum.json")) for s in card["mean_of"]]
    (m,), *each = (e3d.edge_energies(x, [e3d.from_smiles("CC=O")]) for x in (mean, *seeds))
    np.testing.assert_allclose(m.e, np.mean([s.e for (s,) in each], axis=0), atol=1e-5)
