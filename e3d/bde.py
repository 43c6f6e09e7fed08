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
  minimum instead; so is any model whose relaxation ends in a broken geometry (flagged);
- ``reference_bde``: the same with the labelling method (GFN2-xTB for xTB-trained models;
  relaxed, spin-polarised fragments).
- ``rigid_reference_bde``: the labelling method's BDE with both fragments frozen at the parent's
  GFN2-xTB minimum — the like-with-like partner of D_ij and of the cut energy (GFN2-xTB labels
  only: rigid DFT fragments are not computed here).
- ``thermal_correction``: ΔH_298 − ΔE_e of the homolysis from GFN2-xTB harmonic frequencies
  of the relaxed parent and fragments (:mod:`e3d.thermo`).  Models trained on electronic
  energies give electronic BDEs; ``*_298`` columns (E3D, model-fragment and reference BDEs) add
  the correction so that they compare
  with experiment's 298 K enthalpies (models trained on H298 already give those).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .calculator import model_energy, relax_with_model
from .edges import edge_energies
from .errors import E3DError, InputError
from .fragments import bond_sides, cut_energy, homolytic_fragments, split_at_bond
from .geometry import relax
from .model import E3DModel
from .molecule import Molecule, canonical, from_smiles, validate
from .pairs import bond_type_label, pair_table
from .units import KCAL_PER_EV

BDE_COLUMNS = ["atom_i", "atom_j", "bond_type", "bond_label", "bond_type_seen", "common_organic", "e3d_bde_kcal_mol", "e3d_cut_bde_kcal_mol",
               "e3d_relaxed_estimate_kcal_mol", "model_fragment_bde_kcal_mol", "reference_bde_kcal_mol",
               "rigid_reference_bde_kcal_mol", "reference_method", "quantity", "geometry", "error"]
# the common organic bond types (element pairs, any order) the headline BDE metrics are taken on
COMMON_ORGANIC_PAIRS = frozenset(frozenset(p.split("-")) for p in
                                 ("C-H", "C-C", "C-O", "C-N", "O-H", "N-H", "C-F", "C-Cl", "S-H", "C-S"))
MODEL_MINIMUM = "model minimum"
XTB_MINIMUM = "GFN2-xTB minimum (model trained without forces)"
XTB_FALLBACK = "GFN2-xTB minimum (relaxing with the model broke the molecule)"
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


def locate_bond(parent: Molecule, fragment_a: str, fragment_b: str) -> Tuple[int, int]:
    """Atom indices (i, j) of the parent bond whose homolysis gives fragments A and B."""
    target = sorted([canonical(fragment_a), canonical(fragment_b)])
    for bond in parent.rdmol.GetBonds():
        if bond.IsInRing():
            continue
        if sorted(canonical(s) for s in homolytic_fragments(parent.rdmol, bond.GetIdx())) == target:
            return bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
    raise InputError(f"no bond of {parent.smiles} breaks into {fragment_a} + {fragment_b}")


def xtb_relaxed(mol: Molecule, fmax: float = 0.01) -> Molecule:
    from .data import xtb

    return relax(mol, xtb.XTBCalculator(mol.charge, mol.multiplicity), fmax=fmax, steps=500)


def xtb_energy(mol: Molecule, relax: bool = True) -> float:
    """GFN2-xTB energy (eV) at the xTB minimum (spin-polarised, the molecule's multiplicity)."""
    from .data import xtb

    if relax:
        mol = xtb_relaxed(mol)
    return xtb.energy_and_forces(mol.numbers, mol.positions, mol.charge, mol.multiplicity)[0]


def xtb_enthalpy_correction(mol: Molecule) -> float:
    """H_corr(298 K) = ZPE + thermal enthalpy (eV) of a species at its tightly relaxed xTB minimum."""
    from . import thermo
    from .data import xtb

    relax = lambda m: xtb_relaxed(m, fmax=0.002)  # noqa: E731  (a loose minimum leaves spurious imaginary modes)
    forces = lambda pos: xtb.energy_and_forces(mol.numbers, pos, mol.charge, mol.multiplicity)[1]  # noqa: E731
    return thermo.species_correction(relax(mol), forces, relax=relax)[0]


def thermal_correction(parent_smiles: str, fragment_a: str, fragment_b: str, caches: Dict[str, Dict]) -> float:
    """ΔH_298 − ΔE_e (kcal/mol) of the homolysis, from GFN2-xTB frequencies (cached per SMILES)."""
    from .thermo import bde_correction_kcal_mol

    h = [species_energy(s, xtb_enthalpy_correction, "thermal:GFN2-xTB", caches)
         for s in (parent_smiles, fragment_a, fragment_b)]
    return bde_correction_kcal_mol(*h)


