"""The prepared GPU run (bench/gpu/run.sh), rehearsed end to end on the CPU at toy sizes.

The device machine gets the same script; this test keeps it working between the rare sessions that
are lent a GPU: every step must finish and leave its figures in results.json and summary.md.
"""

import json
import os
import subprocess
import sys

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
                          capture_output=True, text=True, timeout=400)
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
    summary = (out / "summary.md").read_text()
    for heading in ("Correctness", "Throughput", "Batch", "Training"):
        assert heading in summary
    assert len(os.listdir(out)) <= 8  # what the device tool brings back
