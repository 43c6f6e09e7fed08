"""Learned BDEs of specific bonds beside the labelling method's and experiment's (E3D_METHOD §4).

For a row (parent SMILES, radical fragments A and B):

- the bond: the parent bond whose homolytic cleavage gives exactly {A, B};
- ``e3d_bde``: D_ij of that bond at the parent's minimum *with the model* (kcal/mol);
- ``e3d_cut_bde``: the fragment-cut bond energy −Σ ε_ab over all pairs across the bond (same geometry);
- ``e3d_relaxed_estimate``: the cut energy minus the model's own relaxation energy of each fragment
  (E_model(rigid fragment) − E_model(relaxed fragment)): a relaxed BDE from the model's edges;
- ``model_fragment_bde``: E_model(A•) + E_model(B•) − E_model(AB), all relaxed with the model;
- ``geometry``: where D_ij was taken.  A model trained without forces (QM9 energies) has no
  trustworthy gradients — relaxing with it can fuse atoms — so it is evaluated at the GFN2-xTB
  minimum instead; so is any species whose relaxation with the model breaks it or falls into a hole
  (the parent: ``geometry`` says so; a fragment: ``note`` names it);
- ``reference_bde``: the same with the labelling method (GFN2-xTB for xTB-trained models;
  relaxed, spin-polarised fragments).
- ``rigid_reference_bde``: the labelling method's BDE with both fragments frozen at the parent's
  GFN2-xTB minimum — the like-with-like partner of D_ij and of the cut energy (for DFT labels two
  more PySCF single points per bond, cached like the relaxed ones).
- ``thermal_correction``: ΔH_298 − ΔE_e of the homolysis from GFN2-xTB harmonic frequencies
  of the relaxed parent and fragments (:mod:`e3d.thermo`).  Models trained on electronic
  energies give electronic BDEs; ``*_298`` columns (E3D, model-fragment and reference BDEs) add
  the correction so that they compare
  with experiment's 298 K enthalpies (models trained on H298 already give those).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .additivity import MODEL_GAP_COLUMN, model_additivity_gap
from .calculator import model_energy, relax_many_with_model
from .edges import edge_energies
from .errors import E3DError, InputError
from .fragments import bond_sides, cut_energy, cut_response, locate_bond, split_at_bond
from .model import E3DModel
from .molecule import Molecule, from_smiles, validate
from .metrics import parity_metrics
from .pairs import bond_type_label, pair_table
from .references import (ReferenceCache, reference_bde, reference_method_for, rigid_reference_bde, sound_minimum,
                         xtb_minimum)
from .thermo import thermal_correction
from .units import KCAL_PER_EV

# bump when bde_table's values change for the same inputs: the precompute and study caches key on it and BDE_COLUMNS
# (2: session 38, a relaxation that forms a bond at its usual length or falls into a hole is no model minimum;
#  3: session 39, a fragment read at its GFN2-xTB minimum for that reason is named in `note`)
BDE_VERSION = 3
BDE_COLUMNS = ["atom_i", "atom_j", "bond_type", "bond_label", "bond_type_seen", "common_organic", "e3d_bde_kcal_mol", "e3d_cut_bde_kcal_mol",
               "e3d_relaxed_estimate_kcal_mol", "model_fragment_bde_kcal_mol", "model_rigid_bde_kcal_mol",
               "locality_at_centres_kcal_mol", "reference_bde_kcal_mol",
               "rigid_reference_bde_kcal_mol", "reference_method", "quantity", "geometry", "error", "note",
               "model_additivity_gap_kcal_mol"]  # note: a row's caveats (values left empty and why), error: it failed
# the common organic bond types (element pairs, any order) the headline BDE metrics are taken on
COMMON_ORGANIC_PAIRS = frozenset(frozenset(p.split("-")) for p in
                                 ("C-H", "C-C", "C-O", "C-N", "O-H", "N-H", "C-F", "C-Cl", "S-H", "C-S"))
MODEL_MINIMUM = "model minimum"
XTB_MINIMUM = "GFN2-xTB minimum (model trained without forces)"
XTB_FALLBACK = "GFN2-xTB minimum (relaxing with the model broke the molecule)"
MODEL_HOLE = "GFN2-xTB minimum (relaxing with the model fell into a hole in its energy surface)"
LABELLER_FALLBACKS = (XTB_FALLBACK, MODEL_HOLE)  # a model that trained on forces, read at GFN2-xTB minima
# eV: a model minimum this far below the model's own energy at the species' GFN2-xTB minimum is a hole in the model's
# surface, not the species (session 38, `python bench/model_holes.py`: sound relaxations drop a median 0.02–0.15 eV)
HOLE_EV = 1.0
ELECTRONIC = "electronic BDE (no ZPE/thermal terms), kcal/mol"
ENTHALPY_298 = "298 K bond enthalpy (the model learned H298), kcal/mol"
ZERO_POINT = "0 K BDE incl. ZPE (the model learned U0), kcal/mol"
THERMAL_METHOD = "GFN2-xTB harmonic frequencies (RRHO, 298.15 K)"


def reference_column(quantity: str) -> str:
    """The labelling-method BDE column that compares like with like with a model's D_ij."""
    return "reference_bde_298_kcal_mol" if quantity == ENTHALPY_298 else "reference_bde_kcal_mol"


