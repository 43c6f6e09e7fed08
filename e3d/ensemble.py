"""Seed-ensemble uncertainty of learned bond energies.

Models trained on the same data with different seeds (weight initialisation and
train/validation split) form an ensemble (``ensemble:`` in configs/family.yaml).  For every
bond of the same geometry, the spread of their D_ij says how much of a learned bond energy is
data and how much is the arbitrary choice of one training run:

    D̄_ij = mean_m D_ij^(m),   σ_ij = std_m D_ij^(m)  (ddof = 1)          [kcal/mol]
"""

from __future__ import annotations

from typing import Dict, List, Mapping

import pandas as pd

KEYS = ["molecule", "i", "j"]


def ensemble_members(index: Mapping[str, object]) -> Dict[str, List[str]]:
    """{base model id: [base id, seed ids…]} from the family index (entries with ``ensemble``)."""
    groups: Dict[str, List[str]] = {}
    ids = {m["id"] for m in index.get("models", [])}
    for m in index.get("models", []):
        base = m.get("ensemble")
        if base and base in ids:
            groups.setdefault(base, [base]).append(m["id"])
    return {base: members for base, members in groups.items() if len(members) >= 2}


def bond_spread(pairs: pd.DataFrame, members: List[str]) -> pd.DataFrame:
    """Per bonded pair (same molecule and geometry for every member): D̄, σ and n (kcal/mol).

    ``pairs``: the precomputed pair table (``model_id``, molecule, i, j, bond_type, bonded, D_ij).
    """
    bonds = pairs[pairs["model_id"].isin(members) & pairs["bonded"]]
    wide = bonds.pivot_table(index=KEYS, columns="model_id", values="D_ij", observed=True)
    wide = wide.dropna()  # bonds every member saw
    out = pd.DataFrame({"D_mean": wide.mean(axis=1), "D_std": wide.std(axis=1, ddof=1),
                        "n_members": wide.shape[1]}).reset_index()
    types = bonds.drop_duplicates(KEYS).set_index(KEYS)["bond_type"]
    return out.join(types, on=KEYS)


def bde_spread(bde: pd.DataFrame, members: List[str], column: str = "e3d_bde_kcal_mol") -> pd.DataFrame:
    """Per experimental BDE row: mean and σ of the members' learned BDE (each relaxed with its own model)."""
    rows = bde[bde["model_id"].isin(members) & bde["error"].isna()]
    bond = ["label", "parent_smiles", "fragment_a", "fragment_b"]  # a bond listed by two sources: one row
    wide = rows.pivot_table(index=bond, columns="model_id", values=column).dropna()
    return pd.DataFrame({"bde_mean": wide.mean(axis=1), "bde_std": wide.std(axis=1, ddof=1),
                         "n_members": wide.shape[1]}).reset_index()


def spread_by_type(spread: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile of σ_ij per bond type (kcal/mol)."""
    g = spread.groupby("bond_type", observed=True)["D_std"]
    return pd.DataFrame({"n": g.size(), "median_std": g.median(), "p90_std": g.quantile(0.9)}).reset_index()
