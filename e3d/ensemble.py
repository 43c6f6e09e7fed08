"""Seed-ensemble uncertainty of learned bond energies.

Models trained on the same data with different seeds (weight initialisation and
train/validation split) form an ensemble (``ensemble:`` in configs/family.yaml).  For every
bond of the same geometry, the spread of their D_ij says how much of a learned bond energy is
data and how much is the arbitrary choice of one training run:

    D̄_ij = mean_m D_ij^(m),   σ_ij = std_m D_ij^(m)  (ddof = 1)          [kcal/mol]
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import numpy as np
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


# The quantities of an experimental bond whose seed spread is compared: D_ij and the fragment-cut sum depend
# on how the model splits its energy into edges; the model's own BDEs are energy differences only.  Similar
# seeds on the last two and different ones on the first two mean the data pin the energy, not its split.
SPREAD_QUANTITIES = {
    "bde": ("e3d_bde_kcal_mol", "E3D D_ij"),
    "cut": ("e3d_cut_bde_kcal_mol", "fragment-cut sum D_cut"),
    "model_rigid": ("model_rigid_bde_kcal_mol", "model's own rigid BDE (energy difference)"),
    "model_relaxed": ("model_fragment_bde_kcal_mol", "model's own relaxed BDE (energy difference)"),
}
_BOND = ["label", "parent_smiles", "fragment_a", "fragment_b"]  # a bond listed by two sources: one row


def bde_spread(bde: pd.DataFrame, members: List[str]) -> pd.DataFrame:
    """Per experimental BDE row: mean and σ over the members of each of :data:`SPREAD_QUANTITIES`
    (``bde_mean``/``bde_std`` for D_ij, ``cut_std``, ``model_rigid_std`` … kcal/mol), rows every member has
    D_ij for; ``headline``: the row counts in every member's headline metrics (:func:`_headline`)."""
    rows = _member_rows(bde, members)
    out = None
    for prefix, (column, _) in SPREAD_QUANTITIES.items():
        if column not in rows:
            continue
        wide = _by_member(rows, column)
        part = pd.DataFrame({f"{prefix}_mean": wide.mean(axis=1), f"{prefix}_std": wide.std(axis=1, ddof=1)})
        if out is None:
            out = part.assign(n_members=wide.shape[1])
        else:
            out = out.join(part, how="left")
    headline = _headline(rows)
    if headline is not None:
        out = out.join(headline, how="left")
    return out.reset_index()


def _member_rows(bde: pd.DataFrame, members: List[str]) -> pd.DataFrame:
    """The members' computed BDE rows."""
    return bde[bde["model_id"].isin(members) & bde["error"].isna()]


