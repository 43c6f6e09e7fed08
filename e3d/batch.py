"""Library-scale E3D: Lightning ``Trainer.predict`` over shards of molecules → Parquet.

The input (SMILES .smi/.csv, or an SDF cut into its records) is cut into shards of ``shard_size``
molecules in input order.  Each shard is one predict step: reading the molecules — 3D embedding of
SMILES, parsing of SDF records, each molecule's SMILES and bond arrays — in the DataLoader workers,
then the batched edge-energy computation of :mod:`e3d.edges`, then one Parquet file
``OUT.parts/shard-NNNNNN.parquet``.  Shards already on disk are skipped, so an interrupted
run resumes; with several devices or nodes (Lightning DDP) each rank takes its own shards.
At the end, rank 0 concatenates the shards in order into ``OUT`` — the same rows as
``python -m e3d bonds`` molecule by molecule.
"""

from __future__ import annotations

import functools
import glob
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from .errors import E3DError, InputError
from .molecule import (DEFAULT_MAX_ATOMS, Molecule, decode_text, from_smiles, molecule_from_sdf_record, sdf_record_name,
                       sdf_records, smiles_from_table_text)

ERROR_COLUMNS = ["molecule_id", "molecule", "smiles", "error"]


def read_entries(path: str) -> List[Tuple[str, object]]:
    """(name, SMILES or a parser of one SDF record) per input record, in order."""
    ext = os.path.splitext(path.lower())[1]
    if not os.path.exists(path):
        raise InputError(f"file not found: {path}")
    if ext in (".smi", ".csv"):
        with open(path, "rb") as fh:
            return smiles_from_table_text(decode_text(fh.read(), path), path)
    if ext in (".sdf", ".mol"):  # records parsed in the workers, each on its own: a malformed one is an error row
        with open(path, "rb") as fh:
            records = sdf_records(decode_text(fh.read(), path))
        what = os.path.basename(path)
        return [(sdf_record_name(r, k, what), functools.partial(molecule_from_sdf_record, r, k, what))
                for k, r in enumerate(records)]
    raise InputError(f"{path}: batch input must be .smi, .csv (smiles column) or .sdf")


class ShardDataset(torch.utils.data.Dataset):
    """Item k = shard k: its molecules embedded in 3D (failures kept as per-molecule errors)."""

    def __init__(self, entries: Sequence[Tuple[str, object]], shard_size: int, parts_dir: str,
                 max_atoms: int = DEFAULT_MAX_ATOMS):
        self.entries, self.shard_size, self.parts_dir, self.max_atoms = list(entries), shard_size, parts_dir, max_atoms
        self.n_shards = (len(self.entries) + shard_size - 1) // shard_size

    def __len__(self):
        return self.n_shards

    def __getitem__(self, k: int):
        if os.path.exists(shard_path(self.parts_dir, k)):
            return {"shard": k, "molecules": [], "errors": [], "done": True}
        start = k * self.shard_size
        molecules, errors = [], []
        for offset, (name, item) in enumerate(self.entries[start:start + self.shard_size]):
            mol_id = start + offset
            try:
                mol = from_smiles(item, name=name, max_atoms=self.max_atoms) if isinstance(item, str) else item()
                warm_caches(mol)
                molecules.append((mol_id, mol))
            except E3DError as exc:
                errors.append({"molecule_id": mol_id, "molecule": name,
                               "smiles": item if isinstance(item, str) else "", "error": str(exc)})
        return {"shard": k, "molecules": molecules, "errors": errors, "done": False}


def warm_caches(mol) -> None:
    """Compute here (in a DataLoader worker) what the pair tables read of each molecule — its SMILES and bond
    arrays (which fill its symbols), cached on it and pickled back with it — so the process that holds the model
    does not."""
    from .pairs import bond_arrays

    _ = mol.smiles
    bond_arrays(mol)


def keep_list(items):
    """DataLoader collate: shards stay Python objects (molecules), not tensors."""
    return items


def shard_path(parts_dir: str, k: int) -> str:
    return os.path.join(parts_dir, f"shard-{k:06d}.parquet")