def model_quantity(model: E3DModel) -> str:
    """What the model's bond energies are, from the target its card says it learned."""
    target = str((model.card.get("labels") or {}).get("target", "")).upper()
    return {"H298": ENTHALPY_298, "U0": ZERO_POINT}.get(target, ELECTRONIC)


def with_298k(bde: pd.DataFrame, quantity: str, cache: Optional[ReferenceCache] = None,
              progress: bool = False) -> pd.DataFrame:
    """Add the thermal correction and the 298 K columns to a :func:`bde_table` result; a row without an error and
    without a thermal term (its 298 K columns stay empty, out of the 298 K metrics) says why in ``note``."""
    cache = ReferenceCache() if cache is None else cache
    out = bde.copy()
    corr, notes = [], []
    old_notes = out["note"] if "note" in out else pd.Series(None, index=out.index, dtype=object)
    for (_, row), old_note in tqdm(zip(out.iterrows(), old_notes), total=len(out), desc="ZPE/thermal",
                                   disable=not progress):
        species = (row["parent_smiles"], row["fragment_a"], row["fragment_b"])
        value, note = np.nan, ""
        if not isinstance(row.get("error"), str):
            try:
                value = thermal_correction(*species, cache)
            except E3DError as exc:
                note = str(exc)
            if not note and not np.isfinite(value):
                broken = [s for s in dict.fromkeys(species) if not np.isfinite(cache.thermal.get(s, np.nan))]
                note = f"{', '.join(broken)} falls apart when relaxed with GFN2-xTB"
            note = f"no ZPE/thermal term ({note})" if note else ""
        corr.append(value)
        notes.append("; ".join(n for n in (old_note, note) if isinstance(n, str) and n) or None)
    out["thermal_correction_kcal_mol"] = corr
    out["note"] = notes
    for col in ("e3d_bde", "e3d_cut_bde", "e3d_relaxed_estimate", "model_fragment_bde", ADDITIVE_FIT):
        if f"{col}_kcal_mol" in out:
            out[f"{col}_298_kcal_mol"] = out[f"{col}_kcal_mol"] + _thermal_shift(out, quantity)
    out["reference_bde_298_kcal_mol"] = out["reference_bde_kcal_mol"] + out["thermal_correction_kcal_mol"]
    out["thermal_method"] = THERMAL_METHOD
    return out


def _thermal_shift(bde: pd.DataFrame, quantity: str):
    """What takes a model's bond energy to 298 K: the thermal term for electronic energies, 0 for H298."""
    return {ELECTRONIC: bde["thermal_correction_kcal_mol"], ENTHALPY_298: 0.0}.get(quantity, np.nan)


