"""The sum rule against the non-additivity of BDEs: what no edge decomposition can do (docs/E3D_METHOD.md §4d).

The edge energies of a molecule add up to its atomization energy (AE); its BDEs do not:

    Σ_bonds D_ij + Σ_non-bonded D_ab = AE                  (the sum rule, §1)
    G = Σ_bonds BDE(bond) − AE                             (the molecule's additivity gap)
    mean over its bonds of (D_ij − BDE) = −(G + Σ_non-bonded D_ab) / n_bonds

so unless the non-bonded pairs carry −G, D_ij misses the BDEs of a molecule's bonds by −G/n_bonds on
average, however well the model learned.  G is computed with the row's own labelling method (every species
at its GFN2-xTB minimum, isolated atoms in their ground states): rigid (fragments frozen at the parent's
geometry, the partner of D_ij) and relaxed.  Molecules with a ring bond have no G (a ring bond has
no two fragments).  GFN2-xTB's G is computed on demand (milliseconds a fragment); a DFT G needs two PySCF
single points for every bond of the parent, so it comes from the shipped reference energies unless asked
for (``compute``; `e3d bde --additivity-gap`, `e3d precompute`).
"""

from __future__ import annotations

import functools
from typing import Dict, Optional

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .edges import edge_energies
from .errors import E3DError
from .fragments import homolytic_fragments, split_at_bond
from .metrics import parity_metrics
from .references import (REFERENCE_METHODS, ReferenceCache, reference_bde, rigid_key, rigid_reference_bde,
                         species_energy, xtb_minimum)
from .units import KCAL_PER_EV

METHOD = "GFN2-xTB"  # milliseconds a fragment: its gaps are computed whenever a table needs them
ON_DEMAND_METHODS = (METHOD,)
MODEL_GAP_COLUMN = "model_additivity_gap_kcal_mol"
GAP_COLUMNS = {"rigid": "additivity_gap_rigid_kcal_mol", "relaxed": "additivity_gap_relaxed_kcal_mol"}
_NO_GAP = {"sum_rigid_bde_kcal_mol": np.nan, "sum_relaxed_bde_kcal_mol": np.nan,
           "gap_rigid_per_bond_kcal_mol": np.nan, "gap_relaxed_per_bond_kcal_mol": np.nan}


@functools.lru_cache(maxsize=None)
def _atom_energy(element: str, method: str = METHOD) -> float:
    """The isolated atom in its ground state (eV), as the method's training sets use it for μ_t."""
    from .data import dft, xtb

    if method == METHOD:
        return xtb.isolated_atom_energies([element])[element]
    return dft.isolated_atom_energies([element], level=method)[element]


def additivity_gap(smiles: str, cache: Optional[ReferenceCache] = None, method: str = METHOD,
                   compute: bool = True) -> Dict[str, float]:
    """One closed- or open-shell molecule: ``n_bonds``, ``atomization_kcal_mol`` (``method``, ground-state
    atoms), the sums of its bonds' rigid and relaxed BDEs, and the gap per bond G/n_bonds, rigid and
    relaxed (kcal/mol; NaN when the molecule has a ring bond).  With ``compute`` False only energies already
    in ``cache`` are used: a gap whose bonds are not all there is NaN (no single point is run)."""
    cache = cache if cache is not None else ReferenceCache()
    parent = xtb_minimum(smiles, cache)
    bonds = list(parent.rdmol.GetBonds())
    out = {"n_bonds": len(bonds), "atomization_kcal_mol": np.nan, **_NO_GAP}
    if not bonds or any(b.IsInRing() for b in bonds):
        return out
    cuts = [homolytic_fragments(parent.rdmol, bond.GetIdx()) for bond in bonds]
    known = cache.energies.get(method, {})
    have = {"rigid": all(rigid_key(smiles, fa, fb) in cache.rigid.get(method, {}) for fa, fb in cuts),
            "relaxed": all(s in known for cut in cuts for s in cut)}
    if not compute and not (smiles in known and any(have.values())):
        return out
    out["atomization_kcal_mol"] = atomization = (
        sum(_atom_energy(s, method) for s in parent.symbols) - species_energy(smiles, method, cache)) * KCAL_PER_EV
    for kind, bde in (("rigid", rigid_reference_bde), ("relaxed", reference_bde)):
        if compute or have[kind]:
            total = sum(bde(smiles, fa, fb, method, cache) for fa, fb in cuts)
            out[f"sum_{kind}_bde_kcal_mol"] = total
            out[f"gap_{kind}_per_bond_kcal_mol"] = (total - atomization) / len(bonds)
    return out