def shard_table(model, molecules: List[Tuple[int, Molecule]], errors: List[Dict], max_atoms: int) -> pd.DataFrame:
    """Pairs of one shard's molecules (one batched computation), errors as rows with an ``error``."""
    from .edges import edge_energies
    from .molecule import validate
    from .pairs import pairs_for_molecules

    good, ids = [], []
    errors = list(errors)
    for mol_id, mol in molecules:
        try:
            validate(mol, model.usable_type_names, max_atoms)
            good.append(mol)
            ids.append(mol_id)
        except E3DError as exc:
            errors.append({"molecule_id": mol_id, "molecule": mol.label, "smiles": mol.smiles, "error": str(exc)})
    table = pairs_for_molecules(edge_energies(model, good, max_atoms=max_atoms)) if good else pd.DataFrame()
    if len(table):
        table["molecule_id"] = table["molecule_id"].map(dict(enumerate(ids)))
        table["error"] = None
    if errors:
        table = pd.concat([table, pd.DataFrame(errors, columns=ERROR_COLUMNS)], ignore_index=True)
    keys = [c for c in ("molecule_id", "i", "j") if c in table.columns]  # a shard of errors only has no i, j
    return table.sort_values(keys, na_position="first", kind="stable").reset_index(drop=True) if len(table) else table


def _lightning_module(model_path: str, parts_dir: str, max_atoms: int, dtype: Optional[str] = None):
    import lightning

    class E3DPredictor(lightning.LightningModule):
        """predict_step = one shard → one Parquet file (nothing is gathered in memory)."""

        def __init__(self):
            super().__init__()
            self.e3d_model = None

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            # molecules, not tensors: e3d.edges moves each packed batch itself.  Lightning's own transfer walks
            # every molecule as a collection and rebuilds it (a dataclass): ~0.2 ms a molecule, and the caches the
            # workers filled (warm_caches) were lost
            return batch

        def predict_step(self, batch, batch_idx):
            item = batch[0]
            if item["done"]:
                return 0
            if self.e3d_model is None:  # loaded lazily, on this rank's device
                from .model import load_model

                self.e3d_model = load_model(model_path, device=str(self.device), dtype=dtype)
            table = shard_table(self.e3d_model, item["molecules"], item["errors"], max_atoms)
            tmp = shard_path(parts_dir, item["shard"]) + ".tmp"
            table.to_parquet(tmp, index=False)
            os.replace(tmp, shard_path(parts_dir, item["shard"]))  # atomic: a shard is either whole or absent
            return len(item["molecules"])

    return E3DPredictor()


def run_batch(input_path: str, model_path: str, out_path: str, shard_size: int = 256, devices: int = 1,
              num_nodes: int = 1, accelerator: str = "auto", num_workers: int = 0,
              max_atoms: int = DEFAULT_MAX_ATOMS, progress: bool = True, dtype: Optional[str] = None
              ) -> Dict[str, object]:
    """Compute pair tables for every molecule of INPUT with Lightning; write OUT (.parquet).

    ``num_workers``: DataLoader workers reading the molecules (0: this process; on 2 CPU cores workers gain
    nothing, `python bench/batch_throughput.py`; on a GPU not measured yet: bench/gpu/run.py's batch step runs both)."""
    import lightning

    if not out_path.endswith(".parquet"):
        raise InputError("batch output must be a .parquet file")
    entries = read_entries(input_path)
    parts_dir = out_path + ".parts"
    dataset = ShardDataset(entries, shard_size, parts_dir, max_atoms)  # nothing on disk yet
    processes, n_shards = devices * num_nodes, dataset.n_shards
    if n_shards < processes:  # Lightning's distributed sampler asserts, in every rank, that each has a shard
        fix = (f"use --shard-size {len(entries) // processes} or fewer" if len(entries) >= processes
               else "use fewer")
        raise InputError(f"{len(entries)} molecule(s) in shards of {shard_size} make {n_shards} shard(s) for "
                         f"{processes} processes, and each process needs one: {fix} --devices/--num-nodes")
    strategy = "ddp" if processes > 1 else "auto"
    _quiet_lightning()
    try:
        trainer = lightning.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
                                    logger=False, enable_progress_bar=progress, enable_checkpointing=False,
                                    use_distributed_sampler=True, inference_mode=True)
    except Exception as exc:  # Lightning's MisconfigurationException/ValueError: no such accelerator or devices here
        raise E3DError(f"--accelerator {accelerator} --devices {devices}: {exc}") from None
    os.makedirs(parts_dir, exist_ok=True)
    _check_manifest(parts_dir, input_path, model_path, shard_size, len(entries), dtype)
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False, num_workers=num_workers,
                                         collate_fn=keep_list)
    trainer.predict(_lightning_module(model_path, parts_dir, max_atoms, dtype), dataloaders=loader, return_predictions=False)
    trainer.strategy.barrier()  # every rank has written its shards
    if trainer.global_rank != 0:
        return {}
    missing = [k for k in range(dataset.n_shards) if not os.path.exists(shard_path(parts_dir, k))]
    if missing:
        raise E3DError(f"{len(missing)} shard(s) missing after the run (e.g. {missing[:3]}); run again to resume")
    rows, failed = concatenate_shards([shard_path(parts_dir, k) for k in range(dataset.n_shards)], out_path)
    return {"molecules": len(entries), "shards": dataset.n_shards, "rows": rows, "errors": len(failed),
            "failed": failed}