ADDITIVE_FIT = "additive_fit"  # column stem: the labels' bond-additive fit of the row's bond type


def with_additive_fit(bde: pd.DataFrame, per_type: pd.Series) -> pd.DataFrame:
    """Add each row's bond-type energy from the bond-additive fit to the model's training labels
    (``per_type``, kcal/mol; docs/E3D_METHOD.md §4b): the baseline that knows bond types and nothing
    of their environment — what a learned bond energy has to beat.  NaN where the type was not fitted."""
    out = bde.copy()
    out[f"{ADDITIVE_FIT}_kcal_mol"] = out["bond_type"].map(per_type).astype(float)
    if "thermal_correction_kcal_mol" in out and len(out):
        out[f"{ADDITIVE_FIT}_298_kcal_mol"] = out[f"{ADDITIVE_FIT}_kcal_mol"] + _thermal_shift(out, out["quantity"].iloc[0])
    return out


def in_training_domain(model: E3DModel, parent_smiles: pd.Series) -> pd.Series:
    """True where the parent has no more heavy atoms than the model's largest training molecule (False where
    it is not a valid SMILES: that row carries its ``error``, the others still count)."""
    from .molecule import parse_smiles

    def heavy_atoms(smi) -> float:
        try:
            return parse_smiles(smi).GetNumHeavyAtoms()
        except E3DError:
            return np.inf

    return parent_smiles.map(heavy_atoms) <= (model.max_heavy_atoms or np.inf)


def trained_on_forces(model: E3DModel) -> bool:
    """From the card: did the training labels include forces (else gradients are untrained)?"""
    forces = str((model.card.get("labels") or {}).get("forces", ""))
    return not forces.lower().startswith("none")


def model_geometry(model: E3DModel, smiles: str, cache: ReferenceCache) -> Tuple[Molecule, str]:
    """The species where the model is evaluated, and which minimum that is (cached per model)."""
    model_geometries(model, [smiles], cache)
    if (model.path, smiles) not in cache.model_minima:
        from_smiles(smiles)  # raises why it could not be read
    return cache.model_minima[(model.path, smiles)]


def model_geometries(model: E3DModel, smiles: Sequence[str], cache: ReferenceCache, progress: bool = False) -> None:
    """:func:`model_geometry` of several species into ``cache``, the model's relaxations batched
    (:func:`~e3d.calculator.relax_many_with_model`: the same minima, several times faster); a SMILES RDKit
    cannot read or embed is left out (:func:`model_geometry` says why)."""
    todo, mols = [], []
    for s in dict.fromkeys(smiles):
        if (model.path, s) not in cache.model_minima:
            try:
                mols.append(from_smiles(s))
                todo.append(s)
            except E3DError:
                continue
    with_forces = trained_on_forces(model)
    relaxed = relax_many_with_model(mols, model, progress=progress) if with_forces else [None] * len(mols)
    for s, mol in zip(todo, relaxed):
        labeller = xtb_minimum(s, cache)
        source = (minimum_problem(model, mol, labeller) or MODEL_MINIMUM) if with_forces else XTB_MINIMUM
        cache.model_minima[(model.path, s)] = (mol if source == MODEL_MINIMUM else labeller, source)


def minimum_problem(model: E3DModel, relaxed: Molecule, labeller_minimum: Molecule) -> str:
    """Why a geometry the model relaxed is not the species' minimum ("" if it is): its bonds changed (collapsed,
    split: :data:`XTB_FALLBACK`) or it lies more than :data:`HOLE_EV` below the model's own energy at the species'
    sound GFN2-xTB minimum (:data:`MODEL_HOLE`: a region of the surface no training frame pinned)."""
    try:
        validate(relaxed, model.usable_type_names)
    except InputError:
        return XTB_FALLBACK
    if not sound_minimum(relaxed):
        return XTB_FALLBACK
    if sound_minimum(labeller_minimum) and (model_energy(relaxed, model)
                                            < model_energy(labeller_minimum, model) - HOLE_EV):
        return MODEL_HOLE
    return ""


