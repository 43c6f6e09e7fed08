"""Where the shipped models live and the model card: the JSON written next to every model file
(``NAME.card.json``: training data, level of theory, metrics, training domain).

Light on purpose (no torch): the dashboard reads cards and the model index before it loads any model.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

from .errors import ModelError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(REPO_ROOT, "precomputed", "models")
DEFAULT_MODEL_ENV = "E3D_MODEL"
CARD_SUFFIX = ".card.json"


def default_model_path() -> str:
    """The project's main model (``$E3D_MODEL`` overrides; else ``precomputed/models/main``)."""
    env = os.environ.get(DEFAULT_MODEL_ENV)
    if env:
        return env
    index = os.path.join(MODELS_DIR, "index.json")
    if os.path.exists(index):
        with open(index) as fh:
            main = json.load(fh).get("main")
        if main:
            return os.path.join(MODELS_DIR, main)
    raise ModelError(f"no default model: {index} is missing; pass --model PATH")


# model files E3D reads: package, training checkpoint, AOTInductor (.nequip.pt2 before .pt2: the card strips the
# longest), a sum of models (e3d/composite.py)
MODEL_SUFFIXES = (".nequip.zip", ".ckpt", ".nequip.pt2", ".pt2", ".sum.json")


def card_path(model_path: str) -> str:
    for suffix in MODEL_SUFFIXES:
        if model_path.endswith(suffix):
            return model_path[: -len(suffix)] + CARD_SUFFIX
    return model_path + CARD_SUFFIX


def read_card(model_path: str) -> Dict[str, object]:
    path = card_path(model_path)
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return {}


def parent_path(card: Dict[str, object]) -> Optional[str]:
    """The model file a fine-tune started from (``finetuned_from``, relative to the repository), else None."""
    parent = card.get("finetuned_from")
    if not parent:
        return None
    return parent if os.path.isabs(parent) else os.path.join(REPO_ROOT, parent)


def file_id(model_path: str) -> str:
    """A model file's id: its name without the model suffix (``dft-delta.sum.json`` → ``dft-delta``)."""
    return os.path.basename(card_path(model_path)).removesuffix(CARD_SUFFIX)


def parent_id(card: Dict[str, object]) -> Optional[str]:
    """The id of the model a fine-tune started from, else None."""
    path = parent_path(card)
    return None if path is None else file_id(path)


def pretraining(card: Dict[str, object]) -> str:
    """"fine-tuned from ID (its labels)" for a model that started from another one's weights (", edge readout
    re-drawn" where it was, e3d/fresh_readout.py); for a sum of models (e3d/composite.py) "sum of A (its labels)
    + Δ model B", for a seed mean "mean of A, B, C"; else ""."""
    if card.get("mean_of"):
        return "mean of " + ", ".join(card["mean_of"])
    if card.get("sum_of"):
        return "sum of " + " + ".join(_part_phrase(pid) for pid in card["sum_of"])
    path = parent_path(card)
    if path is None:
        return ""
    labels = read_card(path).get("level_of_theory")
    return (f"fine-tuned from {parent_id(card)}" + (f" ({labels} labels)" if labels else "")
            + (", edge readout re-drawn" if card.get("fresh_readout") else ""))


def _part_phrase(part_id: str) -> str:
    part = read_card(os.path.join(MODELS_DIR, f"{part_id}.nequip.zip"))
    if delta_labels(part):
        return f"Δ model {part_id} ({part['labels']['method']})"
    return f"{part_id} ({part.get('level_of_theory') or '?'} labels)"


def delta_labels(card: Dict[str, object]) -> Optional[Dict[str, object]]:
    """The Δ-labels a model was trained on (e3d/data/delta.py: ``high`` and ``low`` labellers), else None."""
    labels = card.get("labels") or {}
    return labels if labels.get("delta") else None


