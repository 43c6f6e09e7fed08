"""Rebuild the tiny real Allegro model the tests use (tests/models/tiny_allegro.nequip.zip).

GFN2-xTB labels on 40 training-corpus molecules (all variants), configs/tiny.yaml, a few
minutes on one CPU thread.  Run from the repository root:

    OMP_NUM_THREADS=1 python tests/make_tiny_model.py
"""

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from e3d.corpus import evaluation_corpus, training_corpus  # noqa: E402
from e3d.data.build import build_xtb_dataset  # noqa: E402

OUT = os.path.join(ROOT, "tests", "models", "tiny_allegro.nequip.zip")
DATA = os.path.join(ROOT, "runs", "data_tiny")
RUN = os.path.join(ROOT, "runs", "train", "tiny")


def main():
    os.chdir(ROOT)
    corpus = training_corpus()
    build_xtb_dataset(corpus[::5], os.path.join(DATA, "tiny_trainval.extxyz"), seed=3,
                      n_thermal=4, n_stretch=2, n_radical_bonds=1)
    build_xtb_dataset(evaluation_corpus()[:8], os.path.join(DATA, "tiny_test.extxyz"), seed=4,
                      n_thermal=2, n_stretch=1, n_radical_bonds=1)
    shutil.rmtree(RUN, ignore_errors=True)
    subprocess.run(["nequip-train", "-cp", os.path.join(ROOT, "configs"), "-cn", "tiny",
                    f"hydra.run.dir={RUN}", "trainer.enable_progress_bar=false"], check=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    subprocess.run(["nequip-package", "build", os.path.join(RUN, "best.ckpt"), OUT], check=True)
    from e3d.data.xtb import isolated_atom_energies, provenance

    card = {
        "id": "tiny-xtb-test",
        "purpose": "tests only: a real but barely trained Allegro model",
        "dataset": "GFN2-xTB tiny (every 5th training-corpus molecule, all variants)",
        "level_of_theory": "GFN2-xTB (tblite, spin-polarised, 300 K)",
        "labels": provenance(),
        "config": "configs/tiny.yaml",
        "energy_shifts": {"isolated_atoms": True,
                          "values_eV": isolated_atom_energies(["H", "C", "N", "O", "F", "S", "Cl"])},
    }
    with open(OUT.replace(".nequip.zip", ".card.json"), "w") as fh:
        json.dump(card, fh, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