def read_at_labeller_minimum(bde: pd.DataFrame) -> pd.Series:
    """Rows whose parent the model could not relax into itself (its minimum collapsed, split or a hole: column
    ``geometry``), so that are read at the parent's GFN2-xTB minimum instead."""
    if "geometry" not in bde:
        return pd.Series(False, index=bde.index)
    return bde["geometry"].isin(LABELLER_FALLBACKS)


def is_common_organic(bond_type: str) -> bool:
    """True for bond types (``C-H``, ``C=O``) of the common organic element pairs."""
    import re

    return frozenset(re.split(r"[-=#:~]", bond_type)) in COMMON_ORGANIC_PAIRS


@dataclasses.dataclass
class BondBDE:
    atom_i: int
    atom_j: int
    bond_type: str
    bond_label: str
    e3d_bde: float
    e3d_cut_bde: float
    e3d_relaxed_estimate: float
    model_fragment_bde: float
    model_rigid_bde: float  # the model's own energies: fragments frozen at the parent geometry, minus the parent
    locality_at_centres: float  # the part of D_cut − model_rigid_bde on the radical centres' pairs (cut_response)
    reference_bde: float
    rigid_reference_bde: float
    reference_method: Optional[str]
    geometry: str = MODEL_MINIMUM
    note: str = ""  # a fragment with no minimum (values left empty) or read at its GFN2-xTB minimum


@dataclasses.dataclass
class CutResponse:
    """What the model says when bond i–j of a molecule is cut, fragments frozen (docs/E3D_METHOD.md §4c).

    ``pairs``: :func:`~e3d.fragments.cut_response` (each pair inside a fragment: D in the parent, alone,
    delta_D, at_centre); energies in eV, bond energies in kcal/mol.
    """

    pairs: pd.DataFrame
    d_ij: float
    d_cut: float
    parent_energy: float
    rigid_energy: float  # Σ E_model(rigid fragment)

    @property
    def model_rigid_bde(self) -> float:
        return (self.rigid_energy - self.parent_energy) * KCAL_PER_EV

    @property
    def locality(self) -> float:
        """D_cut − BDE_rigid(model) = Σ delta_D: the energy the fragments' own pairs take when the bond goes."""
        return self.d_cut - self.model_rigid_bde

    @property
    def locality_at_centres(self) -> float:
        return float(self.pairs.loc[self.pairs["at_centre"], "delta_D"].sum())


def bond_cut_response(model: E3DModel, mol: Molecule, i: int, j: int) -> CutResponse:
    """:class:`CutResponse` of the acyclic bond i–j of ``mol`` at its geometry (ring bonds: InputError)."""
    (result,) = edge_energies(model, [mol])
    pairs = pair_table(result)
    d_ij = float(pairs.set_index(["i", "j"]).loc[(min(i, j), max(i, j)), "D_ij"])
    d_cut = cut_energy(pairs, *bond_sides(mol.rdmol, i, j))  # raises for a ring bond
    fragments = split_at_bond(mol, i, j)
    frag_results = edge_energies(model, fragments)
    response = cut_response(pairs, [(f, pair_table(r)) for f, r in zip(fragments, frag_results)], i, j)
    return CutResponse(response, d_ij, d_cut, result.total_energy, sum(r.total_energy for r in frag_results))