def sum_card(model_id: str, part_ids: List[str], parts: List[Dict[str, object]],
             dataset: Optional[str] = None) -> Dict[str, object]:
    """The card of a sum of models (e3d/composite.py): models on one labeller plus one Δ model on top of it.

    The sum predicts the Δ's high level, so its labels are those and its ``dataset`` the high-level set the Δ
    labels came from (given; else the Δ set's name); its training domain is what every part saw (the Δ model's
    molecules, less bond types its base model never saw: hydrogen fluoride for a QM9-trained one); μ_t add.
    """
    deltas = [k for k, c in enumerate(parts) if delta_labels(c)]
    if len(deltas) != 1:
        raise ModelError(f"{model_id}: a sum needs exactly one Δ model (trained on `e3d data delta` labels), "
                         f"found {len(deltas)}")
    delta = parts[deltas[0]]
    low = delta_labels(delta)["low"]
    for pid, c in zip(part_ids, parts):
        if c is delta:
            continue
        if low.get("model") and pid != low["model"]:  # a residual Δ model (e3d/data/delta.py): one base model
            raise ModelError(f"{model_id}: the Δ model corrects the model {low['model']}, not {pid}")
        if not low.get("model") and c.get("level_of_theory") != low["method"]:
            raise ModelError(f"{model_id}: {pid} is trained on {c.get('level_of_theory')} labels, the Δ model "
                             f"corrects {low['method']}")
    high = delta_labels(delta)["high"]
    elements = [set(c.get("training_elements") or []) for c in parts]
    return {
        "id": model_id,
        "sum_of": list(part_ids),
        "delta_on": [pid for pid, c in zip(part_ids, parts) if c is not delta],  # the models the Δ model corrects
        "dataset": dataset or delta.get("dataset"),
        "delta_dataset": delta.get("dataset"),
        "n_training_frames": delta.get("n_training_frames"),
        "level_of_theory": high["method"],
        "labels": high,
        "training_elements": sorted(set.intersection(*elements), key=lambda e: (parts[0].get("training_elements") or []).index(e)),
        "training_domain": common_domain(parts),
        "energy_shifts": combined_shifts(parts, [1.0] * len(parts), high.get("atom_reference")),
        "hyperparameters": {k: (delta.get("hyperparameters") or {}).get(k) for k in ("r_max", "model_dtype")},
        "training_time_s": sum(float(c.get("training_time_s") or 0) for c in parts),
        "hardware": delta.get("hardware"),
    }


def mean_card(model_id: str, part_ids: List[str], parts: List[Dict[str, object]]) -> Dict[str, object]:
    """The card of a seed mean (e3d/composite.py, weights 1/N): the seeds of one recipe, read as one model.

    The seeds must share their labels; the mean's domain is what every seed saw (:func:`common_domain`), μ_t the
    seeds' mean.
    """
    methods = {c.get("level_of_theory") for c in parts}
    if len(methods) != 1:
        raise ModelError(f"{model_id}: a seed mean needs one labelling method, its parts have {sorted(map(str, methods))}")
    first = parts[0]
    return {
        "id": model_id,
        "mean_of": list(part_ids),
        "dataset": first.get("dataset"),
        "n_training_frames": first.get("n_training_frames"),
        "level_of_theory": first.get("level_of_theory"),
        "labels": first.get("labels"),
        "training_elements": [e for e in first.get("training_elements") or []
                              if all(e in (c.get("training_elements") or []) for c in parts)],
        "training_domain": common_domain(parts),
        "energy_shifts": combined_shifts(parts, [1.0 / len(parts)] * len(parts),
                                         (first.get("energy_shifts") or {}).get("reference")),
        "hyperparameters": {k: (first.get("hyperparameters") or {}).get(k) for k in ("r_max", "model_dtype")},
        "training_time_s": sum(float(c.get("training_time_s") or 0) for c in parts),
        "hardware": first.get("hardware"),
    }


def combined_shifts(cards: List[Dict[str, object]], weights: List[float], reference: Optional[str]) -> Dict[str, object]:
    """The card's μ_t of a weighted sum of models (e3d/composite.py): μ_t = Σ_m w_m μ_{m,t} over the types every
    part has; isolated-atom shifts only if every part's are."""
    shifts = [c.get("energy_shifts") or {} for c in cards]
    values = [s.get("values_eV") or {} for s in shifts]
    return {
        "isolated_atoms": all(s.get("isolated_atoms") for s in shifts),
        "reference": reference,
        "values_eV": {t: sum(w * float(v[t]) for w, v in zip(weights, values)) for t in values[0]
                      if all(t in v for v in values)},
        "trainable": any(s.get("trainable") for s in shifts),
    }


def common_domain(cards: List[Dict[str, object]]) -> Dict[str, object]:
    """What every one of several models saw: the bond types in every card's domain (the fewest bonds of each) and
    the smallest largest molecule — the domain of a model built from them (a sum, a seed mean)."""
    domains = [c.get("training_domain") or {} for c in cards]
    kinds = [d.get("bond_types") or {} for d in domains]
    common = set.intersection(*(set(k) for k in kinds))

    def smallest(key):
        values = [int(d[key]) for d in domains if d.get(key) is not None]
        return min(values) if values else None

    return {"max_atoms": smallest("max_atoms"), "max_heavy_atoms": smallest("max_heavy_atoms"),
            "bond_types": {t: min(int(k[t]) for k in kinds) for t in sorted(common)}}
