"""AOTInductor-compiled models that output ``edge_energy`` (faster inference).

Compilation freezes the network into a shared library; the per-type scales, shifts and
average neighbour counts that E3D needs are lost from view, so :func:`compile_model`
writes them to a sidecar ``<file>.e3d.json`` and :func:`e3d.model.load_compiled` reads them back.
TorchScript is refused by torch 2.13; AOTInductor is the supported path.
"""

from __future__ import annotations

import json
import os

import torch

from .errors import ModelError

from .model import COMPILED_INPUT_FIELDS as INPUT_FIELDS
from .model import COMPILED_OUTPUT_FIELDS as OUTPUT_FIELDS
from .model import sidecar_path

EXAMPLE_SMILES = ("CCO", "c1ccccc1C(=O)N")  # realistic shapes for tracing


def compile_model(model_path: str, out_path: str, device: str = "cpu") -> str:
    """Compile a package/checkpoint with AOTInductor (outputs total_energy and edge_energy)."""
    from nequip.data import AtomicDataDict
    from nequip.utils.aot import aot_export_model

    from .edges import molecules_to_data
    from .cards import card_path, read_card
    from .model import edge_constants_sidecar, load_model
    from .molecule import from_smiles

    if not out_path.endswith(".nequip.pt2"):
        raise ModelError("compiled model path must end with .nequip.pt2")
    model = load_model(model_path, device=device)
    if model.parts:
        raise ModelError(f"{model_path} is a sum of models: compile each part (its models add at run time)")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)  # as every other output path
    mols = [m for m in map(from_smiles, EXAMPLE_SMILES) if set(m.symbols) <= set(model.type_names)]
    data = AtomicDataDict.to_(molecules_to_data(mols * 2, model), model.device)
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