def bond_bde(model: E3DModel, parent_smiles: str, fragment_a: str, fragment_b: str,
             reference: Optional[str] = None, cache: Optional[ReferenceCache] = None) -> BondBDE:
    """Learned, model-fragment and reference-method BDEs (kcal/mol) of one bond."""
    cache = cache if cache is not None else ReferenceCache()
    parent, geometry = model_geometry(model, parent_smiles, cache)  # several rows share a parent: once
    if not sound_minimum(parent):
        raise E3DError(f"{_falls_apart([parent_smiles], geometry)}: no geometry of this molecule to read its bonds at")
    i, j = locate_bond(parent, fragment_a, fragment_b)
    cut = bond_cut_response(model, parent, i, j)
    bond = parent.rdmol.GetBondBetweenAtoms(i, j)
    bond_type, label = bond_type_label(bond), bond_type_label(bond, with_hybridisation=True)
    fragments = {s: model_geometry(model, s, cache) for s in (fragment_a, fragment_b)}
    broken = [s for s, (m, _) in fragments.items() if not sound_minimum(m)]
    note = ""
    if broken:  # its energy would be another species': no relaxed fragment energy to take
        model_frag_bde = relaxed_estimate = float("nan")
        note = f"{_falls_apart(broken, fragments[broken[0]][1])}: no model fragment BDE or relaxed estimate"
    else:
        e_frag = sum(model_energy(fragments[s][0], model) for s in (fragment_a, fragment_b))
        model_frag_bde = (e_frag - cut.parent_energy) * KCAL_PER_EV
        relaxed_estimate = cut.d_cut - (cut.rigid_energy - e_frag) * KCAL_PER_EV
    # a fragment the model could not relax into itself is read at its GFN2-xTB minimum (as a parent would be)
    elsewhere = [f"{s} read at its {g}" for s, (_, g) in fragments.items()
                 if s not in broken and g in LABELLER_FALLBACKS]
    note = "; ".join(n for n in [note] + elsewhere if n)

    ref_bde = rigid_ref = float("nan")
    if reference is not None:
        ref_bde = reference_bde(parent_smiles, fragment_a, fragment_b, reference, cache)
        rigid_ref = rigid_reference_bde(parent_smiles, fragment_a, fragment_b, reference, cache)
    return BondBDE(i, j, bond_type, label, cut.d_ij, cut.d_cut, relaxed_estimate, model_frag_bde, cut.model_rigid_bde,
                   cut.locality_at_centres, ref_bde, rigid_ref, reference, geometry, note)


def _falls_apart(species, geometry: str) -> str:
    """What a note or error says of species with no minimum where the model is read (``geometry``)."""
    how = "with the model and with GFN2-xTB" if geometry == XTB_FALLBACK else "with GFN2-xTB"
    return f"{', '.join(species)} {'falls' if len(species) == 1 else 'fall'} apart when relaxed {how}"


SMILES_COLUMNS = ("parent_smiles", "fragment_a", "fragment_b")  # a BDE table's input: one bond per row


