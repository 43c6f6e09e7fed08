"""A locality loss: cutting a bond leaves the other edges' energies where they were.

E3D reads a bond's energy at the parent geometry; a BDE is an energy difference of parent and
fragments.  The two meet only if the fragments' edges carry the energies they carried in the
parent (docs/E3D_METHOD.md §4c: D_cut = BDE_rigid(model) + the locality terms).  Total energies
do not ask for that: a model may trade energy between neighbouring bonds as a function of their
environment, and seeds trained alike do so differently (§4e: σ of C–C, C–N D_ij 7–11 kcal/mol
with the edge prior).  This training module adds, at each step,

    L_loc = λ · mean over the kept edges of the cut molecules of (ẽ_{i→j}(cut) − ẽ_{i→j}(parent))²

where "cut" is the batch with one random bond of each molecule broken at the parent geometry
(rigid fragments: every edge between the two sides removed, positions unchanged) and ẽ the
model's raw edge readout.  Ring bonds (no two fragments) are not cut.  Both terms carry gradient:
the split is chosen so that parent and fragments agree, not the fragments bent to the parent.
Bonds are perceived as by the edge prior (`edge_prior.bonded_edges`).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from nequip.data import AtomicDataDict, get_field_type
from nequip.train import EMALightningModule
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .edge_prior import bonded_edges, covalent_radii_of


def cut_one_bond_each(edge_index: np.ndarray, bonded: np.ndarray, graph_of_atom: np.ndarray, n_graphs: int,
                      rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Break one random non-ring bond per graph.

    Returns (cross, cut_graph): ``cross`` is True on every edge (either direction, bonded or not)
    between the two fragments of a cut; ``cut_graph`` is True for the graphs that got a cut (a graph
    whose bonds all lie in rings, or that has none, gets none).
    """
    n_atoms = graph_of_atom.shape[0]
    src, dst = edge_index
    candidates = np.flatnonzero(bonded & (src < dst))
    order = rng.permutation(candidates)                      # random bond order, then first per graph
    _, first = np.unique(graph_of_atom[src[order]], return_index=True)
    chosen = order[first]
    chosen_pairs = np.concatenate([src[chosen] * n_atoms + dst[chosen], dst[chosen] * n_atoms + src[chosen]])
    keep_bond = bonded & ~np.isin(src * n_atoms + dst, chosen_pairs)
    graph = coo_matrix((np.ones(keep_bond.sum()), (src[keep_bond], dst[keep_bond])), shape=(n_atoms, n_atoms))
    _, component = connected_components(graph, directed=False)
    ca, cb = component[src[chosen]], component[dst[chosen]]
    bridge = ca != cb                                         # a ring bond leaves its atoms connected
    side_a = np.full(n_graphs, -1)
    side_b = np.full(n_graphs, -1)
    g = graph_of_atom[src[chosen[bridge]]]
    side_a[g], side_b[g] = ca[bridge], cb[bridge]
    eg = graph_of_atom[src]
    cs, cd = component[src], component[dst]
    cross = ((cs == side_a[eg]) & (cd == side_b[eg])) | ((cs == side_b[eg]) & (cd == side_a[eg]))
    cut_graph = side_a >= 0
    return cross, cut_graph


def cut_batch(data: AtomicDataDict.Type, keep: torch.Tensor) -> AtomicDataDict.Type:
    """The batch with only the edges in ``keep`` (every per-edge field filtered alike)."""
    out = dict(data)
    for key in list(out):
        if key == AtomicDataDict.EDGE_INDEX_KEY:
            out[key] = out[key][:, keep]
        elif torch.is_tensor(out[key]) and get_field_type(key, error_on_unregistered=False) == "edge":
            out[key] = out[key][keep]
    return out


class LocalityLightningModule(EMALightningModule):
    """nequip's EMA training module plus the locality loss (epoch mean logged as ``train_loss_epoch/locality``)."""

    def __init__(self, *args, locality_coeff: float = 1.0, locality_seed: Optional[int] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.locality_coeff = float(locality_coeff)
        self._radii = covalent_radii_of(list(next(iter(self.model.values())).type_names))
        self._rng = np.random.default_rng(locality_seed)

    def locality_loss(self, batch: AtomicDataDict.Type, parent: AtomicDataDict.Type) -> Optional[torch.Tensor]:
        """λ · mean squared change of the kept edges' raw readout when one bond per molecule is cut."""
        edge_index = batch[AtomicDataDict.EDGE_INDEX_KEY]
        edges = edge_index.cpu().numpy()
        bonded = bonded_edges(batch, self._radii).cpu().numpy()
        graph_of_atom = batch[AtomicDataDict.BATCH_KEY].cpu().numpy()
        n_graphs = int(batch[AtomicDataDict.NUM_NODES_KEY].shape[0])
        cross, cut_graph = cut_one_bond_each(edges, bonded, graph_of_atom, n_graphs, self._rng)
        if not cut_graph.any():
            return None
        keep = torch.from_numpy(~cross).to(edge_index.device)
        cut = self(cut_batch(batch, keep))
        in_cut_graph = torch.from_numpy(cut_graph[graph_of_atom[edges[0]]]).to(edge_index.device)
        compared = in_cut_graph[keep]
        delta = cut[AtomicDataDict.EDGE_ENERGY_KEY][compared] - parent[AtomicDataDict.EDGE_ENERGY_KEY][keep][compared]
        return self.locality_coeff * delta.square().mean()

    def training_step(self, batch: AtomicDataDict.Type, batch_idx: int, dataloader_idx: int = 0):
        # nequip's training_step with the parent's output kept for the locality term
        target = self.process_target(batch, batch_idx, dataloader_idx)
        output = self(batch)
        if self.train_metrics is not None:
            with torch.no_grad():
                self.log_dict(self.train_metrics(output, target, prefix=f"train_metric_step{self.logging_delimiter}"))
        loss_dict = self.loss(output, target, prefix=f"train_loss_step{self.logging_delimiter}")
        self.log_dict(loss_dict)
        loss = loss_dict[f"train_loss_step{self.logging_delimiter}weighted_sum"]
        locality = self.locality_loss(batch, output)
        if locality is not None:
            self.log(f"train_loss_epoch{self.logging_delimiter}locality", locality.detach(), on_step=False, on_epoch=True)
            loss = loss + locality
        return loss * self.world_size

