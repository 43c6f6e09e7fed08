"""The prepared GPU run (bench/gpu/run.sh), rehearsed end to end on the CPU at toy sizes.

The device machine gets the same script; this test keeps it working between the rare sessions that
are lent a GPU: every step must finish and leave its figures in results.json and summary.md.
"""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_gpu_run_rehearsal_on_cpu(tmp_path):
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT, E3D_GPU_INPUTS=str(inputs), OUT=str(out))
    subprocess.run([sys.executable, "bench/gpu/run.py", "--export-inputs", str(inputs), "--n-train", "12"],
                   cwd=ROOT, env=env, check=True)
    proc = subprocess.run(["bash", "bench/gpu/run.sh", "--cpu", "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    steps = results["steps"]
    assert {k: v["status"] for k, v in steps.items()} == dict.fromkeys(
        ["correctness", "throughput", "batch", "train"], "ok"), (out / "log.txt").read_text()[-3000:]
    c = steps["correctness"]
    assert c["float64"]["max_abs_sum_rule_residual_eV"] < 1e-6 and c["float64_target_met"]
    assert all(r["e3d_mol_per_s"] > 0 and r["forward_mol_per_s"] > 0 for r in steps["throughput"]["rows"])
    assert steps["batch"]["pair_rows"] > steps["batch"]["molecules"]
    assert steps["train"]["trained"] and steps["train"]["epochs"] >= 1
    assert (out / "model.nequip.zip").exists() and (out / "model.card.json").exists() and (out / "curve.csv").exists()
    assert (out / "last.ckpt").exists() and "with_workers" in steps["batch"]  # to go on from; workers measured
    summary = (out / "summary.md").read_text()
    for heading in ("Correctness", "Throughput", "Batch", "Training"):
        assert heading in summary
    assert len(os.listdir(out)) <= 8  # what the device tool brings back

    # a later lent GPU goes on from this call's last checkpoint (the train step alone, a short second call)
    again = tmp_path / "again"
    again.mkdir()
    proc = subprocess.run(["bash", "bench/gpu/run.sh", "--cpu", "--quick", "--only", "train",
                           "--resume-from", str(out / "last.ckpt")], cwd=ROOT, env=dict(env, OUT=str(again)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    train = json.loads((again / "results.json").read_text())["steps"]["train"]
    assert train["status"] == "ok" and train["trained"], (again / "log.txt").read_text()[-3000:]
    first = pd.read_csv(out / "curve.csv")
    assert train["resumed"]["epoch"] >= first["epoch"].max() and train["resumed"]["step"] > 0
    assert pd.read_csv(again / "curve.csv")["epoch"].min() >= first["epoch"].max() > 0  # epochs go on, not afresh
    assert "went on from" in (again / "summary.md").read_text()
    bad = subprocess.run(["bash", "bench/gpu/run.sh", "--cpu", "--quick", "--resume-from", str(tmp_path / "none.ckpt")],
                         cwd=ROOT, env=dict(env, OUT=str(tmp_path)), capture_output=True, text=True)
    assert bad.returncode == 2 and "no such checkpoint" in bad.stdout


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_slim_tree_hides_what_the_gpu_run_does_not_read_and_restores_it(tmp_path):
    """bench/gpu/slim_tree.py on a small repo laid out like ours: the main model's closure (a sum of a package
    and a sum) and molecules.parquet stay; other models, tables and checkpoints leave the index and come back."""
    repo = tmp_path / "repo"
    models = repo / "precomputed" / "models"
    models.mkdir(parents=True)
    (repo / "bench" / "gpu").mkdir(parents=True)
    (repo / "bench" / "gpu" / "slim_tree.py").write_text(open(os.path.join(ROOT, "bench/gpu/slim_tree.py")).read())
    files = {"index.json": json.dumps({"main": "m.sum.json"}), "m.sum.json": json.dumps({"parts": ["a.nequip.zip",
             "b.sum.json"]}), "b.sum.json": json.dumps({"parts": ["c.nequip.zip", "d.nequip.zip"]}),
             "m.card.json": "{}", "a.nequip.zip": "a", "a.card.json": "{}", "c.nequip.zip": "c", "d.nequip.zip": "d",
             "other.nequip.zip": "o",
             "other.card.json": "{}"}
    for name, text in files.items():
        (models / name).write_text(text)
    (repo / "precomputed" / "molecules.parquet").write_text("m")
    (repo / "precomputed" / "pairs.parquet").write_text("p")
    (repo / "precomputed" / "study").mkdir()
    (repo / "precomputed" / "study" / "r.ckpt").write_text("r")
    (repo / ".gitignore").write_text("/.gpu_hidden/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    tree_before = sorted(_git(repo, "ls-files").split())

    def slim(verb):
        return subprocess.run([sys.executable, "bench/gpu/slim_tree.py", verb], cwd=repo, capture_output=True,
                              text=True)

    assert slim("hide").returncode == 0
    kept = sorted(_git(repo, "ls-files", "precomputed").split())
    assert kept == sorted(["precomputed/molecules.parquet"] + [f"precomputed/models/{n}" for n in (
        "index.json", "m.sum.json", "m.card.json", "a.nequip.zip", "a.card.json", "b.sum.json", "c.nequip.zip",
        "d.nequip.zip")])
    assert not (models / "other.nequip.zip").exists() and not (repo / "precomputed" / "pairs.parquet").exists()
    assert _git(repo, "ls-files", "-o", "--exclude-standard") == ""  # nothing hidden travels as untracked
    assert "restore` first" in slim("hide").stderr  # a second hide would lose the first's record
    assert slim("restore").returncode == 0
    assert sorted(_git(repo, "ls-files").split()) == tree_before
    assert _git(repo, "status", "--porcelain") == ""
    assert "nothing to restore" in slim("restore").stderr