def bde_table(model: E3DModel, table: pd.DataFrame, reference: Optional[str] = "auto",
              progress: bool = True, cache: Optional[ReferenceCache] = None, thermal: bool = False
              ) -> pd.DataFrame:
    """The input rows plus E3D, model-fragment and reference BDEs; a bad row gets an ``error``.

    ``cache`` may be shared between calls: reference-method energies do not depend on the model.
    ``thermal`` adds the ZPE/thermal correction and 298 K columns (:func:`with_298k`).
    """
    for col in SMILES_COLUMNS:
        if col not in table.columns:
            raise InputError(f"BDE table needs columns parent_smiles, fragment_a, fragment_b (missing {col})")
    if "bde_kcal_mol" in table.columns:  # checked before any model work: the metrics compare with it
        values = pd.to_numeric(table["bde_kcal_mol"], errors="coerce")
        bad = values.isna() & table["bde_kcal_mol"].notna()
        if bad.any():
            shown = ", ".join(f"row {k + 1} ({table['bde_kcal_mol'].iloc[k]!r})" for k in np.flatnonzero(bad)[:3])
            raise InputError(f"column bde_kcal_mol must hold numbers in kcal/mol (empty for unknown): {shown}"
                             + (f" and {int(bad.sum()) - 3} more" if bad.sum() > 3 else ""))
        table = table.assign(bde_kcal_mol=values)
    if reference == "auto":
        reference = reference_method_for(model)
    cache = ReferenceCache() if cache is None else cache
    model_geometries(model, table[list(SMILES_COLUMNS)].to_numpy().ravel(), cache, progress)  # relaxations batched
    rows = []
    for _, row in tqdm(table.iterrows(), total=len(table), desc="BDE", disable=not progress):
        out = dict.fromkeys(BDE_COLUMNS)
        out.update(reference_method=reference, quantity=model_quantity(model))
        try:
            empty = [col for col in SMILES_COLUMNS if not isinstance(row[col], str) or not row[col].strip()]
            if empty:  # an empty cell: say which column, not "empty SMILES string"
                raise InputError(f"empty {' and '.join(empty)}")
            b = bond_bde(model, row["parent_smiles"], row["fragment_a"], row["fragment_b"], reference, cache)
            out.update(atom_i=b.atom_i, atom_j=b.atom_j, bond_type=b.bond_type, bond_label=b.bond_label,
                       common_organic=is_common_organic(b.bond_type), e3d_bde_kcal_mol=b.e3d_bde,
                       e3d_cut_bde_kcal_mol=b.e3d_cut_bde, e3d_relaxed_estimate_kcal_mol=b.e3d_relaxed_estimate,
                       model_fragment_bde_kcal_mol=b.model_fragment_bde, model_rigid_bde_kcal_mol=b.model_rigid_bde,
                       locality_at_centres_kcal_mol=b.locality_at_centres,
                       reference_bde_kcal_mol=b.reference_bde,
                       rigid_reference_bde_kcal_mol=b.rigid_reference_bde, geometry=b.geometry, note=b.note or None)
        except E3DError as exc:
            out["error"] = str(exc)
        rows.append(out)
    result = pd.concat([table.reset_index(drop=True), pd.DataFrame(rows, columns=BDE_COLUMNS)], axis=1)
    gaps = {smi: model_additivity_gap(model, model_geometry(model, smi, cache)[0])  # once per parent (cached minima)
            for smi in result.loc[result["error"].isna(), "parent_smiles"].unique()}
    result[MODEL_GAP_COLUMN] = result["parent_smiles"].map(gaps).where(result["error"].isna())
    result = with_bond_types_seen(result, model)
    return with_298k(result, model_quantity(model), cache, progress) if thermal else result


def with_bond_types_seen(bde: pd.DataFrame, model: E3DModel) -> pd.DataFrame:
    """``bond_type_seen`` of each computed row from the model's card (None where the card does not say): kept
    apart from the evaluation, so a card's corrected domain reaches tables computed before."""
    seen = model.bond_types_seen
    flags = [None if seen is None or not isinstance(t, str) else t in seen for t in bde["bond_type"]]
    return bde.assign(bond_type_seen=pd.Series(flags, index=bde.index, dtype=object))


SERIES = {  # what a model says about a bond → column stem
    "E3D D_ij": "e3d_bde",
    "E3D fragment cut": "e3d_cut_bde",
    "E3D relaxed estimate": "e3d_relaxed_estimate",
    "model fragments": "model_fragment_bde",
    "labelling method": "reference_bde",
    "labels' bond-additive fit": ADDITIVE_FIT,
}


def headline_mask(bde: pd.DataFrame, model: Optional[E3DModel] = None) -> pd.Series:
    """Rows the headline metrics are taken on: computed, of a common organic bond type, of a type the
    model saw in training (unknown counts as seen) and, given the model, within its training domain."""
    ok = bde["error"].isna() & bde["common_organic"].astype(bool)
    ok &= bde["bond_type_seen"].map(lambda v: v is not False)
    return ok & in_training_domain(model, bde["parent_smiles"]) if model is not None else ok


