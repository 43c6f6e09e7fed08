"""Per-edge energies of many molecules in batched forward passes, with the sum rule checked.

    e_{i→j} = s_{t_i} · ẽ_ij / sqrt(2·N̄_{t_i})         [eV]
    E_total = Σ_{i→j} e_{i→j} + Σ_i μ_{t_i}             (checked; residual reported)

The molecules of one call are packed into nequip batches of at most ``max_batch_atoms``
atoms (a single forward pass each), never a Python loop over single molecules.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch

from .errors import SumRuleError
from .model import E3DModel
from .molecule import DEFAULT_MAX_ATOMS, Molecule, validate

SUM_RULE_TOLERANCE_EV = 1e-6            # float64 models: the sum rule holds to ~1e-13 eV
FLOAT32_TOLERANCE_EV_PER_ATOM = 1e-4    # float32 round-off: max 8.9e-6 eV on 1,000 QM9 molecules
                                        # (python bench/throughput.py --dtype float32)
DEFAULT_MAX_BATCH_ATOMS = 4096


def sum_rule_tolerance(model: E3DModel, n_atoms: int) -> float:
    """Default tolerance: tight for float64; for float32, per atom, well above its round-off."""
    return FLOAT32_TOLERANCE_EV_PER_ATOM * n_atoms if model.dtype == torch.float32 else SUM_RULE_TOLERANCE_EV


@dataclasses.dataclass
class EdgeEnergies:
    """One molecule's directed edge energies and its energy bookkeeping (all eV).

    ``i``, ``j``, ``e``: arrays of the directed edges i→j (local atom indices, sorted by i
    then j) and their physical energies; ``edges`` is the same as a DataFrame.  For a sum of models
    (e3d/composite.py) ``part_e`` holds each part's own physical energies of the same edges, one column
    per name in ``part_names`` (``e`` is their weighted sum); for a single model it is None.
    """

    molecule: Molecule
    model_name: str
    i: np.ndarray
    j: np.ndarray
    e: np.ndarray
    total_energy: float
    shift_sum: float
    residual: float  # E_total − (Σ e + Σ μ)
    part_names: Tuple[str, ...] = ()
    part_e: Optional[np.ndarray] = None  # (edges, parts)

    @property
    def edge_sum(self) -> float:
        return float(self.e.sum())

    @functools.cached_property
    def edges(self) -> pd.DataFrame:
        """i, j, element_i, element_j, distance (Å), e_ij (eV)."""
        symbols = np.array(self.molecule.symbols)
        pos = self.molecule.positions
        return pd.DataFrame({"i": self.i, "j": self.j, "element_i": symbols[self.i], "element_j": symbols[self.j],
                             "distance": np.linalg.norm(pos[self.i] - pos[self.j], axis=1), "e_ij": self.e})


NONPERIODIC_BOX = 20.0  # Å; a placeholder cell (pbc False) that compiled models require


def _within_cutoff(pos: np.ndarray, r_max: float):
    """(frame, i, j) of every i ≠ j with r_ij < r_max, for frames of equal size stacked as (frames, n, 3),
    ordered by frame, i, j.  Dense distances: for molecules (≤ a few hundred atoms) faster than a cell
    list, and the same edge set as nequip's neighbour list (tested)."""
    n = pos.shape[1]
    d2 = ((pos[:, :, None, :] - pos[:, None, :, :]) ** 2).sum(-1)
    d2[:, np.arange(n), np.arange(n)] = np.inf
    return np.nonzero(d2 < r_max * r_max)


def molecular_neighbor_list(positions: np.ndarray, r_max: float) -> np.ndarray:
    """Directed edges i→j (i ≠ j, r_ij < r_max) of a non-periodic molecule, shape (2, E)."""
    _, i, j = _within_cutoff(np.asarray(positions, dtype=np.float64)[None], r_max)
    return np.stack([i, j])


