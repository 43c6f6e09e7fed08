"""Model loading and what `info` reports."""

import numpy as np
import pytest

from e3d.errors import ModelError
from e3d.model import load_model


def test_info_reads_factors_from_model(tiny_model):
    info = tiny_model.info()
    assert info["type_names"] == ["H", "C", "N", "O", "F", "S", "Cl"]
    assert info["r_max_angstrom"] == pytest.approx(4.5)
    assert info["dtype"] == "float64"
    assert "isolated atoms" in info["shifts_reference"] and "spin-polarised" in info["shifts_reference"]
    # shifts are the fixed GFN2-xTB isolated atoms, not trained
    card_shifts = tiny_model.card["energy_shifts"]["values_eV"]
    for t, mu in info["energy_shifts_eV"].items():
        assert mu == pytest.approx(card_shifts[t], abs=1e-9)
    assert np.all(tiny_model.edge_factor > 0)


def test_missing_and_bad_model_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "missing.nequip.zip"))
    bad = tmp_path / "bad.nequip.zip"
    bad.write_bytes(b"this is not a zip")
    with pytest.raises(ModelError, match="could not load model"):
        load_model(str(bad))
    with pytest.raises(ModelError, match="internet"):
        load_model("nequip.net:mir-group/foo:0.1")