def bde_metrics(bde: pd.DataFrame, quantity: str, rows: Optional[pd.Series] = None) -> pd.DataFrame:
    """Parity metrics of every series against experiment (298 K), the labelling method's relaxed BDE
    and its rigid BDE (like with like: D_ij and the cut are rigid, the relaxed estimate relaxed).

    One row per (series, target) with n, MAE, RMSE, R², slope, intercept, Spearman ρ (kcal/mol),
    on ``rows`` (a boolean mask; default every row without an error).
    """
    ok = bde["error"].isna() if rows is None else rows
    targets = {"experiment (298 K)": "bde_kcal_mol", "labelling method, relaxed": reference_column(quantity),
               "labelling method, rigid": "rigid_reference_bde_kcal_mol"}
    rows = []
    for target, ref_col in targets.items():
        for series, stem in SERIES.items():
            col = f"{stem}_298_kcal_mol" if target.startswith("experiment") else f"{stem}_kcal_mol"
            if stem == "reference_bde" and target.startswith("labelling"):
                continue
            if ref_col not in bde or col not in bde:
                continue
            m = parity_metrics(bde.loc[ok, ref_col], bde.loc[ok, col])
            if m["n"] >= 2:
                rows.append({"series": series, "against": target, **m})
    return pd.DataFrame(rows, columns=["series", "against", *parity_metrics([], [])])  # columns even when empty


SERIES_TAGS = {"E3D D_ij": "d", "E3D fragment cut": "cut", "E3D relaxed estimate": "relaxed_est",
               "model fragments": "frag", "labelling method": "ref", "labels' bond-additive fit": "fit"}
TARGET_TAGS = {"labelling method, rigid": "rigid", "labelling method, relaxed": "relaxed", "experiment (298 K)": "exp298"}


def flat_metrics(metrics: pd.DataFrame) -> Dict[str, float]:
    """:func:`bde_metrics` as flat columns ``{series}_vs_{target}_{mae,rho}`` (``d_vs_rigid_mae`` …)."""
    out = {}
    for _, r in metrics.iterrows():
        key = f"{SERIES_TAGS[r['series']]}_vs_{TARGET_TAGS[r['against']]}"
        out[f"{key}_mae"], out[f"{key}_rho"] = float(r["mae"]), float(r["spearman"])
    return out


# D_ij − rigid BDE of the labels, split in three (kcal/mol; docs/E3D_METHOD.md, "error budget"):
#   accuracy  = model rigid BDE − labels' rigid BDE   (has the model learned the homolysis energy?)
#   locality  = fragment cut − model rigid BDE        (is that energy in the pairs across the bond, or
#                                                      in the fragments' own edges, which change when the
#                                                      other fragment leaves?)
#   partition = D_ij − fragment cut                   (how much of the cut the bond's own pair carries)
ERROR_BUDGET = {"accuracy": ("model_rigid_bde_kcal_mol", "rigid_reference_bde_kcal_mol"),
                "locality": ("e3d_cut_bde_kcal_mol", "model_rigid_bde_kcal_mol"),
                "partition": ("e3d_bde_kcal_mol", "e3d_cut_bde_kcal_mol")}
# the locality term split by where the energy moves (fragments.cut_response): the radical centres' own
# pairs, and every other pair of the fragments (which only a shorter receptive field keeps out)
LOCALITY_SPLIT = ("locality_at_centres", "locality_beyond")


def _budget_terms(bde: pd.DataFrame) -> pd.DataFrame:
    """Each row's error-budget terms (kcal/mol): the three of :data:`ERROR_BUDGET` and :data:`LOCALITY_SPLIT`."""
    terms = pd.DataFrame({t: bde[a] - bde[b] for t, (a, b) in ERROR_BUDGET.items()})
    centres = bde.get("locality_at_centres_kcal_mol", pd.Series(np.nan, index=bde.index)).astype(float)
    return terms.assign(locality_at_centres=centres, locality_beyond=terms["locality"] - centres)


