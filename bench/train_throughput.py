"""Training throughput (frames/s, one CPU thread) of the E3D recipe and its faster variants.

Runs real ``nequip-train`` (configs/xtb_radicals.yaml) for a fixed number of steps on a
labelled set and reads ``train_frames_per_s`` (forward + backward + optimiser + data loading,
first steps excluded; :mod:`e3d.throughput`) from each run's CSV log.

    OMP_NUM_THREADS=1 python bench/train_throughput.py [--data runs/data/xtb_radicals_test.extxyz] [--steps 200]

The data defaults to the GFN2-xTB evaluation set (`python -m e3d data xtb --corpus eval --seed 2
--out runs/data/xtb_radicals_test.extxyz`), a mix of relaxed, thermal, stretched and radical frames.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

from _common import ROOT, machine

SHIPPED = "float64, r_max 4.5, batch 8 (shipped models)"
UNCACHED = ["data._target_=nequip.data.datamodule.ASEDataModule"]  # nequip's data module: a neighbour list per draw
FAST = ["training_module.model.model_dtype=float32", "cutoff_radius=3.0", "++training_module.model.compile_mode=compile"]
ONE_LAYER = ["training_module.model.num_layers=1"]
TWICE_WIDTH = ["training_module.model.num_scalar_features=64", "training_module.model.num_tensor_features=16",
               "training_module.model.allegro_mlp_hidden_layers_width=64"]
SETTINGS = {  # name → Hydra overrides on configs/xtb_radicals.yaml
    SHIPPED: UNCACHED,
    "float32, r_max 4.5, batch 8": UNCACHED + ["training_module.model.model_dtype=float32"],
    "float64, r_max 3.0, batch 8": UNCACHED + ["cutoff_radius=3.0"],
    "float32, r_max 3.0, batch 8": UNCACHED + ["training_module.model.model_dtype=float32", "cutoff_radius=3.0"],
    "float32, r_max 3.0, batch 32": UNCACHED + ["training_module.model.model_dtype=float32", "cutoff_radius=3.0",
                                                "data.train_dataloader.batch_size=32"],
    "float32, r_max 3.0, batch 32, torch.compile": UNCACHED + FAST + ["data.train_dataloader.batch_size=32"],
    "float32, r_max 3.0, batch 64, torch.compile": UNCACHED + FAST + ["data.train_dataloader.batch_size=64"],
    # each neighbour list built once (e3d.data.cached, the default data module of configs/common.yaml)
    "float32, r_max 3.0, batch 32, torch.compile, cached neighbour lists": FAST + ["data.train_dataloader.batch_size=32"],
    "float32, r_max 3.0, batch 64, torch.compile, cached neighbour lists": FAST + ["data.train_dataloader.batch_size=64"],
    # one Allegro layer (study run r3.0-qm9-4k-L1-s1: per step as good as two on the validation energy)
    "float32, r_max 3.0, batch 32, torch.compile, cached, one layer": FAST + ONE_LAYER + ["data.train_dataloader.batch_size=32"],
    "float32, r_max 3.0, batch 64, torch.compile, cached, one layer": FAST + ONE_LAYER + ["data.train_dataloader.batch_size=64"],
    # twice the width (64 scalar / 16 tensor features, MLPs 64 wide): the cost of the capacity lever for the
    # error budget's accuracy term (docs/E3D_METHOD.md §4c)
    "float32, r_max 3.0, batch 32, torch.compile, cached, twice the width": FAST + TWICE_WIDTH
    + ["data.train_dataloader.batch_size=32"],
}


def run(overrides, data, steps, workdir):
    import pandas as pd

    from e3d.train import dataset_shift_override, load_config, nequip_script

    config = os.path.join(ROOT, "configs", "xtb_radicals.yaml")
    base = [f"trainval_file={data}", f"test_file={data}", "run=[train]", "trainer.max_time=null",
            "trainer.max_epochs=1000", f"++trainer.max_steps={steps}", "trainer.enable_progress_bar=false"]
    overrides = base + overrides
    overrides.append(dataset_shift_override(load_config(config, overrides)))
    cmd = [*nequip_script("nequip-train"), "-cp", os.path.dirname(config), "-cn", "xtb_radicals",
           f"hydra.run.dir={workdir}", *overrides]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    log = pd.concat(pd.read_csv(f) for f in glob.glob(os.path.join(workdir, "csv", "version_*", "metrics.csv")))
    return float(log["train_frames_per_s"].dropna().iloc[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "runs", "data", "xtb_radicals_test.extxyz"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--only", nargs="*", help="setting names to run (default all)")
    args = ap.parse_args()
    if not os.path.exists(args.data):
        sys.exit(f"error: no data at {args.data} (see this script's docstring)")
    print(f"# training throughput on {os.path.relpath(args.data, ROOT)}, {args.steps} steps, {machine()}")
    print("| setting | frames/s | × shipped |\n|---|---|---|")
    base = None
    for name, overrides in SETTINGS.items():
        if args.only and name not in args.only and name != SHIPPED:  # the ratio needs the shipped recipe
            continue
        workdir = tempfile.mkdtemp(prefix="e3d-throughput-")
        try:
            fps = run(overrides, os.path.abspath(args.data), args.steps, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        base = base or fps
        print(f"| {name} | {fps:.0f} | {fps / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
