"""Build labelled training sets (extxyz + provenance JSON) reproducibly from a seed.

Variants are cumulative, each teaching one more thing:
``eq`` (relaxed parents) ⊂ ``thermal`` (+ displaced frames) ⊂ ``stretch`` (+ stretched
bonds) ⊂ ``radicals`` (+ relaxed and displaced radical fragments).

Labellers: GFN2-xTB (tblite; geometries relaxed with it) and DFT (PySCF UKS with stability
analysis; on a CPU the geometries are GFN2-xTB minima and their perturbations, labelled with
DFT energies and forces — relaxing with DFT would cost more than labelling).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from ..molecule import Molecule, from_smiles
from . import frames, xtb

VARIANTS = ("eq", "thermal", "stretch", "radicals")
ELEMENTS = ("H", "C", "N", "O", "F", "S", "Cl")


def _frames_for(mol: Molecule, variant: str, rng: np.random.Generator, calc_factory,
                n_thermal: int, n_stretch: int, n_radical_bonds: int) -> List[Tuple[str, Molecule]]:
    level = VARIANTS.index(variant)
    eq = frames.relax(mol, calc_factory(mol))
    out = [("eq", eq)]
    if level >= 1:
        out += [("thermal", m) for m in frames.thermal(eq, rng, n_thermal)]
    if level >= 2:
        out += [("stretch", m) for m in frames.stretched(eq, rng, n_stretch)]
    if level >= 3:
        for frag in frames.radical_fragments(eq, rng, n_radical_bonds):
            frag_eq = frames.relax(frag, calc_factory(frag))
            out.append(("radical", frag_eq))
            out += [("radical", m) for m in frames.thermal(frag_eq, rng, max(1, n_thermal // 3))]
    return out


@dataclasses.dataclass
class Labeller:
    """Who labels the frames (energy, forces); geometries always come from GFN2-xTB."""

    name: str
    provenance: Dict[str, object]
    energy_and_forces: Callable  # (numbers, positions Å, charge, multiplicity) → (eV, eV/Å)
    isolated_atoms: Callable[[Sequence[str]], Dict[str, float]]


def xtb_labeller() -> Labeller:
    return Labeller("GFN2-xTB", xtb.provenance(), xtb.energy_and_forces, xtb.isolated_atom_energies)


def dft_labeller(level: Optional[str] = None) -> Labeller:
    from . import dft

    level = level or dft.TRAINING_LEVEL
    return Labeller(level, dft.provenance(level),
                    lambda z, pos, charge, mult: dft.energy_and_forces(z, pos, charge, mult, level),
                    lambda elements: dft.isolated_atom_energies(elements, level))


def build_xtb_dataset(corpus: Sequence[Tuple[str, str]], out_path: str, **kwargs) -> Dict[str, object]:
    """:func:`build_dataset` with GFN2-xTB labels."""
    return build_dataset(corpus, out_path, xtb_labeller(), **kwargs)


def build_dataset(corpus: Sequence[Tuple[str, str]], out_path: str, labeller: Labeller, variant: str = "radicals",
                  seed: int = 0, n_thermal: int = 8, n_stretch: int = 4, n_radical_bonds: int = 2,
                  elements: Sequence[str] = ELEMENTS, progress: bool = True) -> Dict[str, object]:
    """Label ``corpus`` ([(name, smiles)]); write ``out_path`` (.extxyz) and its provenance.

    Geometries are always relaxed with GFN2-xTB (the DFT labeller relabels them).  Returns the
    provenance dict (also written to ``out_path + '.json'``).
    """
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    rng = np.random.default_rng(seed)
    calc_factory = lambda m: xtb.XTBCalculator(m.charge, m.multiplicity)  # noqa: E731
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    n_frames, counts, failures, seen = 0, {}, [], set()
    with open(out_path, "w") as fh:
        for name, smi in tqdm(corpus, desc=f"{labeller.name} {variant}", disable=not progress):
            try:
                mol = from_smiles(smi, name=name, seed=int(rng.integers(2**31)))
                labelled = _frames_for(mol, variant, rng, calc_factory, n_thermal, n_stretch, n_radical_bonds)
            except Exception as exc:  # keep going: one odd molecule must not lose the dataset
                failures.append({"name": name, "smiles": smi, "error": str(exc)})
                continue
            for kind, m in labelled:
                try:
                    energy, forces = labeller.energy_and_forces(m.numbers, m.positions, m.charge, m.multiplicity)
                except Exception as exc:
                    failures.append({"name": m.label, "smiles": m.smiles, "error": str(exc)})
                    continue
                atoms = m.to_ase()
                atoms.info.update(kind=kind, parent=name, smiles=m.smiles)
                atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
                ase.io.write(fh, atoms, format="extxyz")
                n_frames += 1
                counts[kind] = counts.get(kind, 0) + 1
                seen.update(m.symbols)
    prov = {
        "dataset": os.path.basename(out_path),
        "labels": labeller.provenance,
        "variant": variant,
        "seed": seed,
        "n_molecules": len(corpus),
        "n_frames": n_frames,
        "frames_by_kind": counts,
        "settings": {"n_thermal": n_thermal, "n_stretch": n_stretch, "n_radical_bonds": n_radical_bonds,
                     "relaxation": "ASE BFGS fmax 0.05 eV/Å with GFN2-xTB",
                     "geometries_from": "GFN2-xTB"},
        "isolated_atom_energies_eV": labeller.isolated_atoms(list(elements)),
        "elements": sorted(seen, key=ELEMENTS.index),
        "failures": failures,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov


def split_indices(n: int, fractions: Sequence[float], seed: int) -> List[np.ndarray]:
    """Deterministic random split of range(n) by fractions (the last takes the remainder)."""
    perm = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([int(round(f * n)) for f in fractions[:-1]])
    return np.split(perm, cuts)


def load_provenance(path: str) -> Optional[Dict[str, object]]:
    p = path + ".json"
    if os.path.exists(p):
        with open(p) as fh:
            return json.load(fh)
    return None
