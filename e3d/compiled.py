"""AOTInductor-compiled models that output ``edge_energy`` (faster inference).

Compilation freezes the network into a shared library; the per-type scales, shifts and
average neighbour counts that E3D needs are lost from view, so :func:`compile_model`
writes them to a sidecar ``<file>.e3d.json`` and :func:`load_compiled` reads them back.
TorchScript is refused by torch 2.13; AOTInductor is the supported path.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from .errors import ModelError

INPUT_FIELDS = ["pos", "edge_index", "atom_types", "cell", "edge_cell_shift", "batch", "num_atoms"]
OUTPUT_FIELDS = ["total_energy", "edge_energy"]
SIDECAR_SUFFIX = ".e3d.json"
EXAMPLE_SMILES = ("CCO", "c1ccccc1C(=O)N")  # realistic shapes for tracing


def sidecar_path(compiled_path: str) -> str:
    return compiled_path + SIDECAR_SUFFIX


def compile_model(model_path: str, out_path: str, device: str = "cpu") -> str:
    """Compile a package/checkpoint with AOTInductor (outputs total_energy and edge_energy)."""
    from nequip.data import AtomicDataDict
    from nequip.utils.aot import aot_export_model

    from .edges import molecule_to_data
    from .model import card_path, edge_constants_sidecar, load_model, read_card
    from .molecule import from_smiles

    if not out_path.endswith(".nequip.pt2"):
        raise ModelError("compiled model path must end with .nequip.pt2")
    model = load_model(model_path, device=device)
    mols = [m for m in map(from_smiles, EXAMPLE_SMILES) if set(m.symbols) <= set(model.type_names)]
    data = AtomicDataDict.batched_from_list([molecule_to_data(m, model) for m in mols * 2])
    data = AtomicDataDict.to_(data, model.device)
    batch_map = {
        "graph": torch.export.Dim("num_frames", min=2),
        "node": torch.export.Dim("num_nodes", min=2),
        "edge": torch.export.Dim("num_edges", min=2),
    }
    metadata = {k: str(v) for k, v in model.module.metadata.items()}
    aot_export_model(model=model.module, device=model.device, input_fields=INPUT_FIELDS,
                     output_fields=OUTPUT_FIELDS, data=data, batch_map=batch_map, output_path=out_path,
                     inductor_configs={"aot_inductor.metadata": metadata}, constant_fold=False, seed=1)
    sidecar = edge_constants_sidecar(model)
    sidecar["source_model"] = os.path.basename(model_path)
    with open(sidecar_path(out_path), "w") as fh:
        json.dump(sidecar, fh, indent=1)
    card = read_card(model_path)
    if card:
        with open(card_path(out_path), "w") as fh:
            json.dump(card, fh, indent=1)
    return out_path


def load_compiled(path: str, device: torch.device):
    from nequip.model.inference_models.aotinductor import load_aotinductor_model

    from .model import E3DModel, read_card

    side = sidecar_path(path)
    if not os.path.exists(side):
        raise ModelError(f"{path}: compiled model has no E3D sidecar {os.path.basename(side)}; "
                         "compile with `python -m e3d compile` so the edge factors travel with it")
    with open(side) as fh:
        meta = json.load(fh)
    try:
        module, _ = load_aotinductor_model(path, device, INPUT_FIELDS, OUTPUT_FIELDS)
    except Exception as exc:
        raise ModelError(f"could not load compiled model {path}: {exc}") from None
    return E3DModel(module=module, path=path, kind="aotinductor", type_names=list(meta["type_names"]),
                    r_max=float(meta["r_max"]), dtype=getattr(torch, meta["dtype"]), device=device,
                    scales=np.array(meta["scales"]), shifts=np.array(meta["shifts"]),
                    avg_num_neighbors=np.array(meta["avg_num_neighbors"]),
                    extra_energy_terms=list(meta["extra_energy_terms"]), card=read_card(path))
