"""The molecule corpora that ship with E3D (training and held-out evaluation sets)."""

from __future__ import annotations

import os
from typing import List, Tuple

from rdkit import Chem

RESOURCES = os.path.join(os.path.dirname(__file__), "resources")


def canonical(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else smiles


def read_smi(path: str) -> List[Tuple[str, str]]:
    """``SMILES name`` lines (``#`` comments) → [(name, smiles)], deduplicated canonically."""
    seen, rows = set(), []
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            key = canonical(parts[0])
            if key in seen:
                continue
            seen.add(key)
            rows.append((parts[1] if len(parts) > 1 else parts[0], parts[0]))
    return rows


def training_corpus() -> List[Tuple[str, str]]:
    return read_smi(os.path.join(RESOURCES, "corpus_train.smi"))


def evaluation_corpus() -> List[Tuple[str, str]]:
    return read_smi(os.path.join(RESOURCES, "corpus_eval.smi"))
