"""Rebuild the tiny real Allegro model the tests use (tests/models/tiny_allegro.nequip.zip).

GFN2-xTB labels on every 5th training-corpus molecule (all variants), configs/tiny.yaml,
a few minutes on one CPU thread.  Run from the repository root:

    OMP_NUM_THREADS=1 python tests/make_tiny_model.py
"""

import os
import shutil

from e3d.corpus import evaluation_corpus, training_corpus
from e3d.data.build import build_xtb_dataset
from e3d.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OUT = os.path.join(ROOT, "tests", "models", "tiny_allegro.nequip.zip")
DATA = os.path.join(ROOT, "runs", "data_tiny")
RUN = os.path.join(ROOT, "runs", "train", "tiny")


def main():
    os.chdir(ROOT)
    build_xtb_dataset(training_corpus()[::5], os.path.join(DATA, "tiny_trainval.extxyz"), seed=3,
                      n_thermal=4, n_stretch=2, n_radical_bonds=1)
    build_xtb_dataset(evaluation_corpus()[:8], os.path.join(DATA, "tiny_test.extxyz"), seed=4,
                      n_thermal=2, n_stretch=1, n_radical_bonds=1)
    shutil.rmtree(RUN, ignore_errors=True)
    card = train(os.path.join(ROOT, "configs", "tiny.yaml"), RUN, OUT, model_id="tiny-xtb-test",
                 overrides=[f"data_dir={DATA}", "trainer.enable_progress_bar=false"])
    print("wrote", OUT, card["metrics"].get("test"))


if __name__ == "__main__":
    main()