def atoms_to_data(symbols, positions, model: E3DModel):
    """AtomicDataDict (unbatched, non-periodic) with the model's neighbour list."""
    from nequip.data import AtomicDataDict

    edge_index = torch.as_tensor(molecular_neighbor_list(positions, model.r_max), dtype=torch.long)
    return {
        AtomicDataDict.POSITIONS_KEY: torch.as_tensor(np.asarray(positions), dtype=torch.float64),
        AtomicDataDict.ATOM_TYPE_KEY: torch.as_tensor(model.type_index(symbols), dtype=torch.long),
        AtomicDataDict.PBC_KEY: torch.zeros((1, 3), dtype=torch.bool),
        AtomicDataDict.CELL_KEY: NONPERIODIC_BOX * torch.eye(3, dtype=torch.float64).unsqueeze(0),
        AtomicDataDict.EDGE_INDEX_KEY: edge_index,
        AtomicDataDict.EDGE_CELL_SHIFT_KEY: torch.zeros((edge_index.shape[1], 3), dtype=torch.float64),
    }


DENSE_CHUNK = 4_000_000  # distance-array elements per step of batch_to_data (~100 MB of float64 work arrays)


def batch_to_data(frames: Sequence[Tuple[Sequence[str], np.ndarray]], model: E3DModel):
    """One nequip batch of non-periodic frames given as (symbols, positions): the dict nequip's
    ``batched_from_list`` makes of :func:`atoms_to_data` per frame (tested), built without a Python
    loop over frames — the neighbour lists of all frames with the same atom count come from one
    dense distance array (in chunks of :data:`DENSE_CHUNK` elements)."""
    from nequip.data import AtomicDataDict

    n_atoms = np.array([len(symbols) for symbols, _ in frames], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)])
    pos = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3) for _, p in frames])
    types = model.type_index([s for symbols, _ in frames for s in symbols])
    src, dst = [], []
    for n in np.unique(n_atoms[n_atoms > 1]):
        frames_n = np.nonzero(n_atoms == n)[0]
        step = max(1, DENSE_CHUNK // int(n * n))
        for start in range(0, len(frames_n), step):
            atoms = offsets[frames_n[start:start + step], None] + np.arange(n)  # (frames, n) global indices
            f, i, j = _within_cutoff(pos[atoms], model.r_max)
            src.append(atoms[f, i])
            dst.append(atoms[f, j])
    src = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64)
    order = np.lexsort((dst, src))  # frame by frame, i then j: nequip's order
    edge_index = torch.as_tensor(np.stack([src[order], dst[order]]), dtype=torch.long)
    n_frames = len(frames)
    return {
        AtomicDataDict.EDGE_INDEX_KEY: edge_index,
        AtomicDataDict.BATCH_KEY: torch.as_tensor(np.repeat(np.arange(n_frames), n_atoms), dtype=torch.long),
        AtomicDataDict.POSITIONS_KEY: torch.as_tensor(pos),
        AtomicDataDict.ATOM_TYPE_KEY: torch.as_tensor(types),
        AtomicDataDict.PBC_KEY: torch.zeros((n_frames, 3), dtype=torch.bool),
        AtomicDataDict.CELL_KEY: NONPERIODIC_BOX * torch.eye(3, dtype=torch.float64).repeat(n_frames, 1, 1),
        AtomicDataDict.EDGE_CELL_SHIFT_KEY: torch.zeros((edge_index.shape[1], 3), dtype=torch.float64),
        AtomicDataDict.NUM_NODES_KEY: torch.as_tensor(n_atoms),
    }


def molecules_to_data(molecules: Sequence[Molecule], model: E3DModel):
    """:func:`batch_to_data` of molecules."""
    return batch_to_data([(m.symbols, m.positions) for m in molecules], model)


def pack_batches(molecules: Sequence[Molecule], max_batch_atoms: int,
                 size: Callable[[object], int] = lambda m: m.n_atoms) -> Iterator[List[int]]:
    """Consecutive index groups whose total atom count (``size``: of a Molecule, or ``len`` of ASE atoms)
    stays ≤ max_batch_atoms (order kept)."""
    group, atoms = [], 0
    for k, m in enumerate(molecules):
        if group and atoms + size(m) > max_batch_atoms:
            yield group
            group, atoms = [], 0
        group.append(k)
        atoms += size(m)
    if group:
        yield group