def model_additivity_gap(model, mol) -> float:
    """The model's own G/n_bonds (kcal/mol) at ``mol``'s geometry: Σ over its bonds of the model's rigid
    BDE (fragments frozen here) minus its atomization energy (−Σ e, the sum rule), per bond; NaN with a
    ring bond.  Over a molecule's bonds the error budget's accuracy term averages to (G_model − G)/n_bonds
    + (AE_model − AE)/n_bonds: a model whose G_model is too small puts every radical too low."""
    bonds = list(mol.rdmol.GetBonds())
    if not bonds or any(b.IsInRing() for b in bonds):
        return float("nan")
    cuts = [split_at_bond(mol, b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds]
    results = edge_energies(model, [mol, *[f for frags in cuts for f in frags]])  # one batched pass
    parent, fragments = results[0], results[1:]
    atomization = (parent.shift_sum - parent.total_energy) * KCAL_PER_EV  # = −Σ e (the sum rule)
    rigid = sum(r.total_energy for r in fragments) - len(bonds) * parent.total_energy
    return float((rigid * KCAL_PER_EV - atomization) / len(bonds))


def gap_table(smiles, cache: Optional[ReferenceCache] = None, progress: bool = True, method: str = METHOD,
              compute: bool = True, save=None) -> pd.DataFrame:
    """:func:`additivity_gap` of each molecule (one row each, column ``smiles``; an ``error`` where
    the labelling method or the molecule failed).  ``save(cache)``, when given, is called after each molecule
    (a long DFT run keeps what it has)."""
    cache = cache if cache is not None else ReferenceCache()
    rows = []
    for smi in tqdm(list(dict.fromkeys(smiles)), desc=f"additivity gap ({method})", disable=not progress):
        try:
            rows.append({"smiles": smi, **additivity_gap(smi, cache, method, compute), "error": None})
        except E3DError as exc:
            rows.append({"smiles": smi, "error": str(exc)})
        if save is not None:
            save(cache)
    return pd.DataFrame(rows)


def with_additivity_gap(bde: pd.DataFrame, cache: Optional[ReferenceCache] = None, progress: bool = True,
                        compute=ON_DEMAND_METHODS, save=None) -> pd.DataFrame:
    """A BDE table (:func:`e3d.bde.bde_table`) with its parents' gap per bond, rigid and relaxed
    (:data:`GAP_COLUMNS`, kcal/mol), each row's with its own labelling method (``reference_method``: the gap pairs
    with that labeller's rigid BDEs only).  Methods in ``compute`` run what is missing; the others' gaps come from
    ``cache`` only (NaN where a parent's bonds are not all there).  ``save(cache)``: as in :func:`gap_table`, for
    the methods computed."""
    out = bde.assign(**{col: np.nan for col in GAP_COLUMNS.values()})
    methods = bde["reference_method"] if "reference_method" in bde else pd.Series(METHOD, index=bde.index)
    for method in methods.dropna().unique():
        if method not in REFERENCE_METHODS:
            continue
        own = methods.eq(method)
        gaps = gap_table(bde.loc[own, "parent_smiles"], cache, progress and method in compute, method,
                         method in compute, save if method in compute else None).set_index("smiles")
        for kind, col in GAP_COLUMNS.items():
            out.loc[own, col] = bde.loc[own, "parent_smiles"].map(gaps.get(f"gap_{kind}_per_bond_kcal_mol"))
    return out


def sum_rule_metrics(bde: pd.DataFrame, rows: Optional[pd.Series] = None) -> Dict[str, float]:
    """On ``rows`` with a gap (kcal/mol): the mean of D_ij − rigid labels, the mean −G/n (what the sum rule
    makes it with the non-bonded pairs at zero), the mean |G/n|, the mean of the model's own G/n
    (:func:`model_additivity_gap`, where the table has it), the Pearson r between each row's miss and
    −G/n of its molecule, and MAE and Spearman ρ against the rigid labels of D_ij and — a diagnostic, the
    labels' G is not the model's — of D_ij + G/n: what is left of the miss once the sum rule's share is removed;
    likewise against experiment (298 K) D_ij + G_relaxed/n, experiment being a relaxed BDE (rows with a
    ``bde_kcal_mol`` and an ``e3d_bde_298_kcal_mol``)."""
    rows = bde["error"].isna() if rows is None else rows
    col = GAP_COLUMNS["rigid"]
    if col not in bde:  # no gaps in the table (none asked for): no row to measure
        bde = bde.assign(**{col: np.nan})
    sub = bde[rows].dropna(subset=[col, "e3d_bde_kcal_mol", "rigid_reference_bde_kcal_mol"])
    miss = sub["e3d_bde_kcal_mol"] - sub["rigid_reference_bde_kcal_mol"]
    enough = len(sub) >= 3 and miss.std() > 0 and sub[col].std() > 0
    plain = parity_metrics(sub["rigid_reference_bde_kcal_mol"], sub["e3d_bde_kcal_mol"])
    shifted = parity_metrics(sub["rigid_reference_bde_kcal_mol"], sub["e3d_bde_kcal_mol"] + sub[col])
    exp = bde[rows].reindex(columns=[GAP_COLUMNS["relaxed"], "e3d_bde_298_kcal_mol", "bde_kcal_mol"]).dropna()
    vs_exp = (parity_metrics(exp["bde_kcal_mol"], exp["e3d_bde_298_kcal_mol"] + exp[GAP_COLUMNS["relaxed"]])
              if len(exp) >= 3 else {})
    return {"sum_rule_n": int(len(sub)),
            "d_vs_rigid_mean_error": float(miss.mean()) if len(sub) else np.nan,
            "sum_rule_mean_offset": float(-sub[col].mean()) if len(sub) else np.nan,
            "additivity_gap_mean_abs": float(sub[col].abs().mean()) if len(sub) else np.nan,
            "model_additivity_gap_mean": float(sub[MODEL_GAP_COLUMN].mean())
            if len(sub) and MODEL_GAP_COLUMN in sub else np.nan,
            "sum_rule_r": float(np.corrcoef(miss, -sub[col])[0, 1]) if enough else np.nan,
            "sum_rule_d_vs_rigid_mae": plain["mae"] if enough else np.nan,  # the same rows, D_ij itself
            "sum_rule_d_vs_rigid_rho": plain["spearman"] if enough else np.nan,
            "d_plus_gap_vs_rigid_mae": shifted["mae"] if enough else np.nan,
            "d_plus_gap_vs_rigid_rho": shifted["spearman"] if enough else np.nan,
            "d_plus_relaxed_gap_vs_exp298_n": int(len(exp)),
            "d_plus_relaxed_gap_vs_exp298_mae": vs_exp.get("mae", np.nan),
            "d_plus_relaxed_gap_vs_exp298_rho": vs_exp.get("spearman", np.nan)}
