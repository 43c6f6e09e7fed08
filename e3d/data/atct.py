"""Experimental 298 K BDEs from Active Thermochemical Tables heats of formation (offline).

ATcT 1.112 gas-phase ΔfH(298 K) ship in the PyPI package ``chemicals`` (Ruscic et al.,
ATcT; via Bell et al.'s ``chemicals``).  For every neutral parent made of H C N O F Cl
and every acyclic bond whose two homolysis fragments are also tabulated:

    BDE(A–B) = ΔfH(A•) + ΔfH(B•) − ΔfH(AB)      (298 K, kJ/mol → kcal/mol)

with the uncertainties added in quadrature.  Radicals are absent from ``chemicals``'
identifier database, so their SMILES are given here by CAS number.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Dict, List, Optional

import pandas as pd
from rdkit import Chem

from ..molecule import canonical
from ..units import KJ_PER_KCAL

ELEMENTS = {"H", "C", "N", "O", "F", "Cl"}
SOURCE = "ATcT 1.112 ΔfH(298 K) (Ruscic et al.), via PyPI chemicals"
ATCT_FILE = "ATcT 1.112 (g).tsv"

# Radicals and atoms by CAS (not in chemicals' identifier database).  Carbenes and species
# whose ground-state spin RDKit's radical count would misstate (CH, CHF, CF2, NO) are left out.
RADICAL_SMILES = {
    "12385-13-6": "[H]", "14762-94-8": "[F]", "22537-15-1": "[Cl]", "17778-80-2": "[O]", "17778-88-0": "[N]",
    "2229-07-4": "[CH3]", "2465-56-7": "[CH2]", "2025-56-1": "C[CH2]", "2669-89-8": "C=[CH]",
    "2122-48-7": "C#[C]", "2932-78-7": "C#C[CH2]", "89342-91-6": "CC#[C]", "2396-01-2": "[c]1ccccc1",
    "3352-57-6": "[OH]", "3170-83-0": "O[O]", "2143-68-2": "C[O]", "2154-50-9": "CC[O]", "2143-58-0": "CO[O]",
    "2597-43-5": "[CH2]O", "2348-46-1": "C[CH]O", "4422-54-2": "[CH2]CO", "2597-44-6": "[CH]=O",
    "3170-69-2": "C[C]=O", "16499-21-1": "O=C[O]", "1871-24-5": "O=[C]F", "2264-21-3": "F[C](F)F",
    "13770-40-6": "[NH2]", "15622-51-2": "C[NH]", "10507-29-6": "[CH2]N", "13598-46-4": "N[NH]",
    "13408-29-2": "N[O]", "15845-29-1": "C=[N]", "2074-87-5": "[C]#N", "14989-30-1": "[O]Cl",
}


def atct_path() -> str:
    import chemicals

    return os.path.join(os.path.dirname(chemicals.__file__), "Reactions", ATCT_FILE)


def species_table() -> pd.DataFrame:
    """Neutral ATcT species of H C N O F Cl with a SMILES: cas, name, smiles, ΔfH and uncertainty (kJ/mol)."""
    from chemicals.identifiers import search_chemical

    rows = []
    with open(atct_path()) as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if "+" in r["Formula"] or "-" in r["Formula"].split(" ")[0]:
                continue
            smiles = RADICAL_SMILES.get(r["CAS"])
            if smiles is None:
                try:
                    smiles = search_chemical(r["CAS"]).smiles
                except Exception:
                    continue
            mol = Chem.MolFromSmiles(smiles or "")
            if mol is None or not {a.GetSymbol() for a in mol.GetAtoms()} <= ELEMENTS:
                continue
            if sum(a.GetFormalCharge() for a in mol.GetAtoms()) != 0:
                continue
            rows.append({"cas": r["CAS"], "name": r["Chemical"], "smiles": Chem.MolToSmiles(mol),
                         "hf298_kj_mol": float(r["Hfg"]) / 1000.0,  # the file is in J/mol
                         "uncertainty_kj_mol": float(r["uncertainty"] or 0) / 1000.0})
    return pd.DataFrame(rows).drop_duplicates("smiles").reset_index(drop=True)


# Parents whose ground state is not the closed shell their usual SMILES implies: written with their
# unpaired electrons, so that every method (model graph, GFN2-xTB, DFT) treats them in that state.
GROUND_STATE_SMILES = {"O=O": "[O][O]"}  # O2: triplet


def _label(smiles: str) -> str:
    return smiles.replace("[", "").replace("]", "")


def derive_bde_rows(species: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Every tabulated homolysis A–B → A• + B• with its 298 K BDE (kcal/mol), one row per distinct bond."""
    from ..fragments import homolytic_fragments

    species = species_table() if species is None else species
    by_smiles = species.set_index("smiles")
    rows: List[Dict[str, object]] = []
    for parent in species.itertuples():
        mol = Chem.AddHs(Chem.MolFromSmiles(parent.smiles))
        if mol.GetNumAtoms() < 2 or any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
            continue
        seen = set()
        for bond in mol.GetBonds():
            if bond.IsInRing():
                continue
            frags = sorted(canonical(s) for s in homolytic_fragments(mol, bond.GetIdx()))
            if len(frags) != 2 or tuple(frags) in seen or not all(f in by_smiles.index for f in frags):
                continue
            seen.add(tuple(frags))
            a, b = (by_smiles.loc[f] for f in frags)
            bde = (a.hf298_kj_mol + b.hf298_kj_mol - parent.hf298_kj_mol) / KJ_PER_KCAL
            unc = math.sqrt(a.uncertainty_kj_mol**2 + b.uncertainty_kj_mol**2 + parent.uncertainty_kj_mol**2) / KJ_PER_KCAL
            rows.append({"label": f"{_label(frags[0])}-{_label(frags[1])}",
                         "parent_smiles": GROUND_STATE_SMILES.get(parent.smiles, parent.smiles),
                         "fragment_a": frags[0], "fragment_b": frags[1], "bde_kcal_mol": round(bde, 2),
                         "uncertainty_kcal_mol": round(unc, 2), "source": f"{SOURCE}; parent {parent.name}"})
    return pd.DataFrame(rows)


def build_reference_table(literature_csv: str, out_csv: str) -> pd.DataFrame:
    """The package's cited BDE table: the literature rows plus every ATcT-derived bond."""
    table = merge_with_literature(pd.read_csv(literature_csv), derive_bde_rows())
    table.to_csv(out_csv, index=False)
    return table


def merge_with_literature(literature: pd.DataFrame, derived: pd.DataFrame) -> pd.DataFrame:
    """Literature rows first (their sources), then ATcT-derived bonds they do not already cover."""
    def key(row):
        return (canonical(row["parent_smiles"]), tuple(sorted([canonical(row["fragment_a"]), canonical(row["fragment_b"])])))

    have = {key(r) for _, r in literature.iterrows()}
    extra = derived[[key(r) not in have for _, r in derived.iterrows()]]
    return pd.concat([literature, extra], ignore_index=True)
