"""The molecule corpora that ship with E3D (training and held-out evaluation sets).

- ``train``: 214 hand-curated molecules (H C N O F S Cl; alkanes to heteroaromatics, the
  common functional groups, the parents of the experimental BDE table);
- ``train-extended``: those plus every scaffold × substituent combination of
  :data:`SCAFFOLDS` and :data:`SUBSTITUENTS` (functional groups on aliphatic, unsaturated,
  aromatic and heteroaromatic frames), minus duplicates and held-out molecules;
- ``eval``: 43 held-out molecules in no training set;
- ``train-small`` / ``eval-small``: the molecules of ``train`` with ≤ 3 heavy atoms and of
  ``eval`` with ≤ 4 (``eval`` has none smaller), for labels too costly for more (CPU DFT);
- ``train-heldout``: ``train`` without the parents of the package's BDE table, so that every
  BDE row is a held-out test (the emergence study's curated part, for S and Cl);
- ``train-heavy4``: the molecules of ``train-heldout`` with exactly 4 heavy atoms, the next shell of
  DFT frames beyond ``train-small`` (BDE parents held out).

QM9 parents (``qm9:N``, at their B3LYP geometries) are resolved in :mod:`e3d.data.build`.
"""

from __future__ import annotations

import os
from typing import List, Tuple

from rdkit import Chem

from .molecule import canonical

RESOURCES = os.path.join(os.path.dirname(__file__), "resources")
EXP_BDE_TABLE = os.path.join(RESOURCES, "exp_bde_visible.csv")  # the project's seed rows (literature)
BDE_REFERENCE = os.path.join(RESOURCES, "bde_reference.csv")    # + ATcT-derived bonds (python -m e3d data atct)
EVAL_CORPUS = os.path.join(RESOURCES, "corpus_eval.smi")     # the app's and the tables' molecules
REFERENCE_ENERGIES = "reference_energies.json"  # the labelling methods' shipped energies, in precomputed/


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


# "{}" marks where the substituent goes (always right after an atom, so "(group)" is a branch)
SCAFFOLDS = {
    "methyl": "C{}", "ethyl": "CC{}", "propyl": "CCC{}", "isopropyl": "CC(C){}", "tert-butyl": "CC(C)(C){}",
    "cyclopropyl": "C1CC1{}", "cyclohexyl": "C1CCC(CC1){}", "vinyl": "C=C{}", "allyl": "C=CC{}",
    "benzyl": "c1ccc(cc1)C{}", "phenyl": "c1ccc(cc1){}", "4-tolyl": "Cc1ccc(cc1){}", "3-pyridyl": "c1cncc(c1){}",
    "2-thienyl": "c1ccsc1{}", "2-furyl": "c1ccoc1{}", "4-chlorophenyl": "Clc1ccc(cc1){}",
    "isobutyl": "CC(C)C{}", "cyclopentyl": "C1CCC(C1){}", "2-chloroethyl": "ClCC{}",
    "4-methoxyphenyl": "COc1ccc(cc1){}",
}
SUBSTITUENTS = {
    "OH": "O", "OMe": "OC", "OEt": "OCC", "NH2": "N", "NHMe": "NC", "NMe2": "N(C)C", "F": "F", "Cl": "Cl",
    "SH": "S", "SMe": "SC", "CHO": "C=O", "acetyl": "C(C)=O", "COOH": "C(=O)O", "COOMe": "C(=O)OC",
    "CONH2": "C(N)=O", "CN": "C#N", "NO2": "[N+](=O)[O-]", "CF3": "C(F)(F)F", "OAc": "OC(C)=O",
    "NHAc": "NC(C)=O", "SO2Me": "S(C)(=O)=O", "vinyl": "C=C",
}


def substituted_molecules() -> List[Tuple[str, str]]:
    """Every scaffold × substituent as (name, canonical SMILES), in a fixed order."""
    rows = []
    for sname, scaffold in SCAFFOLDS.items():
        for gname, group in SUBSTITUENTS.items():
            mol = Chem.MolFromSmiles(scaffold.format(f"({group})"))
            if mol is not None:
                rows.append((f"{sname}-{gname}", Chem.MolToSmiles(mol)))
    return rows


def training_corpus(extended: bool = False) -> List[Tuple[str, str]]:
    """The curated training corpus; ``extended`` adds the substituted molecules (never a held-out one)."""
    curated = read_smi(os.path.join(RESOURCES, "corpus_train.smi"))
    if not extended:
        return curated
    seen = {canonical(s) for _, s in curated} | {canonical(s) for _, s in evaluation_corpus()}
    rows = list(curated)
    for name, smi in substituted_molecules():
        if smi not in seen:
            seen.add(smi)
            rows.append((name, smi))
    return rows


def evaluation_corpus() -> List[Tuple[str, str]]:
    return read_smi(EVAL_CORPUS)


def bde_parents() -> set:
    """Canonical SMILES of the parents of the package's experimental BDE table."""
    import csv

    with open(BDE_REFERENCE) as fh:
        return {canonical(row["parent_smiles"]) for row in csv.DictReader(fh)}


def held_out() -> set:
    """Canonical SMILES no emergence-study training set may contain: evaluation molecules, BDE parents."""
    return bde_parents() | {canonical(s) for _, s in evaluation_corpus()}


def small(corpus: List[Tuple[str, str]], max_heavy_atoms: int, min_heavy_atoms: int = 0) -> List[Tuple[str, str]]:
    """The molecules of ``corpus`` with ``min_heavy_atoms``…``max_heavy_atoms`` non-hydrogen atoms."""
    return [(name, smi) for name, smi in corpus
            if min_heavy_atoms <= Chem.MolFromSmiles(smi).GetNumHeavyAtoms() <= max_heavy_atoms]


def _train_heldout() -> List[Tuple[str, str]]:
    return [(n, s) for n, s in training_corpus() if canonical(s) not in held_out()]


CORPORA = {
    "train": training_corpus,
    "train-extended": lambda: training_corpus(extended=True),
    "eval": evaluation_corpus,
    "train-small": lambda: small(training_corpus(), 3),
    "eval-small": lambda: small(evaluation_corpus(), 4),
    "train-heldout": _train_heldout,
    "train-heavy4": lambda: small(_train_heldout(), 4, min_heavy_atoms=4),
}
