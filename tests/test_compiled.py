"""AOTInductor path: a compiled model with its E3D sidecar gives the eager model's bond energies."""

import json

import numpy as np
import pytest

from e3d.cli import main
from e3d.edges import edge_energies
from e3d.errors import ModelError
from e3d.model import load_model
from e3d.molecule import from_smiles
from e3d.pairs import pair_table


@pytest.fixture(scope="module")
def compiled_path(tiny_model_path, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("aoti") / "new" / "tiny.nequip.pt2")  # a folder compile must create
    assert main(["compile", "--model", tiny_model_path, "--device", "cpu", out]) == 0
    return out


@pytest.mark.slow
def test_compiled_matches_eager(tiny_model, compiled_path):
    compiled = load_model(compiled_path, device="cpu")
    assert compiled.kind == "aotinductor"
    assert compiled.type_names == tiny_model.type_names
    np.testing.assert_allclose(compiled.edge_factor, tiny_model.edge_factor)
    mols = [from_smiles(s) for s in ("CCO", "c1ccncc1", "CC(=O)Cl")]
    for single in (mols[:1], mols):  # one molecule (padded internally) and a batch
        for a, b in zip(edge_energies(tiny_model, single), edge_energies(compiled, single)):
            assert abs(b.residual) < 1e-6
            assert b.total_energy == pytest.approx(a.total_energy, abs=1e-8)
            np.testing.assert_allclose(pair_table(b)["D_ij"], pair_table(a)["D_ij"], atol=1e-7)
    assert compiled.card["id"] == tiny_model.card["id"]  # the card travels with it


@pytest.mark.slow
def test_compiled_without_sidecar_is_refused(compiled_path, tmp_path, tiny_model):
    bare = tmp_path / "bare.nequip.pt2"
    bare.write_bytes(open(compiled_path, "rb").read())
    with pytest.raises(ModelError, match="sidecar"):
        load_model(str(bare))
    sidecar = json.load(open(compiled_path + ".e3d.json"))
    for key in ("scales", "shifts", "avg_num_neighbors"):  # the eager model's constants, written out
        np.testing.assert_allclose(sidecar[key], getattr(tiny_model, key).tolist())


@pytest.mark.slow
def test_compiled_with_wrong_sidecar_breaks_the_sum_rule(compiled_path, tmp_path):
    """The sidecar's scales are what turn the compiled readout into edge energies: wrong ones are caught."""
    from e3d.errors import SumRuleError

    wrong = tmp_path / "wrong.nequip.pt2"
    wrong.write_bytes(open(compiled_path, "rb").read())
    sidecar = json.load(open(compiled_path + ".e3d.json"))
    sidecar["scales"] = [2 * s for s in sidecar["scales"]]
    json.dump(sidecar, open(str(wrong) + ".e3d.json", "w"))
    with pytest.raises(SumRuleError, match="sum rule violated"):
        edge_energies(load_model(str(wrong), device="cpu"), [from_smiles("CCO")])
