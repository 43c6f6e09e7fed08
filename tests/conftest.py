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