def shard_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for every shard: a pair shard's columns first (then any other's), a column that is a dictionary
    (pandas categorical) in one shard a dictionary with int32 indices in all, an empty column (``error`` in a shard
    without errors) typed as where it holds values."""
    fields: Dict[str, pa.DataType] = {}
    for schema in sorted(schemas, key=lambda sc: "i" not in sc.names):
        for f in schema.remove_metadata():
            old = fields.get(f.name)
            if pa.types.is_dictionary(f.type):
                fields[f.name] = pa.dictionary(pa.int32(), f.type.value_type)
            elif old is None or pa.types.is_null(old):
                fields[f.name] = f.type
    return pa.schema(list(fields.items()))


def concatenate_shards(paths: Sequence[str], out_path: str) -> Tuple[int, pd.DataFrame]:
    """The shards, in order, into one Parquet file, one row group each: a library's table is never whole in memory
    (pandas' concat of 50,000 molecules' 3.7 million rows held them all, twice).  → (rows, the error rows)."""
    schema = shard_schema([pq.read_schema(p) for p in paths]) if paths else pa.schema([])
    rows, failed = 0, []
    tmp = out_path + ".tmp"
    with pq.ParquetWriter(tmp, schema) as writer:
        for path in paths:
            table = pq.read_table(path)
            table = pa.table([table[f.name].cast(f.type) if f.name in table.column_names
                              else pa.nulls(len(table), f.type) for f in schema], schema=schema)
            writer.write_table(table)
            rows += len(table)
            if "error" in schema.names:
                failed.append(table.select(ERROR_COLUMNS).filter(pc.is_valid(table["error"])).to_pandas())
    os.replace(tmp, out_path)
    failed = pd.concat(failed, ignore_index=True) if failed else pd.DataFrame(columns=ERROR_COLUMNS)
    return rows, failed


def _quiet_lightning() -> None:
    """Keep Lightning's banner (GPU/TPU available, logger tips) and a deprecation warning of its own code out of
    the command's output; its warnings about the run itself still show."""
    import logging
    import warnings

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)


def _check_manifest(parts_dir: str, input_path: str, model_path: str, shard_size: int, n: int,
                    dtype: Optional[str] = None) -> None:
    """Resuming is only safe with the same input, model, precision and sharding: refuse otherwise."""
    manifest = {"input": os.path.abspath(input_path), "model": os.path.abspath(model_path),
                "shard_size": shard_size, "n_molecules": n, "dtype": dtype or "as trained"}
    path = os.path.join(parts_dir, "manifest.json")
    if os.path.exists(path):
        with open(path) as fh:
            old = json.load(fh)
        if old != manifest and glob.glob(os.path.join(parts_dir, "shard-*.parquet")):
            raise E3DError(f"{parts_dir} holds shards of another run ({old}); delete it or choose another output")
    try:
        with open(path, "w") as fh:
            json.dump(manifest, fh, indent=1)
    except OSError:
        pass
