"""`python -m e3d batch`: same numbers as `bonds`, resumable shards, and DDP (2 CPU processes, gloo) = 1 process."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from e3d.cli import main
from e3d.errors import E3DError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMILES = ["CCO", "c1ccccc1", "C1CC", "CBr", "CC#N", "CCCC", "O", "CC(=O)N", "ClCC(F)O"]


@pytest.fixture
def smiles_csv(tmp_path):
    path = tmp_path / "mols.csv"
    pd.DataFrame({"smiles": SMILES, "name": [f"m{k}" for k in range(len(SMILES))]}).to_csv(path, index=False)
    return str(path)


def test_batch_equals_bonds(tiny_model_path, smiles_csv, tmp_path, capsys):
    out = str(tmp_path / "b.parquet")
    capsys.readouterr()
    assert main(["batch", smiles_csv, "--model", tiny_model_path, "-o", out, "--shard-size", "2"]) == 0
    printed = capsys.readouterr()
    assert "(5 shard(s), 2 with an error)" in printed.out and "  m2: invalid SMILES" in printed.out
    assert "m3: " in printed.out and "GPU available" not in printed.err + printed.out  # no Lightning banner
    batch = pd.read_parquet(out)
    errors = batch[batch["error"].notna()]
    assert sorted(errors["molecule"]) == ["m2", "m3"]  # invalid SMILES and Br, as rows with a message
    good = batch[batch["error"].isna()].drop(columns=["error"]).reset_index(drop=True)
    for k, smi in enumerate(SMILES):
        if k in (2, 3):
            continue
        assert main(["bonds", smi, "--model", tiny_model_path, "-o", str(tmp_path / f"{k}.csv")]) == 0
        one = pd.read_csv(tmp_path / f"{k}.csv")
        mine = good[good["molecule_id"] == k].reset_index(drop=True)
        assert list(mine[["i", "j"]].itertuples(index=False)) == list(one[["i", "j"]].itertuples(index=False))
        pd.testing.assert_series_equal(mine["D_ij"], one["D_ij"], check_names=False, atol=1e-9)
        assert (mine["bond_type"].fillna("") == one["bond_type"].fillna("")).all()
    assert list(batch["molecule_id"]) == sorted(batch["molecule_id"])  # input order


def test_batch_resumes_and_refuses_foreign_shards(tiny_model_path, smiles_csv, tmp_path):
    out = str(tmp_path / "b.parquet")
    assert main(["batch", smiles_csv, "--model", tiny_model_path, "-o", out, "--shard-size", "3"]) == 0
    first = pd.read_parquet(out)
    shard = os.path.join(out + ".parts", "shard-000001.parquet")
    os.remove(shard)
    stamp = os.path.getmtime(os.path.join(out + ".parts", "shard-000000.parquet"))
    assert main(["batch", smiles_csv, "--model", tiny_model_path, "-o", out, "--shard-size", "3"]) == 0
    assert os.path.exists(shard)
    assert os.path.getmtime(os.path.join(out + ".parts", "shard-000000.parquet")) == stamp  # not recomputed
    pd.testing.assert_frame_equal(pd.read_parquet(out), first)
    with pytest.raises(E3DError, match="another run"):
        from e3d.batch import run_batch

        run_batch(smiles_csv, tiny_model_path, out, shard_size=2, progress=False)


def test_batch_sdf_record_errors_are_rows_and_workers_change_nothing(tiny_model_path, tmp_path, capsys):
    """One malformed record used to refuse the whole SDF library; now it is an error row, the others are computed
    (records parsed in DataLoader workers or in the process itself: the same table)."""
    from rdkit import Chem

    from e3d.molecule import from_smiles, read_molecules

    blocks = []
    for k, smi in enumerate(["CCO", "CC#N", "CC(=O)N"]):
        mol = from_smiles(smi, name=f"m{k}")
        mol.rdmol.SetProp("_Name", mol.name)
        blocks.append(Chem.MolToMolBlock(mol.rdmol) + "$$$$\n")
    good = tmp_path / "good.sdf"
    good.write_text("".join(blocks))
    lib = tmp_path / "lib.sdf"
    lib.write_text(blocks[0] + "broken\n  not a counts line\n\nM  END\n$$$$\n" + blocks[1] + blocks[2])
    tables = []
    for workers in ("0", "1"):
        out = str(tmp_path / f"w{workers}.parquet")
        assert main(["batch", str(lib), "--model", tiny_model_path, "-o", out, "--shard-size", "2",
                     "--workers", workers]) == 0
        assert "(2 shard(s), 1 with an error)" in capsys.readouterr().out
        tables.append(pd.read_parquet(out))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    errors = tables[0][tables[0]["error"].notna()]
    assert list(errors["molecule"]) == ["broken"] and "record 2 is malformed" in errors["error"].iloc[0]
    rows = tables[0][tables[0]["error"].isna()]
    assert sorted(set(rows["molecule_id"])) == [0, 2, 3] and sorted(set(rows["molecule"])) == ["m0", "m1", "m2"]
    from e3d import edge_energies, load_model
    from e3d.pairs import pairs_for_molecules

    direct = pairs_for_molecules(edge_energies(load_model(tiny_model_path), read_molecules(str(good))))
    assert np.allclose(rows["D_ij"].to_numpy(), direct["D_ij"].to_numpy(), atol=1e-9)


@pytest.mark.slow
def test_ddp_two_processes_equal_one(tiny_model_path, smiles_csv, tmp_path):
    outs = []
    for devices in (1, 2):
        out = str(tmp_path / f"d{devices}.parquet")
        proc = subprocess.run([sys.executable, "-m", "e3d", "batch", smiles_csv, "--model", tiny_model_path,
                               "-o", out, "--shard-size", "2", "--devices", str(devices), "--accelerator", "cpu"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(pd.read_parquet(out))
    pd.testing.assert_frame_equal(outs[0], outs[1])


@pytest.mark.parametrize("args, message", [
    (["--devices", "4"], "9 molecule(s) in shards of 256 make 1 shard(s) for 4 processes, and each process needs one: "
                         "use --shard-size 2 or fewer"),
    (["--devices", "2", "--num-nodes", "5"], "for 10 processes, and each process needs one: use fewer"),
    (["--accelerator", "foo"], "--accelerator foo --devices 1: You selected an invalid accelerator name")])
def test_batch_refuses_more_processes_than_shards_and_unknown_accelerators(tiny_model_path, smiles_csv, tmp_path,
                                                                          args, message, capsys):
    """Fewer shards than processes crashed every DDP rank in Lightning's sampler (an AssertionError and a gloo
    hang-up); an accelerator Lightning refuses came as its own traceback. Refused first, nothing written."""
    out = tmp_path / "o.parquet"
    assert main(["batch", smiles_csv, "--model", tiny_model_path, "-o", str(out), *args]) == 2
    assert message in capsys.readouterr().err and not os.path.exists(str(out) + ".parts")