def _by_member(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """``column`` with one row per bond (:data:`_BOND`) and one column per member; bonds every member has."""
    return rows.pivot_table(index=_BOND, columns="model_id", values=column).dropna()


def _headline(rows: pd.DataFrame) -> Optional[pd.Series]:
    """Per bond (index: the BDE row's keys): in the headline set of every member — their own mask where the
    table carries one (``headline``, e.g. the study's, within each model's training domain), else
    :func:`e3d.bde.headline_mask`; None when the table cannot tell."""
    from .bde import headline_mask

    if "headline" not in rows and not {"common_organic", "bond_type_seen"} <= set(rows.columns):
        return None
    marked = rows if "headline" in rows else rows.assign(headline=headline_mask(rows))
    return marked.groupby(_BOND)["headline"].all()


def _headline_by_member(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """:func:`_by_member`, kept to the bonds in every member's headline set where the table tells (:func:`_headline`)."""
    wide = _by_member(rows, column)
    headline = _headline(rows)
    return wide if headline is None else wide[headline.reindex(wide.index).fillna(False).astype(bool)]


def seed_mean_parity(bde: pd.DataFrame, members: List[str],
                     reference: str = "rigid_reference_bde_kcal_mol") -> Dict[str, float]:
    """The members' D_ij averaged bond by bond, D̄_ij, against ``reference`` (default: the labels' rigid BDE),
    beside each member alone on the same headline rows (kcal/mol): what averages out over seeds is the
    seed's arbitrary split; what is left is shared by every seed.

    Returns n, ``seed_mean_mae``/``seed_mean_rho`` and the members' mean ``member_mae``/``member_rho``."""
    from .metrics import parity_metrics

    rows = _member_rows(bde, members)
    wide = _headline_by_member(rows, SPREAD_QUANTITIES["bde"][0])
    ref = rows.groupby(_BOND)[reference].first().reindex(wide.index)
    mean = parity_metrics(ref, wide.mean(axis=1))
    each = [parity_metrics(ref, wide[m]) for m in wide.columns]
    return {"n": mean["n"], "n_seeds": int(wide.shape[1]), "seed_mean_mae": mean["mae"],
            "seed_mean_rho": mean["spearman"], "member_mae": float(np.mean([m["mae"] for m in each])),
            "member_rho": float(np.mean([m["spearman"] for m in each]))}


def member_table(bde: pd.DataFrame, members: List[str], column: str) -> pd.DataFrame:
    """``column`` per bond (one column per member) on the bonds every member has and, where the table tells,
    every member counts in its headline set, with each bond's ``bond_type`` and the BDE table's references
    (experiment, the labels' relaxed and rigid BDEs, as the rows carry them)."""
    rows = _member_rows(bde, members)
    wide = _headline_by_member(rows, column)
    shared = [c for c in ("bond_type", "bde_kcal_mol", "reference_bde_kcal_mol", "rigid_reference_bde_kcal_mol")
              if c in rows]
    return wide.join(rows.groupby(_BOND)[shared].first())


def spread_by_quantity(spread: pd.DataFrame) -> pd.DataFrame:
    """One row per quantity of :data:`SPREAD_QUANTITIES` in ``spread`` (a :func:`bde_spread` table): bonds,
    median and 90th percentile of σ (kcal/mol), on the headline rows when the table marks them."""
    if "headline" in spread:
        spread = spread[spread["headline"].fillna(False).astype(bool)]
    rows = []
    for prefix, (_, label) in SPREAD_QUANTITIES.items():
        sd = spread.get(f"{prefix}_std", pd.Series(dtype=float)).dropna()
        if len(sd):
            rows.append({"quantity": label, "n": len(sd), "median_std": sd.median(), "p90_std": sd.quantile(0.9)})
    return pd.DataFrame(rows, columns=["quantity", "n", "median_std", "p90_std"])


def spread_by_type(spread: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile of σ_ij per bond type (kcal/mol)."""
    g = spread.groupby("bond_type", observed=True)["D_std"]
    return pd.DataFrame({"n": g.size(), "median_std": g.median(), "p90_std": g.quantile(0.9)}).reset_index()


def quantity_spread_wide(spread: pd.DataFrame) -> pd.DataFrame:
    """:func:`spread_by_quantity` tables of several groups (column ``group``, ``n_seeds``) side by side: one
    row per group — seeds, bonds, then the median σ of each quantity (kcal/mol), in the order given."""
    if spread.empty:
        return pd.DataFrame()
    quantities = list(dict.fromkeys(spread["quantity"]))
    wide = spread.pivot_table(index="group", columns="quantity", values="median_std", sort=False)
    head = spread.groupby("group", sort=False).agg(seeds=("n_seeds", "first"), bonds=("n", "max"))
    return head.join(wide[quantities]).reset_index()


MIN_TYPE_BONDS = 5  # a bond type's seed σ counts once the held-out corpus has this many of its bonds


def seed_sigma_by_group(spread: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (index: group) of a seed-spread table, over the bond types with ≥
    :data:`MIN_TYPE_BONDS` held-out bonds: the worst type, its σ, the median σ over those types, the seeds."""
    sigma = spread[spread["n"] >= MIN_TYPE_BONDS] if len(spread) else spread
    if not len(sigma):
        return pd.DataFrame(columns=["worst_type", "worst", "median", "n_seeds"])
    worst = sigma.loc[sigma.groupby("group")["median_std"].idxmax()].set_index("group")
    return pd.DataFrame({"worst_type": worst["bond_type"], "worst": worst["median_std"],
                         "median": sigma.groupby("group")["median_std"].median(), "n_seeds": worst["n_seeds"]})


def part_medians_by_type(pairs: pd.DataFrame, members: List[str]) -> pd.DataFrame:
    """Where the seeds' per-type bond energies part: per bond type, each member's median D_ij over its bonds in the
    pair table, of the model (``part`` "model") and of each of its parts (a Δ sum's GFN2-xTB model and Δ model,
    the table's ``D_ij[part]`` columns, in column order, named by the first member's: "part 1 (xtb-…)" …), and
    their s.d. over the members (ddof = 1; kcal/mol).  Columns: bond_type, n (bonds of the first member), part,
    one column per member, std."""
    rows, names = [], {}
    for member in members:
        bonds = pairs[(pairs["model_id"] == member) & pairs["bonded"]]
        part_cols = [c for c in bonds.columns if c.startswith("D_ij[") and bonds[c].notna().any()]
        for p, col in enumerate(part_cols):
            names.setdefault(p, f"part {p + 1} ({col[len('D_ij['):-1]})")
        for name, col in [("model", "D_ij"), *((names[p], c) for p, c in enumerate(part_cols))]:
            g = bonds.groupby("bond_type", observed=True)[col]
            rows += [{"bond_type": t, "part": name, "member": member, "median": v, "n": n}
                     for (t, v), n in zip(g.median().items(), g.size())]
    long = pd.DataFrame(rows)
    if long.empty:
        return long
    wide = long.pivot_table(index=["bond_type", "part"], columns="member", values="median", observed=True)
    wide = wide.reindex(columns=members)
    n = long[long["member"] == members[0]].groupby(["bond_type", "part"])["n"].first()
    out = wide.assign(std=wide.std(axis=1, ddof=1), n=n.reindex(wide.index)).reset_index()
    return out[["bond_type", "n", "part", *members, "std"]]