def forward_batch(model: E3DModel, molecules: Sequence[Molecule]):
    """One batched forward pass → (edge_index, raw edge readout, total energies, atom offsets, the parts'
    physical edge energies of a sum of models or None)."""
    from nequip.data import AtomicDataDict

    from .composite import PART_EDGE_ENERGY_KEY

    n = len(molecules)
    # AOTInductor graphs are traced for ≥ 2 frames (torch's 0/1 specialisation): pad a lone molecule
    frames = list(molecules) * 2 if (model.kind == "aotinductor" and n == 1) else list(molecules)
    data = AtomicDataDict.to_(molecules_to_data(frames, model), model.device)
    with torch.no_grad(), model.energy_only():
        out = model.module(data)
    edge_index = data[AtomicDataDict.EDGE_INDEX_KEY].cpu().numpy()  # compiled models output no edge_index
    raw = out[AtomicDataDict.EDGE_ENERGY_KEY].detach().double().cpu().numpy().reshape(-1)
    energy = out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().double().cpu().numpy().reshape(-1)[:n]
    offsets = np.concatenate([[0], np.cumsum([m.n_atoms for m in molecules])])
    keep = edge_index[0] < offsets[-1]
    parts = out.get(PART_EDGE_ENERGY_KEY)
    parts = None if parts is None else parts.detach().double().cpu().numpy()[keep]
    return edge_index[:, keep], raw[keep], energy, offsets, parts


def _split_results(model: E3DModel, molecules: Sequence[Molecule], edge_index, raw, energy, offsets, parts
                   ) -> List[EdgeEnergies]:
    types = np.concatenate([model.type_index(m.symbols) for m in molecules])
    e = model.edge_factor[types[edge_index[0]]] * raw
    order = np.lexsort((edge_index[1], edge_index[0]))  # by global i: molecules come out contiguous
    src, dst, e = edge_index[0, order], edge_index[1, order], e[order]
    parts = None if parts is None else parts[order]
    names = tuple(model.part_names) if parts is not None else ()
    bounds = np.searchsorted(src, offsets)
    shifts = model.shifts[types]
    results = []
    for k, mol in enumerate(molecules):
        lo, hi = bounds[k], bounds[k + 1]
        e_k = e[lo:hi]
        shift_sum = float(shifts[offsets[k]:offsets[k + 1]].sum())
        residual = float(energy[k] - (e_k.sum() + shift_sum))
        results.append(EdgeEnergies(mol, model.name, src[lo:hi] - offsets[k], dst[lo:hi] - offsets[k], e_k,
                                    float(energy[k]), shift_sum, residual,
                                    names, None if parts is None else parts[lo:hi]))
    return results


def check_sum_rule(result: EdgeEnergies, model: E3DModel, tolerance: Optional[float] = None) -> None:
    """Raise :class:`SumRuleError` naming the likely cause when |residual| > tolerance (default: by dtype)."""
    if tolerance is None:
        tolerance = sum_rule_tolerance(model, result.molecule.n_atoms)
    if abs(result.residual) <= tolerance:
        return
    if model.extra_energy_terms:
        cause = f"the model adds energy outside the edges ({', '.join(model.extra_energy_terms)})"
    elif model.dtype == torch.float32:
        cause = "the model runs in float32 (round-off); use float64 or a looser --tolerance"
    else:
        cause = "the edge readout factors do not reproduce the model's energy (unsupported architecture?)"
    raise SumRuleError(f"{result.molecule.label}: sum rule violated, E_total − (Σe + Σμ) = "
                       f"{result.residual:.3e} eV > {tolerance:.0e} eV: {cause}")


def edge_energies(model: E3DModel, molecules: Iterable[Molecule], max_atoms: int = DEFAULT_MAX_ATOMS,
                  max_batch_atoms: int = DEFAULT_MAX_BATCH_ATOMS,
                  tolerance: Optional[float] = "auto", progress=None) -> List[EdgeEnergies]:
    """Directed edge energies of every molecule (batched), each checked against the sum rule.

    ``tolerance``: eV; "auto" picks it from the model's dtype (:func:`sum_rule_tolerance`);
    ``None`` reports residuals without raising.  ``progress(n_done)`` is called
    after each batch (the CLI passes a tqdm update).
    """
    molecules = list(molecules)
    for m in molecules:
        validate(m, model.usable_type_names, max_atoms)
    results: List[EdgeEnergies] = []
    for group in pack_batches(molecules, max_batch_atoms):
        batch = [molecules[k] for k in group]
        results.extend(_split_results(model, batch, *forward_batch(model, batch)))
        if progress is not None:
            progress(len(group))
    if tolerance is not None:
        for r in results:
            check_sum_rule(r, model, None if tolerance == "auto" else tolerance)
    return results

