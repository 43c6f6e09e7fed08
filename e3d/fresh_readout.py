"""Fine-tune with a fresh edge readout: keep a parent's learned environments, not its split into edges.

A fine-tune inherits its parent's edge partition (docs/E3D_METHOD.md §4h): the new labels move the total
energy, while D_ij keeps ranking bonds like the parent's labels.  :class:`FreshEdgeReadout` re-draws the
weights of the Allegro edge readout (the MLP from each edge's features to its energy) at the first training
step of a fine-tune, as nequip draws them for a new model, so the partition is learned from the new labels
on the parent's features (configs/common.yaml ``fresh_readout``; off by default).  A resumed run (global step
> 0) keeps its weights.
"""

from __future__ import annotations

import math

import torch
from lightning.pytorch.callbacks import Callback

READOUT = "edge_readout"  # the Allegro module whose output is the per-edge energy


def redraw_edge_readout(model: torch.nn.Module) -> int:
    """Re-draw every weight of ``model``'s edge readout (uniform, variance 1: nequip's default init; the
    layers scale by 1/√fan-in themselves) and zero its biases; returns the number of tensors re-drawn."""
    n = 0
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.split(".")[-1] != READOUT:
                continue
            for pname, p in module.named_parameters():
                if pname.endswith("bias"):
                    p.zero_()
                else:
                    p.uniform_(-math.sqrt(3.0), math.sqrt(3.0))
                n += 1
    return n


class FreshEdgeReadout(Callback):
    def __init__(self, enabled: bool = False):
        self.enabled = enabled

    def on_train_start(self, trainer, pl_module):
        if not self.enabled or trainer.global_step > 0:
            return
        if redraw_edge_readout(pl_module.model) == 0:
            raise RuntimeError(f"fresh_readout: the model has no {READOUT} to re-draw (not an Allegro model?)")
        ema = getattr(pl_module, "ema", None)
        if ema is not None:  # the averaged weights start again from the re-drawn ones
            ema.num_updates = 0
            ema.update_parameters(pl_module.model)