def with_298k(bde: pd.DataFrame, quantity: str, caches: Optional[Dict[str, Dict]] = None,
              progress: bool = False) -> pd.DataFrame:
    """Add the thermal correction and the 298 K columns to a :func:`bde_table` result."""
    caches = {} if caches is None else caches
    out = bde.copy()
    corr = []
    for _, row in tqdm(out.iterrows(), total=len(out), desc="ZPE/thermal", disable=not progress):
        try:
            corr.append(np.nan if isinstance(row.get("error"), str)
                        else thermal_correction(row["parent_smiles"], row["fragment_a"], row["fragment_b"], caches))
        except E3DError:
            corr.append(np.nan)
    out["thermal_correction_kcal_mol"] = corr
    shift = {ELECTRONIC: out["thermal_correction_kcal_mol"], ENTHALPY_298: 0.0}.get(quantity, np.nan)
    for col in ("e3d_bde", "e3d_cut_bde", "e3d_relaxed_estimate", "model_fragment_bde"):
        if f"{col}_kcal_mol" in out:
            out[f"{col}_298_kcal_mol"] = out[f"{col}_kcal_mol"] + shift
    out["reference_bde_298_kcal_mol"] = out["reference_bde_kcal_mol"] + out["thermal_correction_kcal_mol"]
    out["thermal_method"] = THERMAL_METHOD
    return out


def dft_energy(mol: Molecule, level: str) -> float:
    """PySCF single point at ``level`` (RKS closed shells, UKS radicals) at the GFN2-xTB minimum (eV).

    Relaxing every species with DFT is beyond a CPU; the GFN2-xTB minimum is close to the DFT
    one for these small molecules (the BDE error this adds is ~1 kcal/mol, far below the
    differences studied here).  Frequencies for the 298 K terms are GFN2-xTB's as well.
    """
    from .data import dft

    geom = xtb_relaxed(mol)
    return dft.energy(geom.numbers, geom.positions, geom.charge, geom.multiplicity, level, stability=False)


# QM9's level for the QM9 models; the DFT training level for models trained on `data dft` labels
REFERENCE_METHODS: Dict[str, Callable[[Molecule], float]] = {
    "GFN2-xTB": xtb_energy,
    "B3LYP/6-31G(2df,p)": functools.partial(dft_energy, level="B3LYP/6-31G(2df,p)"),
    "B3LYP/def2-SVP": functools.partial(dft_energy, level="B3LYP/def2-SVP"),
}
REFERENCE_NOTES = {"GFN2-xTB": "relaxed, spin-polarised (tblite)",
                   "B3LYP/6-31G(2df,p)": "PySCF single points at GFN2-xTB minima",
                   "B3LYP/def2-SVP": "PySCF single points at GFN2-xTB minima"}
LIVE_REFERENCES = ("GFN2-xTB",)  # fast enough for live stretch scans in the app


def reference_method_for(model: E3DModel) -> Optional[str]:
    """The labelling method whose own BDEs can be computed here, from the model card."""
    level = str(model.card.get("level_of_theory", ""))
    return level if level in REFERENCE_METHODS else None


def live_reference_for(model: E3DModel) -> Optional[str]:
    """The labelling method if it is cheap enough to run live (app stretch scans), else None."""
    ref = reference_method_for(model)
    return ref if ref in LIVE_REFERENCES else None


def in_training_domain(model: E3DModel, parent_smiles: pd.Series) -> pd.Series:
    """True where the parent has no more heavy atoms than the model's largest training molecule."""
    from .molecule import parse_smiles

    heavy = parent_smiles.map(lambda smi: parse_smiles(smi).GetNumHeavyAtoms())
    return heavy <= (model.max_heavy_atoms or np.inf)


def trained_on_forces(model: E3DModel) -> bool:
    """From the card: did the training labels include forces (else gradients are untrained)?"""
    forces = str((model.card.get("labels") or {}).get("forces", ""))
    return not forces.lower().startswith("none")


