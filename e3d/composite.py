"""A weighted sum of models on one graph, read as one model: a GFN2-xTB model plus a Δ model
(Δ-learning), or the mean of a recipe's seeds (a seed ensemble).

    E = Σ_m w_m E_m,   F = Σ_m w_m F_m,   e_{i→j} = Σ_m w_m f_{m,t_i} · ẽ_{m,ij}   (f_m: part m's edge factor)

The parts must share a cutoff and type list, so each edge i→j is the same edge in every part and
the physical edge energies add edge by edge; the sum rule holds with μ_t = Σ_m w_m μ_{m,t}
(docs/E3D_METHOD.md §4i).  A sum is a small JSON file, ``NAME.sum.json``::

    {"parts": ["xtb-emergence-4k.nequip.zip", "delta-heavy4.nequip.zip"]}
    {"parts": ["dft-locdelta.sum.json", "dft-locdelta-seed2.sum.json", "dft-locdelta-seed3.sum.json"],
     "weights": [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]}

(paths relative to the file; a part may itself be a sum; weights 1 when not given), with a model card
``NAME.card.json`` beside it like any model.  The wrapped module outputs physical edge energies, so the
sum's own edge factor is 1; :func:`e3d.model.load_model` loads a sum file like any model.  Each part's own
physical edge energies (unweighted) come out of the same pass under :data:`PART_EDGE_ENERGY_KEY`, one column
per part: the parts' D_ij beside the sum's without running them again (:mod:`e3d.pairs`).
"""

from __future__ import annotations

import json
import os
from typing import List, Sequence, Tuple

import numpy as np
import torch

from .errors import ModelError

SUM_SUFFIX = ".sum.json"
PART_EDGE_ENERGY_KEY = "e3d_part_edge_energy"  # (edges, parts): part m's physical e_{i→j}, before its weight


class SumOfModels(torch.nn.Module):
    """nequip modules run on the same data dict; energies, forces and physical edge energies added,
    part m's times its weight w_m."""

    def __init__(self, modules: List[torch.nn.Module], edge_factors: np.ndarray, type_names: List[str],
                 metadata: dict, weights: Sequence[float]):
        super().__init__()
        self.parts = torch.nn.ModuleList(modules)
        self.weights = [float(w) for w in weights]
        self.register_buffer("edge_factors", torch.as_tensor(np.asarray(edge_factors), dtype=torch.float64))
        self.type_names = type_names
        self.metadata = metadata

    def forward(self, data):
        from nequip.data import AtomicDataDict

        outs = [part(dict(data)) for part in self.parts]  # a shallow copy each: every part adds its own keys
        out = dict(outs[0])
        for key in (AtomicDataDict.TOTAL_ENERGY_KEY, AtomicDataDict.FORCE_KEY, AtomicDataDict.PER_ATOM_ENERGY_KEY):
            if all(key in o for o in outs):
                out[key] = sum(w * o[key] for w, o in zip(self.weights, outs))
            else:  # never one part's share passed off as the sum
                out.pop(key, None)
        src_types = data[AtomicDataDict.ATOM_TYPE_KEY][data[AtomicDataDict.EDGE_INDEX_KEY][0]]
        parts = torch.stack([self.edge_factors[k][src_types] * o[AtomicDataDict.EDGE_ENERGY_KEY].reshape(-1).double()
                             for k, o in enumerate(outs)], dim=1)
        out[AtomicDataDict.EDGE_ENERGY_KEY] = parts @ parts.new_tensor(self.weights)
        out[PART_EDGE_ENERGY_KEY] = parts  # replaces a nested sum's own: these are this sum's parts
        return out


def is_sum_path(path: str) -> bool:
    return str(path).endswith(SUM_SUFFIX)


def _spec(path: str) -> dict:
    try:
        with open(path) as fh:
            spec = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable sum of models ({exc})") from None
    parts = spec.get("parts") if isinstance(spec, dict) else None
    if not isinstance(parts, list) or len(parts) < 2 or not all(isinstance(p, str) for p in parts):
        raise ModelError(f'{path}: a sum of models needs "parts": a list of at least two model files')
    weights = spec.get("weights", [1.0] * len(parts))
    if (not isinstance(weights, list) or len(weights) != len(parts)
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and np.isfinite(w) for w in weights)):
        raise ModelError(f'{path}: "weights" must be a list of {len(parts)} numbers, one per part')
    return {"parts": parts, "weights": [float(w) for w in weights]}


def read_sum(path: str) -> Tuple[List[str], List[float]]:
    """The part models a sum file names, as paths (relative entries resolved against its folder), and their
    weights (1 each unless it says ``"weights"``)."""
    spec = _spec(path)
    folder = os.path.dirname(os.path.abspath(path))
    return [p if os.path.isabs(p) else os.path.join(folder, p) for p in spec["parts"]], spec["weights"]


def sum_chain(path: str, chain: Sequence[str] = ()) -> Tuple[str, ...]:
    """``chain`` (the sum files being read, outermost first) with ``path`` appended; a sum file already in it (sum
    files that name each other in a circle) is refused."""
    here = os.path.abspath(path)
    if here in chain:
        loop = " → ".join(os.path.basename(p) for p in (*chain[list(chain).index(here):], here))
        raise ModelError(f"{path}: sum files name each other in a circle ({loop})")
    return (*chain, here)


def model_files(path: str, _chain: Sequence[str] = ()) -> List[str]:
    """Every file a sum file's model reads, parts of parts included (a seed mean of Δ sums: its sums and theirs);
    sum files that name each other in a circle are refused."""
    chain = sum_chain(path, _chain)
    return [f for p in read_sum(path)[0] for f in ([p, *model_files(p, chain)] if is_sum_path(p) else [p])]


def mean_spec(part_files: Sequence[str]) -> dict:
    """The sum file of the mean of ``part_files`` (equal weights 1/N): a seed ensemble read as one model."""
    return {"parts": list(part_files), "weights": [1.0 / len(part_files)] * len(part_files)}
