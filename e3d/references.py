"""The labelling methods' own energies of species, and the one cache every analysis shares.

A model can learn no better energetics than its labels (docs/E3D_METHOD.md §8), so every BDE
is set beside the labelling method's own:

- GFN2-xTB (tblite, spin-polarised): species relaxed with it;
- B3LYP/6-31G(2df,p) (the QM9 models) and B3LYP/def2-SVP (`data dft` models): PySCF single
  points (RKS closed shells, UKS radicals) at the GFN2-xTB minimum.  Relaxing with DFT is beyond
  a CPU; at these molecules' size the minimum moves the BDE by ~1 kcal/mol.

Every species is relaxed with GFN2-xTB once per :class:`ReferenceCache` and that minimum feeds
its reference energies, its rigid fragments, its frequencies and any fallback geometry.  Each
method is a single-point energy at a given geometry (:data:`REFERENCE_METHODS`): at a species'
minimum it gives the relaxed BDE's energies, at the parent's minimum cut in two the rigid ones.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, Optional, Tuple

from .fragments import locate_bond, split_at_bond
from .geometry import SYMMETRY_BREAK, graph_changes, relax
from .model import E3DModel
from .molecule import Molecule, from_smiles
from .units import KCAL_PER_EV


def xtb_relaxed(mol: Molecule, fmax: float = 0.01) -> Molecule:
    """The GFN2-xTB minimum from ``mol``, symmetric saddles left (:func:`e3d.geometry.relax`)."""
    from .data import xtb

    return relax(mol, xtb.xtb_calculator(mol.charge, mol.multiplicity), fmax=fmax, steps=500, displace=SYMMETRY_BREAK)


def xtb_energy(mol: Molecule, relax: bool = True) -> float:
    """GFN2-xTB energy (eV), spin-polarised, the molecule's multiplicity; at the xTB minimum unless
    ``relax=False`` (then at the geometry given)."""
    from .data import xtb

    if relax:
        mol = xtb_relaxed(mol)
    return xtb.energy_and_forces(mol.numbers, mol.positions, mol.charge, mol.multiplicity)[0]


def dft_energy(mol: Molecule, level: str) -> float:
    """PySCF single point (eV) at ``level`` at the geometry given (RKS closed shells, UKS radicals)."""
    from .data import dft

    return dft.energy(mol.numbers, mol.positions, mol.charge, mol.multiplicity, level, stability=False)


# method → single-point energy (eV) at the geometry given.  QM9's level for the QM9 models; the DFT
# training level for models trained on `data dft` labels
REFERENCE_METHODS: Dict[str, Callable[[Molecule], float]] = {
    "GFN2-xTB": functools.partial(xtb_energy, relax=False),
    "B3LYP/6-31G(2df,p)": functools.partial(dft_energy, level="B3LYP/6-31G(2df,p)"),
    "B3LYP/def2-SVP": functools.partial(dft_energy, level="B3LYP/def2-SVP"),
}
REFERENCE_NOTES = {"GFN2-xTB": "relaxed, spin-polarised (tblite)",
                   "B3LYP/6-31G(2df,p)": "PySCF single points at GFN2-xTB minima",
                   "B3LYP/def2-SVP": "PySCF single points at GFN2-xTB minima"}
LIVE_REFERENCES = ("GFN2-xTB",)   # fast enough for live stretch scans in the app


def reference_method_for(model: E3DModel) -> Optional[str]:
    """The labelling method whose own BDEs can be computed here, from the model card."""
    level = str(model.card.get("level_of_theory", ""))
    return level if level in REFERENCE_METHODS else None


def live_reference_for(model: E3DModel) -> Optional[str]:
    """The labelling method if it is cheap enough to run live (app stretch scans), else None."""
    ref = reference_method_for(model)
    return ref if ref in LIVE_REFERENCES else None


@dataclasses.dataclass
class ReferenceCache:
    """Model-independent, expensive results, shared by every model and call.

    Saved (precomputed/reference_energies.json, ~1 h of GFN2-xTB and PySCF for the shipped table):
    ``energies`` method → SMILES → energy (eV) at the shared GFN2-xTB minimum; ``rigid`` method →
    "parent>A>B" → rigid-fragment BDE (kcal/mol); ``thermal`` SMILES → H_corr(298 K) (eV, GFN2-xTB
    RRHO).  In this process only: ``xtb_minima`` SMILES → GFN2-xTB minimum, and ``model_minima``
    (model file, SMILES) → (the species at that model's minimum, which minimum it is).
    """

    energies: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    rigid: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    thermal: Dict[str, float] = dataclasses.field(default_factory=dict)
    xtb_minima: Dict[str, Molecule] = dataclasses.field(default_factory=dict)
    model_minima: Dict[Tuple[str, str], Tuple[Molecule, str]] = dataclasses.field(default_factory=dict)

    THERMAL_KEY = "thermal:GFN2-xTB"

    @classmethod
    def from_json(cls, saved: Dict[str, Dict]) -> "ReferenceCache":
        cache = cls()
        for key, values in saved.items():
            kind, _, method = key.partition(":")
            if kind == "ref":
                cache.energies[method] = dict(values)
            elif kind == "rigid":
                cache.rigid[method] = dict(values)
            elif key == cls.THERMAL_KEY:
                cache.thermal = dict(values)
        return cache

    @classmethod
    def load(cls, path: str) -> "ReferenceCache":
        """The labelling-method part of a saved reference file (precomputed/reference_energies.json);
        empty if there is none."""
        import json
        import os

        if not os.path.exists(path):
            return cls()
        with open(path) as fh:
            return cls.from_json(json.load(fh).get("bde", {}))

    def to_json(self) -> Dict[str, Dict]:
        out = {f"ref:{m}": dict(v) for m, v in self.energies.items()}
        out.update({f"rigid:{m}": dict(v) for m, v in self.rigid.items()})
        if self.thermal:
            out[self.THERMAL_KEY] = dict(self.thermal)
        return out


def xtb_minimum(smiles: str, cache: ReferenceCache) -> Molecule:
    """A species' GFN2-xTB minimum, relaxed once per cache and shared by every use."""
    if smiles not in cache.xtb_minima:
        cache.xtb_minima[smiles] = xtb_relaxed(from_smiles(smiles))
    return cache.xtb_minima[smiles]


def species_energy(smiles: str, method: str, cache: ReferenceCache) -> float:
    """The labelling method's energy (eV) of a species at its shared GFN2-xTB minimum (cached); NaN when
    GFN2-xTB has no minimum of that species (:func:`sound_minimum`)."""
    energies = cache.energies.setdefault(method, {})
    if smiles not in energies:
        geom = xtb_minimum(smiles, cache)
        energies[smiles] = REFERENCE_METHODS[method](geom) if sound_minimum(geom) else float("nan")
    return energies[smiles]


def sound_minimum(geom: Molecule) -> bool:
    """False when relaxing a species took it apart or fused atoms (:func:`e3d.geometry.graph_changes`): GFN2-xTB
    relaxes the formyloxyl radical HCOO• into H + CO2, so it has no energy of that species to give."""
    return not graph_changes(geom)


def reference_bde(parent_smiles: str, fragment_a: str, fragment_b: str, method: str, cache: ReferenceCache) -> float:
    """The labelling method's homolytic BDE (kcal/mol), every species relaxed."""
    fragments = sum(species_energy(s, method, cache) for s in (fragment_a, fragment_b))
    return (fragments - species_energy(parent_smiles, method, cache)) * KCAL_PER_EV


def rigid_key(parent_smiles: str, fragment_a: str, fragment_b: str) -> str:
    """The cache key of a rigid-fragment BDE: "parent>A>B" (fragments sorted; symmetry-equivalent bonds share it)."""
    return ">".join([parent_smiles, *sorted([fragment_a, fragment_b])])


def rigid_reference_bde(parent_smiles: str, fragment_a: str, fragment_b: str, method: str,
                        cache: ReferenceCache) -> float:
    """The labeller's BDE (kcal/mol) with both fragments frozen at the parent's GFN2-xTB minimum
    (two single points more per bond: seconds to a minute each with DFT on a CPU, cached)."""
    rigid = cache.rigid.setdefault(method, {})
    key = rigid_key(parent_smiles, fragment_a, fragment_b)
    if key not in rigid:
        parent = xtb_minimum(parent_smiles, cache)
        i, j = locate_bond(parent, fragment_a, fragment_b)
        fragments = sum(REFERENCE_METHODS[method](f) for f in split_at_bond(parent, i, j))
        rigid[key] = (fragments - species_energy(parent_smiles, method, cache)) * KCAL_PER_EV
    return rigid[key]