def model_geometry(model: E3DModel, smiles: str, caches: Dict[str, Dict]) -> Tuple[Molecule, str]:
    """The species where the model is evaluated, and which minimum that is (cached per model)."""
    cache = caches.setdefault(f"geometry:{model.path}", {})
    if smiles not in cache:
        source = XTB_MINIMUM
        if trained_on_forces(model):
            relaxed = relax_with_model(from_smiles(smiles), model)
            try:
                validate(relaxed, model.usable_type_names)
                cache[smiles] = (relaxed, MODEL_MINIMUM)
            except InputError:
                source = XTB_FALLBACK
        if smiles not in cache:
            cache[smiles] = (xtb_minimum(smiles, caches), source)
    return cache[smiles]


def xtb_minimum(smiles: str, caches: Dict[str, Dict]) -> Molecule:
    """A species' GFN2-xTB minimum, relaxed once per ``caches`` and shared by every use.

    The reference energies, the fallback geometry and the frequencies all start from it (the
    functions still relax: from a minimum that is one force call, or a few tighter steps).
    """
    cache = caches.setdefault("geometry:GFN2-xTB", {})
    if smiles not in cache:
        cache[smiles] = xtb_relaxed(from_smiles(smiles))
    return cache[smiles]


RIGID_REFERENCES = ("GFN2-xTB",)  # cheap enough to label the rigid fragments of every row


def rigid_reference_bde(parent_smiles: str, fragment_a: str, fragment_b: str, reference: str,
                        caches: Dict[str, Dict]) -> float:
    """The labeller's BDE (kcal/mol) with both fragments frozen at the parent's GFN2-xTB minimum."""
    from .data import xtb

    if reference not in RIGID_REFERENCES:
        return float("nan")
    cache = caches.setdefault(f"rigid:{reference}", {})
    key = ">".join([parent_smiles, *sorted([fragment_a, fragment_b])])
    if key not in cache:
        parent = xtb_minimum(parent_smiles, caches)
        i, j = locate_bond(parent, fragment_a, fragment_b)
        energy = lambda m: xtb.energy_and_forces(m.numbers, m.positions, m.charge, m.multiplicity)[0]  # noqa: E731
        cache[key] = (sum(energy(f) for f in split_at_bond(parent, i, j)) - energy(parent)) * KCAL_PER_EV
    return cache[key]


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
    reference_bde: float
    rigid_reference_bde: float
    reference_method: Optional[str]
    geometry: str = MODEL_MINIMUM


def species_energy(smiles: str, energy_fn: Callable[[Molecule], float], key: str, caches: Dict[str, Dict]) -> float:
    """``energy_fn`` of a species at its shared GFN2-xTB minimum, cached per SMILES in ``caches[key]``."""
    cache = caches.setdefault(key, {})
    if smiles not in cache:
        cache[smiles] = energy_fn(xtb_minimum(smiles, caches))
    return cache[smiles]


def bond_bde(model: E3DModel, parent_smiles: str, fragment_a: str, fragment_b: str,
             reference: Optional[str] = None, caches: Optional[Dict[str, Dict]] = None) -> BondBDE:
    """Learned, model-fragment and reference-method BDEs (kcal/mol) of one bond."""
    caches = caches if caches is not None else {}
    parent, geometry = model_geometry(model, parent_smiles, caches)  # several rows share a parent: once
    i, j = locate_bond(parent, fragment_a, fragment_b)
    (result,) = edge_energies(model, [parent])  # cheap next to the relaxation
    pairs = pair_table(result)
    d_ij = float(pairs.set_index(["i", "j"]).loc[(min(i, j), max(i, j)), "D_ij"])
    cut = cut_energy(pairs, *bond_sides(parent.rdmol, i, j))
    bond = parent.rdmol.GetBondBetweenAtoms(i, j)
    bond_type, label = bond_type_label(bond), bond_type_label(bond, with_hybridisation=True)

    e_parent = result.total_energy
    e_frag = sum(model_energy(model_geometry(model, s, caches)[0], model) for s in (fragment_a, fragment_b))
    model_frag_bde = (e_frag - e_parent) * KCAL_PER_EV
    e_rigid = sum(model_energy(f, model) for f in split_at_bond(parent, i, j))
    relaxed_estimate = cut - (e_rigid - e_frag) * KCAL_PER_EV

    ref_bde = rigid_ref = float("nan")
    if reference is not None:
        ref_fn = REFERENCE_METHODS[reference]
        e_ref_parent = species_energy(parent_smiles, ref_fn, f"ref:{reference}", caches)
        e_ref_frag = sum(species_energy(s, ref_fn, f"ref:{reference}", caches) for s in (fragment_a, fragment_b))
        ref_bde = (e_ref_frag - e_ref_parent) * KCAL_PER_EV
        rigid_ref = rigid_reference_bde(parent_smiles, fragment_a, fragment_b, reference, caches)
    return BondBDE(i, j, bond_type, label, d_ij, cut, relaxed_estimate, model_frag_bde, ref_bde, rigid_ref, reference, geometry)


