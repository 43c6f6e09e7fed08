"""Where the shipped models live and the model card: the JSON written next to every model file
(``NAME.card.json``: training data, level of theory, metrics, training domain).

Light on purpose (no torch): the dashboard reads cards and the model index before it loads any model.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

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


# model files E3D reads: package, training checkpoint, AOTInductor (.nequip.pt2 before .pt2: the card strips the longest)
MODEL_SUFFIXES = (".nequip.zip", ".ckpt", ".nequip.pt2", ".pt2")


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


def parent_id(card: Dict[str, object]) -> Optional[str]:
    """The id of the model a fine-tune started from (its file name without the suffix), else None."""
    path = parent_path(card)
    return None if path is None else os.path.basename(card_path(path)).removesuffix(CARD_SUFFIX)


def pretraining(card: Dict[str, object]) -> str:
    """"fine-tuned from ID (its labels)" for a model that started from another one's weights (", edge readout
    re-drawn" where it was, e3d/fresh_readout.py), else ""."""
    path = parent_path(card)
    if path is None:
        return ""
    labels = read_card(path).get("level_of_theory")
    return (f"fine-tuned from {parent_id(card)}" + (f" ({labels} labels)" if labels else "")
            + (", edge readout re-drawn" if card.get("fresh_readout") else ""))
