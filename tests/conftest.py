import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # on sys.path by pyproject's pytest pythonpath

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

TINY_MODEL = os.path.join(ROOT, "tests", "models", "tiny_allegro.nequip.zip")
DATA = os.path.join(ROOT, "tests", "data")


@pytest.fixture(scope="session")
def tiny_model_path():
    assert os.path.exists(TINY_MODEL), "run: python tests/make_tiny_model.py"
    return TINY_MODEL


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from e3d.model import load_model

    return load_model(tiny_model_path, device="cpu")


@pytest.fixture
def data_dir():
    return DATA


def install_member(member_id, models_dir, tiny_model_path, card=None):
    """The tiny model installed in ``models_dir`` as family member ``member_id``: its package, or, for a member
    shipped as a sum file (a Δ sum, a seed mean), a sum file of the tiny model twice with weights ½ (the same model).
    ``card`` (default: the tiny model's) is written beside it.  Returns the member's file path."""
    import json
    import shutil

    from e3d.cards import card_path
    from e3d.family import _entry, member_file

    path = member_file(_entry(member_id), str(models_dir))
    if path.endswith(".sum.json"):
        shutil.copy(tiny_model_path, os.path.join(models_dir, "tiny.nequip.zip"))
        with open(path, "w") as fh:
            json.dump({"parts": ["tiny.nequip.zip", "tiny.nequip.zip"], "weights": [0.5, 0.5]}, fh)
    else:
        shutil.copy(tiny_model_path, path)
    card = card or json.load(open(tiny_model_path.replace(".nequip.zip", ".card.json")))
    with open(card_path(path), "w") as fh:
        json.dump(card, fh)
    return path