def error_budget(bde: pd.DataFrame, rows: Optional[pd.Series] = None) -> Dict[str, float]:
    """Mean (signed) and mean absolute value of each :data:`ERROR_BUDGET` term (and of the two parts of
    the locality term) on ``rows`` (default: every computed row); the three means add up to the mean of
    D_ij − rigid BDE."""
    rows = bde["error"].isna() if rows is None else rows
    terms = _budget_terms(bde[rows])
    out = {}
    for term in [*ERROR_BUDGET, *LOCALITY_SPLIT]:
        diff = terms[term].dropna()
        out[f"budget_{term}_mean"] = float(diff.mean()) if len(diff) else float("nan")
        out[f"budget_{term}_mae"] = float(diff.abs().mean()) if len(diff) else float("nan")
    return out


# the relaxed estimate's miss against the labels' relaxed BDE, likewise (kcal/mol):
#   relaxed estimate − relaxed labels = (cut − rigid labels) + relaxation,
#   relaxation = labels' relaxation energy (rigid − relaxed labels)
#                − the model's own (model rigid − model fragments)
RELAXATION_TERM = ("model_rigid_bde_kcal_mol", "model_fragment_bde_kcal_mol",
                   "rigid_reference_bde_kcal_mol", "reference_bde_kcal_mol")


def relaxation_term(bde: pd.DataFrame, rows: Optional[pd.Series] = None) -> Dict[str, float]:
    """Mean (signed) and mean absolute :data:`RELAXATION_TERM` on ``rows``: how far the model relaxes the
    fragments beyond (< 0) or short of (> 0) its labels, per bond (kcal/mol)."""
    rows = bde["error"].isna() if rows is None else rows
    diff = _relaxation_per_row(bde[rows]).dropna()
    return {"relaxation_term_mean": float(diff.mean()) if len(diff) else float("nan"),
            "relaxation_term_mae": float(diff.abs().mean()) if len(diff) else float("nan")}


def _relaxation_per_row(bde: pd.DataFrame) -> pd.Series:
    """:data:`RELAXATION_TERM` of each row (NaN where a column is missing or empty)."""
    model_rigid, model_relaxed, rigid, relaxed = (bde.get(c, pd.Series(np.nan, index=bde.index)).astype(float)
                                                  for c in RELAXATION_TERM)
    return (rigid - relaxed) - (model_rigid - model_relaxed)


def error_budget_by_type(bde: pd.DataFrame, rows: Optional[pd.Series] = None) -> pd.DataFrame:
    """:data:`ERROR_BUDGET` per bond type: n, mean D_ij − rigid labels and the mean of each term
    (signed, kcal/mol; the three terms add up to the total; the locality term's two parts beside it,
    ``sum_rule_offset``, the mean −G/n_bonds of the rows' parents where the table has the additivity gap, and
    ``relaxation``, the relaxed estimate's :data:`RELAXATION_TERM`), bond types with the most rows first."""
    rows = bde["error"].isna() if rows is None else rows
    sub = bde[rows].dropna(subset=[c for pair in ERROR_BUDGET.values() for c in pair])
    terms = _budget_terms(sub).assign(bond_type=sub["bond_type"],
                                      total=sub["e3d_bde_kcal_mol"] - sub["rigid_reference_bde_kcal_mol"])
    gap = sub.get("additivity_gap_rigid_kcal_mol", pd.Series(np.nan, index=sub.index)).astype(float)
    # beside the terms, not of them: the sum rule's share (docs/E3D_METHOD.md §4d) and the relaxed estimate's own term
    terms = terms.assign(sum_rule_offset=-gap, relaxation=_relaxation_per_row(sub))
    out = terms.groupby("bond_type").agg(n=("total", "size"), **{
        c: (c, "mean") for c in ["total", *ERROR_BUDGET, *LOCALITY_SPLIT, "sum_rule_offset", "relaxation"]})
    return out.sort_values("n", ascending=False).reset_index()
