"""The prepared GPU run (issue #12), started by bench/gpu/run.sh: four time-boxed steps, results as they come.

1. correctness  edge energies of the evaluation molecules on the GPU equal the CPU's (per pair and
                total, float64 and float32; sum-rule residual)
2. throughput   molecules/s and peak memory against batch size, float32 and float64, the E3D pipeline
                (edge energies + pair tables) against the bare forward
3. batch        `python -m e3d batch` (Lightning) on a 50,000-molecule library of QM9 geometries
4. train        GFN2-xTB labels for the emergence data (QM9 parents, all CPU cores), then the emergence
                recipe trained on the GPU for the time left; the packaged model, its card and curve

Each step runs in its own process under a deadline; ``$OUT/results.json`` and ``$OUT/summary.md`` are
rewritten after every step, so whatever finishes comes back.  ``--cpu --quick`` rehearses the same
path on the CPU at toy sizes (tests/test_gpu_rehearsal.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INPUTS = os.environ.get("E3D_GPU_INPUTS") or os.path.join(ROOT, ".gpu_inputs")
LIBRARY = "qm9_library.sdf.gz"       # throughput / batch molecules (QM9 test split)
TRAIN_PARENTS = "qm9_train.sdf.gz"   # training parents (QM9 pool, held-out molecules excluded)
# (name, seconds on the device, seconds in a --quick rehearsal); train takes what is left
STEPS = (("correctness", 60, 120), ("throughput", 150, 120), ("batch", 150, 150), ("train", None, None))
TOTAL_S, QUICK_TOTAL_S = 540, 420  # the rehearsal shares the CPU with a second test process in CI: room to be slow
SIZES = {  # full run / --quick rehearsal
    "n_sweep": (20_000, 300), "batch_atoms": ((4096, 16384, 65536), (2048,)), "n_batch": (50_000, 400),
    # train batch 64 on 2026-12-04 (2,148 frames/s, 45.7 meV/atom after 3 min 48 s); 256 next: does a fuller GPU
    # learn faster per minute? (compare the curves at equal wall time).  Its learning rate scaled with the batch
    # (0.002 x sqrt(256 / 32)): on the CPU, three seeds converged as well as batch 32 (docs/STUDY_LOG.md, session 41)
    "n_train": (1_500, 12), "train_batch": (256, 8), "train_lr": (0.00566, 0.002), "n_check": (256, 8),
}


def size(key: str, quick: bool):
    return SIZES[key][1 if quick else 0]


# --------------------------------------------------------------------------- inputs (made here, carried there)


def export_inputs(folder: str, n_train: int, n_library: int = 2000) -> None:
    """QM9 molecules as gzip SDF (B3LYP geometries, bonds perceived): no qm9pack needed on the device."""
    from e3d.corpus import held_out
    from e3d.data.qm9 import perceived_molecule, qm9_parents, read_qm9, splits

    os.makedirs(folder, exist_ok=True)
    df = read_qm9()
    library = []
    for k in splits(len(df))["test"]:  # the library: QM9's test split, never trained on
        mol = perceived_molecule(df.iloc[int(k)])
        if mol is not None:
            mol.rdmol.SetProp("_Name", mol.name)
            library.append(mol.rdmol)
        if len(library) == n_library:
            break
    _write_sdf(os.path.join(folder, LIBRARY), library)
    parents = qm9_parents(n_train, exclude=held_out(), progress=False)
    for m in parents:
        m.rdmol.SetProp("_Name", m.name)
    _write_sdf(os.path.join(folder, TRAIN_PARENTS), [m.rdmol for m in parents])
    print(f"wrote {len(library)} library and {len(parents)} training molecules to {folder}")


def _write_sdf(path: str, mols) -> None:
    from rdkit import Chem

    with gzip.open(path, "wt") as fh:
        writer = Chem.SDWriter(fh)
        for m in mols:
            writer.write(m)
        writer.close()


def read_sdf_gz(path: str, limit: int | None = None):
    from e3d.molecule import molecules_from_sdf_text

    with gzip.open(path, "rt") as fh:
        mols = molecules_from_sdf_text(fh.read(), os.path.basename(path))
    return mols[:limit] if limit else mols


# --------------------------------------------------------------------------- steps


def device_name(cpu: bool) -> str:
    import torch

    if cpu or not torch.cuda.is_available():
        return f"CPU ({platform.machine()})"
    return torch.cuda.get_device_name(0)


def step_correctness(args) -> dict:
    """Per-pair and total edge energies, GPU against CPU, for the evaluation molecules."""
    import numpy as np
    import pandas as pd

    from e3d import edge_energies, load_model, pair_table
    from e3d.model import default_model_path
    from e3d.molecule import molecules_from_sdf_text

    blocks = pd.read_parquet(os.path.join(ROOT, "precomputed", "molecules.parquet"))["molblock"]
    mols = [molecules_from_sdf_text(b + "$$$$\n")[0] for b in blocks]
    dev = "cpu" if args.cpu else "cuda"
    out = {"molecules": len(mols), "device": device_name(args.cpu)}
    for dtype in ("float64", "float32"):
        ref = edge_energies(load_model(default_model_path(), device="cpu", dtype=dtype), mols)
        got = edge_energies(load_model(default_model_path(), device=dev, dtype=dtype), mols)
        pair_diff = max(float(np.max(np.abs(pair_table(a)["eps_ij"].to_numpy() - pair_table(b)["eps_ij"].to_numpy())))
                        for a, b in zip(ref, got))
        out[dtype] = {"max_abs_pair_diff_eV": pair_diff,
                      "max_abs_total_diff_eV": max(abs(a.total_energy - b.total_energy) for a, b in zip(ref, got)),
                      "max_abs_sum_rule_residual_eV": max(abs(b.residual) for b in got)}
    out["float64_target_met"] = out["float64"]["max_abs_pair_diff_eV"] <= 1e-8
    return out


def library(n: int, quick: bool):
    """n molecules: the carried QM9 library, repeated (same geometries; the GPU sees the same work)."""
    path = os.path.join(INPUTS, LIBRARY)
    base = read_sdf_gz(path, None if not quick else 50)
    return [base[k % len(base)] for k in range(n)]


def step_throughput(args) -> dict:
    import torch
    from nequip.data import AtomicDataDict

    from e3d import edge_energies, load_model
    from e3d.edges import molecules_to_data, pack_batches
    from e3d.model import default_model_path
    from e3d.pairs import pairs_for_molecules

    dev = "cpu" if args.cpu else "cuda"
    mols = library(size("n_sweep", args.quick), args.quick)
    cuda = dev == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows = []
    for dtype in ("float32", "float64"):
        model = load_model(default_model_path(), device=dev, dtype=dtype)
        for batch_atoms in size("batch_atoms", args.quick):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            batches = [AtomicDataDict.to_(molecules_to_data([mols[k] for k in g], model), model.device)
                       for g in pack_batches(mols, batch_atoms)]
            with torch.no_grad(), model.energy_only():
                model.module(batches[0])  # warm-up
                sync()
                t0 = time.perf_counter()
                for b in batches:
                    model.module(b)
                sync()
            t_fwd = time.perf_counter() - t0
            t0 = time.perf_counter()
            pairs_for_molecules(edge_energies(model, mols, max_batch_atoms=batch_atoms))
            sync()
            t_e3d = time.perf_counter() - t0
            rows.append({"dtype": dtype, "batch_atoms": batch_atoms, "molecules": len(mols),
                         "e3d_mol_per_s": len(mols) / t_e3d, "forward_mol_per_s": len(mols) / t_fwd,
                         "e3d_over_forward": t_e3d / t_fwd,
                         "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None})
            _save_partial(args.out, "throughput", {"device": device_name(args.cpu), "rows": rows})
    return {"device": device_name(args.cpu), "rows": rows}


def step_batch(args) -> dict:
    from rdkit import Chem

    n = size("n_batch", args.quick)
    lib = os.path.join(args.work, "library.sdf")
    t0 = time.perf_counter()
    with open(lib, "w") as fh:
        writer = Chem.SDWriter(fh)
        for m in library(n, args.quick):
            writer.write(m.rdmol)
        writer.close()
    t_write = time.perf_counter() - t0
    out_path = os.path.join(args.work, "library_pairs.parquet")
    cmd = [sys.executable, "-m", "e3d", "batch", lib, "-o", out_path, "--dtype", "float32",
           "--accelerator", "cpu" if args.cpu else "gpu", "--shard-size", "2048" if not args.quick else "100"]

    def run(extra):  # one `e3d batch` afresh → (wall s, pair rows)
        shutil.rmtree(out_path + ".parts", ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd + extra, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"e3d batch failed: {proc.stderr[-2000:]}")
        import pyarrow.parquet as pq

        return time.perf_counter() - t0, pq.ParquetFile(out_path).metadata.num_rows

    wall, rows = run([])  # the default: everything in one process
    out = {"molecules": n, "pair_rows": rows, "wall_s": wall, "molecules_per_s": n / wall, "library_write_s": t_write,
           "command": " ".join(cmd[1:]), "target_met": (not args.quick) and n / wall >= 20_000}
    _save_partial(args.out, "batch", out)
    workers = 1 if args.quick else min(8, (os.cpu_count() or 2) - 1)
    if args.deadline - time.time() > 1.5 * wall:  # the molecules read in DataLoader workers: does it pay on a GPU?
        wall_w, _ = run(["--workers", str(workers)])
        out["with_workers"] = {"workers": workers, "wall_s": wall_w, "molecules_per_s": n / wall_w}
    return out


def step_train(args) -> dict:
    """GFN2-xTB labels on every CPU core, then the emergence recipe on the GPU for the time left."""
    import ase.io

    from e3d.data.build import build_dataset, xtb_labeller
    from e3d.train import train

    deadline = args.deadline
    parents = read_sdf_gz(os.path.join(INPUTS, TRAIN_PARENTS), size("n_train", args.quick))
    data = os.path.join(args.work, "train.extxyz")
    t0 = time.perf_counter()
    workers = 1 if args.quick else max(1, (os.cpu_count() or 2) - 1)
    prov = build_dataset(parents, data, xtb_labeller(), variant="radicals", seed=0, n_thermal=4, n_stretch=3,
                         n_radical_bonds=1, progress=False, workers=workers)
    t_label = time.perf_counter() - t0
    _save_partial(args.out, "train", {"frames": prov["n_frames"], "labelling_s": t_label, "workers": workers})
    # packaging and the card (its held-out errors are measured on the CPU: a small in-sample slice,
    # not the whole set, which took minutes there on 2026-11-30)
    left = deadline - time.time() - (120 if not args.quick else 45)
    if left < 30:
        return {"frames": prov["n_frames"], "labelling_s": t_label, "trained": False, "why": "no time left"}
    if args.quick:
        left = min(left, 60)  # the rehearsal proves the path, not the model: a minute of training
    hh, rem = divmod(int(left), 3600)
    mm, ss = divmod(rem, 60)
    check = os.path.join(args.work, "check.extxyz")
    ase.io.write(check, ase.io.read(data, index=f":{size('n_check', args.quick)}"))
    overrides = [f"trainval_file={data}", f"test_file={check}", "run=[train]",
                 f"trainer.max_time=00:{hh:02d}:{mm:02d}:{ss:02d}", "trainer.enable_progress_bar=false",
                 f"data.train_dataloader.batch_size={size('train_batch', args.quick)}",
                 f"training_module.optimizer.lr={size('train_lr', args.quick)}"]
    if left < 600:  # a --quick rehearsal too (its minute of training above)
        # torch.compile costs minutes before the first step: on 2026-12-04 no step had finished 193 s after
        # TRAIN RUN START (316 s box, 3,000 parents), so a short box trains eager (same model, same maths)
        overrides += ["training_module.model.compile_mode=eager"]
    model = os.path.join(args.out, "model.nequip.zip")
    run_dir = os.path.join(args.work, "run")
    resumed = resume_point(args.resume_from, run_dir) if args.resume_from else None
    t0 = time.perf_counter()
    card = train(os.path.join(ROOT, "configs", "emergence.yaml"), run_dir, model, model_id="gpu-emergence-qm9",
                 overrides=overrides, resume=resumed is not None)
    from e3d.study import read_curve

    curve = read_curve(run_dir)
    curve.to_csv(os.path.join(args.out, "curve.csv"), index=False)
    if os.path.exists(os.path.join(run_dir, "last.ckpt")):  # for a later lent GPU to go on from
        shutil.copy(os.path.join(run_dir, "last.ckpt"), os.path.join(args.out, "last.ckpt"))
    return {"frames": prov["n_frames"], "labelling_s": t_label, "workers": workers, "trained": True,
            "resumed": resumed, "train_wall_s": time.perf_counter() - t0, "epochs": int(len(curve)),
            "validation": (card.get("metrics") or {}).get("validation"),
            "frames_per_s_last_epoch": float(curve["train_frames_per_s"].dropna().iloc[-1])
            if "train_frames_per_s" in curve and curve["train_frames_per_s"].notna().any() else None}


def resume_point(checkpoint: str, run_dir: str) -> dict:
    """Lay a previous lent GPU's ``last.ckpt`` into RUN_DIR to go on from (each lent GPU trains minutes: a model
    worth shipping needs them added up).  Its Timer is reset, so that this call's ``max_time`` is this call's time;
    it is also the fallback ``best.ckpt`` to package should no validation of this call beat the last one."""
    from e3d.study import restart_timer

    os.makedirs(run_dir, exist_ok=True)
    last = os.path.join(run_dir, "last.ckpt")
    shutil.copy(checkpoint, last)
    ckpt = restart_timer(last)
    shutil.copy(last, os.path.join(run_dir, "best.ckpt"))
    return {"from": os.path.relpath(os.path.abspath(checkpoint), ROOT), "epoch": int(ckpt.get("epoch", 0)),
            "step": int(ckpt.get("global_step", 0))}


# --------------------------------------------------------------------------- orchestration


def _results_path(out: str) -> str:
    return os.path.join(out, "results.json")


def _load(out: str) -> dict:
    path = _results_path(out)
    return json.load(open(path)) if os.path.exists(path) else {}


def _save_partial(out: str, step: str, value: dict) -> None:
    results = _load(out)
    results.setdefault("steps", {})[step] = {"status": "running", **value}
    json.dump(results, open(_results_path(out), "w"), indent=1, default=str)


def summary_markdown(results: dict) -> str:
    meta = results.get("meta", {})
    lines = [f"# E3D GPU run — {meta.get('date', '')}", "",
             f"device: {meta.get('device')}; torch {meta.get('torch')}; command: `{meta.get('command')}`", ""]
    steps = results.get("steps", {})
    c = steps.get("correctness", {})
    if c.get("status") == "ok":
        lines += ["## Correctness (GPU vs CPU, evaluation molecules)", "",
                  "| dtype | max \\|Δε_ij\\| (eV) | max \\|ΔE\\| (eV) | max sum-rule residual (eV) |", "|---|---|---|---|"]
        for dt in ("float64", "float32"):
            d = c[dt]
            lines.append(f"| {dt} | {d['max_abs_pair_diff_eV']:.2e} | {d['max_abs_total_diff_eV']:.2e} | "
                         f"{d['max_abs_sum_rule_residual_eV']:.2e} |")
        lines.append("")
    t = steps.get("throughput", {})
    if t.get("rows"):
        lines += ["## Throughput (QM9 molecules)", "",
                  "| dtype | batch atoms | E3D mol/s | forward mol/s | E3D / forward | peak GiB |", "|---|---|---|---|---|---|"]
        for r in t["rows"]:
            peak = f"{r['peak_gib']:.2f}" if r.get("peak_gib") is not None else "–"
            lines.append(f"| {r['dtype']} | {r['batch_atoms']} | {r['e3d_mol_per_s']:.0f} | {r['forward_mol_per_s']:.0f} "
                         f"| {r['e3d_over_forward']:.2f} | {peak} |")
        lines.append("")
    b = steps.get("batch", {})
    if b.get("status") == "ok":
        lines += ["## Batch (Lightning)", "", f"`{b['command']}`: {b['molecules']} molecules, {b['pair_rows']} pair rows "
                  f"in {b['wall_s']:.1f} s ({b['molecules_per_s']:.0f} molecules/s)"
                  + (f"; with `--workers {b['with_workers']['workers']}` {b['with_workers']['wall_s']:.1f} s "
                     f"({b['with_workers']['molecules_per_s']:.0f} molecules/s)" if b.get("with_workers") else ""), ""]
    tr = steps.get("train", {})
    val = tr.get("validation") or {}
    if tr.get("trained"):
        lines += ["## Training (emergence recipe)", "", f"{tr['frames']} GFN2-xTB frames labelled in {tr['labelling_s']:.0f} s "
                  f"on {tr['workers']} CPU workers; "
                  + (f"went on from `{tr['resumed']['from']}` (epoch {tr['resumed']['epoch']}, step "
                     f"{tr['resumed']['step']}); " if tr.get("resumed") else "")
                  + f"trained {tr['epochs']} epochs in {tr['train_wall_s']:.0f} s "
                  f"({tr.get('frames_per_s_last_epoch') or 0:.0f} frames/s); validation energy "
                  f"{1000 * val.get('per_atom_energy_mae', float('nan')):.1f} meV/atom, forces "
                  f"{val.get('forces_mae', float('nan')):.3f} eV/Å", ""]
    lines += ["## Step status", "", "| step | status | seconds |", "|---|---|---|"]
    for name, s in steps.items():
        lines.append(f"| {name} | {s.get('status')} | {s.get('seconds', 0):.0f} |")
    return "\n".join(lines) + "\n"


def orchestrate(args) -> int:
    import torch

    os.makedirs(args.out, exist_ok=True)
    work = args.work or os.path.join("/tmp", "e3d-gpu-run")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    total = QUICK_TOTAL_S if args.quick else TOTAL_S
    start = time.time()
    results = {"meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": device_name(args.cpu),
                        "torch": torch.__version__, "command": "bench/gpu/run.sh " + " ".join(sys.argv[1:]),
                        "quick": args.quick}, "steps": {}}
    json.dump(results, open(_results_path(args.out), "w"), indent=1)
    log = open(os.path.join(args.out, "log.txt"), "w")
    for name, box, quick_box in STEPS:
        if args.only and name not in args.only:
            continue
        box = quick_box if args.quick else box
        left = total - (time.time() - start)
        limit = left if box is None else min(box, left)
        if limit < 20:
            results = _load(args.out)
            results["steps"][name] = {"status": "skipped (no time left)"}
            json.dump(results, open(_results_path(args.out), "w"), indent=1)
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--step", name, "--out", args.out, "--work", work,
               "--deadline", str(time.time() + limit)] + (["--cpu"] if args.cpu else []) + (["--quick"] if args.quick else [])
        cmd += ["--resume-from", os.path.abspath(args.resume_from)] if args.resume_from else []
        t0 = time.time()
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=limit, cwd=ROOT)
            status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode}; see log.txt)"
        except subprocess.TimeoutExpired:
            status = f"stopped at its {limit:.0f} s box"
        results = _load(args.out)
        step = results["steps"].setdefault(name, {})
        if step.get("status") in (None, "running") or status != "ok":
            step["status"] = status if step.get("status") != "ok" else "ok"
        step["seconds"] = time.time() - t0
        json.dump(results, open(_results_path(args.out), "w"), indent=1, default=str)
        with open(os.path.join(args.out, "summary.md"), "w") as fh:
            fh.write(summary_markdown(results))
        print(f"{name}: {step['status']} ({step['seconds']:.0f} s)", flush=True)
    print(open(os.path.join(args.out, "summary.md")).read())
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT"))
    ap.add_argument("--cpu", action="store_true", help="rehearse on the CPU")
    ap.add_argument("--quick", action="store_true", help="toy sizes (the rehearsal)")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--export-inputs", help="write the carried QM9 inputs into this folder (run here)")
    ap.add_argument("--n-train", type=int, default=SIZES["n_train"][0])
    ap.add_argument("--resume-from", help="the train step goes on from this checkpoint (a previous lent GPU's "
                    "last.ckpt, committed under bench/gpu/results/) instead of fresh weights")
    ap.add_argument("--only", type=lambda v: v.split(","), help="these steps only (comma-separated), e.g. a short "
                    "second call: --only batch")
    args = ap.parse_args()
    if args.export_inputs:
        export_inputs(args.export_inputs, args.n_train)
        return 0
    if not args.out:
        ap.error("--out (or $OUT) is required")
    if not os.path.exists(os.path.join(INPUTS, LIBRARY)):
        print(f"error: {INPUTS} is missing: run bench/gpu/prepare.sh first (and carry .gpu_inputs)")
        return 2
    if args.resume_from and not os.path.isfile(args.resume_from):
        print(f"error: --resume-from {args.resume_from}: no such checkpoint")
        return 2
    if not args.step:
        return orchestrate(args)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    fn = {"correctness": step_correctness, "throughput": step_throughput, "batch": step_batch, "train": step_train}
    value = fn[args.step](args)
    results = _load(args.out)
    results.setdefault("steps", {})[args.step] = {**value, "status": "ok"}
    json.dump(results, open(_results_path(args.out), "w"), indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
