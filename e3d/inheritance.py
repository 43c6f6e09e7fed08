"""What a model built on another keeps of its parent's edge partition (docs/E3D_METHOD.md §4h–i).

A model fine-tuned from another starts from the parent's weights, so from its split of the energy into
edges; a sum of a GFN2-xTB model and a Δ model (e3d/composite.py) has the parent's edges plus the Δ's.
On the model's headline rows (the bonds it is judged on), these comparisons tell whether the new labels
reached the edges or only the total energy:

- D_ij (fine-tune) vs D_ij (parent): how much of the parent's ordering it kept;
- D_ij vs the parent's labels' rigid BDE: the partition the parent learned;
- D_ij vs its own labels' rigid BDE: the partition it was asked for;
- its own rigid BDE vs its own labels' rigid BDE: whether its energies learned the new labels;
- D_ij − parent's D_ij vs own labels' rigid BDE − parent's labels': whether D_ij moved the way the labels did
  (for a Δ sum, the Δ model's D_ij — plus the parent's change between the two models' minima, as each row is
  at its model's own minimum — against the difference between the labellers).

A fine-tune whose own rigid BDEs follow the new labels while D_ij still ranks bonds like the parent's labels
has moved the energy without moving the partition.
"""

from __future__ import annotations

from typing import Dict, Mapping

import pandas as pd

from .cards import parent_id
from .metrics import parity_metrics

D, RIGID, OWN_RIGID = "e3d_bde_kcal_mol", "rigid_reference_bde_kcal_mol", "model_rigid_bde_kcal_mol"
EXPERIMENT = "bde_kcal_mol"  # the BDE table's experimental value (298 K)
# comparison key → (fine-tune's series, reference series, reference from the parent's rows?)
COMPARISONS = {
    "d_vs_parent_d": (D, D, True),
    "d_vs_parent_labels_rigid": (D, RIGID, True),
    "d_vs_own_labels_rigid": (D, RIGID, False),
    "own_rigid_vs_own_labels_rigid": (OWN_RIGID, RIGID, False),
}


def parents_from_cards(cards: Mapping[str, Mapping[str, object]]) -> Dict[str, str]:
    """model id → parent id, for the models whose card names a shipped parent: the model a fine-tune started
    from (``finetuned_from``), or the GFN2-xTB model a sum adds a Δ model to (``delta_on``, e3d/composite.py)."""
    parents = {model_id: parent_id(card) or next(iter(card.get("delta_on") or []), None)
               for model_id, card in cards.items()}
    return {model_id: parent for model_id, parent in parents.items() if parent in cards}


def _labelling_method(rows: pd.DataFrame):
    return next(iter(rows["reference_method"].dropna()), None)


def inheritance_table(bde: pd.DataFrame, parents: Mapping[str, str]) -> pd.DataFrame:
    """One row per fine-tune with a parent in ``bde`` (a BDE table of several models, e.g.
    precomputed/bde.parquet): ``n`` shared headline rows and ``<key>_mae`` / ``<key>_rho`` (kcal/mol,
    Spearman ρ) of each of :data:`COMPARISONS`; for scale, the parent's own D_ij vs its labels' rigid BDE on the
    same rows (``parent_d_vs_parent_labels_rigid_*``), the shift of D_ij from the parent's against the shift of
    the labels' rigid BDEs (``d_shift_vs_labels_shift_*``), the two labellers' rigid BDEs against each other
    (``own_labels_vs_parent_labels_rigid_*``) and each against experiment (``own_labels_rigid_vs_experiment_*``,
    ``parent_labels_rigid_vs_experiment_*``: how well a partition that followed those labels could rank bonds)."""
    rows = []
    by_model = {m: t.set_index("label") for m, t in bde.groupby("model_id", sort=False)}
    for model_id, parent_model in parents.items():
        if model_id not in by_model or parent_model not in by_model:
            continue
        child = by_model[model_id]
        child = child[child["headline"].eq(True)]  # (a table without the column: no headline rows)
        parent = by_model[parent_model].reindex(child.index)
        row = {"model_id": model_id, "parent_id": parent_model, "n": int(len(child)),
               "labels": _labelling_method(child), "parent_labels": _labelling_method(parent)}
        pairs = {key: (child[series], (parent if from_parent else child)[ref])
                 for key, (series, ref, from_parent) in COMPARISONS.items()}
        pairs["parent_d_vs_parent_labels_rigid"] = (parent[D], parent[RIGID])
        # did D_ij move the way the labels moved? (for a Δ sum: the Δ model's D_ij vs the labellers' difference)
        pairs["d_shift_vs_labels_shift"] = (child[D] - parent[D], child[RIGID] - parent[RIGID])
        pairs["own_labels_vs_parent_labels_rigid"] = (child[RIGID], parent[RIGID])  # how far apart the labels are
        # what each labeller's partition could give at best: its rigid BDEs against experiment (298 K)
        pairs["own_labels_rigid_vs_experiment"] = (child[RIGID], child[EXPERIMENT])
        pairs["parent_labels_rigid_vs_experiment"] = (parent[RIGID], child[EXPERIMENT])
        for key, (series, ref) in pairs.items():
            m = parity_metrics(ref, series)
            row[f"{key}_mae"], row[f"{key}_rho"] = m["mae"], m["spearman"]
        rows.append(row)
    return pd.DataFrame(rows)