def bde_table(model: E3DModel, table: pd.DataFrame, reference: Optional[str] = "auto",
              progress: bool = True, caches: Optional[Dict[str, Dict]] = None, thermal: bool = False
              ) -> pd.DataFrame:
    """The input rows plus E3D, model-fragment and reference BDEs; a bad row gets an ``error``.

    ``caches`` may be shared between calls: reference-method energies do not depend on the model.
    ``thermal`` adds the ZPE/thermal correction and 298 K columns (:func:`with_298k`).
    """
    for col in ("parent_smiles", "fragment_a", "fragment_b"):
        if col not in table.columns:
            raise InputError(f"BDE table needs columns parent_smiles, fragment_a, fragment_b (missing {col})")
    if reference == "auto":
        reference = reference_method_for(model)
    caches = {} if caches is None else caches
    rows = []
    for _, row in tqdm(table.iterrows(), total=len(table), desc="BDE", disable=not progress):
        out = dict.fromkeys(BDE_COLUMNS)
        out.update(reference_method=reference, quantity=model_quantity(model))
        try:
            b = bond_bde(model, row["parent_smiles"], row["fragment_a"], row["fragment_b"], reference, caches)
            seen = model.bond_types_seen
            out.update(atom_i=b.atom_i, atom_j=b.atom_j, bond_type=b.bond_type, bond_label=b.bond_label,
                       bond_type_seen=None if seen is None else b.bond_type in seen,
                       common_organic=is_common_organic(b.bond_type), e3d_bde_kcal_mol=b.e3d_bde,
                       e3d_cut_bde_kcal_mol=b.e3d_cut_bde, e3d_relaxed_estimate_kcal_mol=b.e3d_relaxed_estimate,
                       model_fragment_bde_kcal_mol=b.model_fragment_bde, reference_bde_kcal_mol=b.reference_bde,
                       rigid_reference_bde_kcal_mol=b.rigid_reference_bde, geometry=b.geometry)
        except E3DError as exc:
            out["error"] = str(exc)
        rows.append(out)
    result = pd.concat([table.reset_index(drop=True), pd.DataFrame(rows, columns=BDE_COLUMNS)], axis=1)
    return with_298k(result, model_quantity(model), caches, progress) if thermal else result


SERIES = {  # what a model says about a bond → column stem
    "E3D D_ij": "e3d_bde",
    "E3D fragment cut": "e3d_cut_bde",
    "E3D relaxed estimate": "e3d_relaxed_estimate",
    "model fragments": "model_fragment_bde",
    "labelling method": "reference_bde",
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
    return pd.DataFrame(rows)


SERIES_TAGS = {"E3D D_ij": "d", "E3D fragment cut": "cut", "E3D relaxed estimate": "relaxed_est",
               "model fragments": "frag", "labelling method": "ref"}
TARGET_TAGS = {"labelling method, rigid": "rigid", "labelling method, relaxed": "relaxed", "experiment (298 K)": "exp298"}


def flat_metrics(metrics: pd.DataFrame) -> Dict[str, float]:
    """:func:`bde_metrics` as flat columns ``{series}_vs_{target}_{mae,rho}`` (``d_vs_rigid_mae`` …)."""
    out = {}
    for _, r in metrics.iterrows():
        key = f"{SERIES_TAGS[r['series']]}_vs_{TARGET_TAGS[r['against']]}"
        out[f"{key}_mae"], out[f"{key}_rho"] = float(r["mae"]), float(r["spearman"])
    return out


def parity_metrics(reference: Iterable[float], predicted: Iterable[float]) -> Dict[str, float]:
    """n, MAE, RMSE, R² (of the identity line), least-squares slope/intercept, Spearman ρ."""
    from scipy.stats import spearmanr

    x = np.asarray(list(reference), dtype=float)
    y = np.asarray(list(predicted), dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(len(x))
    if n < 2:
        return {"n": n, "mae": float("nan"), "rmse": float("nan"), "r2": float("nan"),
                "slope": float("nan"), "intercept": float("nan"), "spearman": float("nan")}
    err = y - x
    slope, intercept = np.polyfit(x, y, 1)
    ss_tot = float(np.sum((x - x.mean()) ** 2))
    return {
        "n": n,
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "slope": float(slope),
        "intercept": float(intercept),
        "spearman": float(spearmanr(x, y).statistic),
    }
