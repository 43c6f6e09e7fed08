"""A prior on how a model splits its energy into edges: non-bonded edges carry none.

Total energies fix the energy of every training geometry, not how it is shared between edges
(docs/E3D_METHOD.md §4e): seeds trained alike agree on their own BDEs to ~2 kcal/mol and
differ on D_ij by 6–12.  This transform gives each frame a per-edge target for the model's
raw edge readout — 0 on the edges between atoms that are not bonded, NaN (ignored) on bonded
ones — so that a loss term (``edge_energy`` MSE with ``ignore_nan``; configs/emergence_edge_prior.yaml)
pulls non-bonded edges towards zero and leaves the bonds to the data.

Bonded: r_ij < factor · (r_cov,i + r_cov,j) (ASE's covalent radii; factor 1.2, the usual
bond-perception margin).  It is a geometric criterion, so a bond stretched past 1.2× its
covalent length counts as non-bonded: its target is "dissociated".
"""

from __future__ import annotations

from typing import List

import torch
from ase.data import atomic_numbers, covalent_radii
from nequip.data import AtomicDataDict

from ..geometry import BOND_FACTOR


def covalent_radii_of(type_names: List[str]) -> torch.Tensor:
    """ASE's covalent radii (Å) of a model's atom types, in type order."""
    return torch.tensor([covalent_radii[atomic_numbers[t]] for t in type_names], dtype=torch.float64)


def bonded_edges(data: AtomicDataDict.Type, radii: torch.Tensor, bond_factor: float = BOND_FACTOR) -> torch.Tensor:
    """Boolean per edge: r_ij < bond_factor · (r_cov,i + r_cov,j) at the frame's geometry."""
    i, j = data[AtomicDataDict.EDGE_INDEX_KEY]
    types = data[AtomicDataDict.ATOM_TYPE_KEY].reshape(-1)
    pos = data[AtomicDataDict.POSITIONS_KEY]
    r = torch.linalg.norm(pos[j] - pos[i], dim=-1).to(torch.float64)
    radii = radii.to(r.device)
    return r < bond_factor * (radii[types[i]] + radii[types[j]])


class NonbondedEdgeTarget(torch.nn.Module):
    """Adds ``edge_energy`` = 0 (non-bonded) / NaN (bonded), shape (n_edges, 1), after the neighbour list."""

    def __init__(self, type_names: List[str], bond_factor: float = BOND_FACTOR):
        super().__init__()
        self.radii = covalent_radii_of(type_names)
        self.bond_factor = float(bond_factor)

    def forward(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        pos = data[AtomicDataDict.POSITIONS_KEY]
        bonded = bonded_edges(data, self.radii, self.bond_factor)
        target = torch.where(bonded, torch.nan, 0.0).to(pos.dtype).unsqueeze(-1)
        data[AtomicDataDict.EDGE_ENERGY_KEY] = target
        return data
