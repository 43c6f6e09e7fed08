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


NEAR_MINIMUM_KINDS = ("eq", "thermal")  # closed-shell parents at or near their minimum


@dataclasses.dataclass
class Labeller:
    """Who labels the frames (energy, forces); geometries always come from GFN2-xTB."""

    name: str
    provenance: Dict[str, object]
    energy_and_forces: Callable  # (numbers, positions Å, charge, multiplicity, near_minimum) → (eV, eV/Å)
    isolated_atoms: Callable[[Sequence[str]], Dict[str, float]]


def xtb_labeller() -> Labeller:
    return Labeller("GFN2-xTB", xtb.provenance(),
                    lambda z, pos, charge, mult, near_minimum=False: xtb.energy_and_forces(z, pos, charge, mult),
                    xtb.isolated_atom_energies)


def dft_labeller(level: Optional[str] = None) -> Labeller:
    from . import dft

    level = level or dft.TRAINING_LEVEL
    return Labeller(level, dft.provenance(level),
                    lambda z, pos, charge, mult, near_minimum=False: dft.energy_and_forces(z, pos, charge, mult, level,
                                                                                           near_minimum),
                    lambda elements: dft.isolated_atom_energies(elements, level))


def build_xtb_dataset(corpus: Sequence[Tuple[str, str]], out_path: str, **kwargs) -> Dict[str, object]:
    """:func:`build_dataset` with GFN2-xTB labels."""
    return build_dataset(corpus, out_path, xtb_labeller(), **kwargs)


def generate_frames(corpus: Sequence[Tuple[str, str]], variant: str = "radicals", seed: int = 0, n_thermal: int = 8,
                    n_stretch: int = 4, n_radical_bonds: int = 2, progress: bool = True
                    ) -> Tuple[List[Tuple[str, str, Molecule]], List[Dict[str, str]]]:
    """Phase 1 (GFN2-xTB, cheap, sequential so one seed fixes every geometry): [(parent, kind, Molecule)], failures."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    rng = np.random.default_rng(seed)
    calc_factory = lambda m: xtb.XTBCalculator(m.charge, m.multiplicity)  # noqa: E731
    out, failures = [], []
    for name, smi in tqdm(corpus, desc=f"geometries ({variant})", disable=not progress):
        try:
            mol = from_smiles(smi, name=name, seed=int(rng.integers(2**31)))
            out += [(name, kind, m) for kind, m in
                    _frames_for(mol, variant, rng, calc_factory, n_thermal, n_stretch, n_radical_bonds)]
        except Exception as exc:  # keep going: one odd molecule must not lose the dataset
            failures.append({"name": name, "smiles": smi, "error": str(exc)})
    return out, failures


_LABEL = None  # the labelling function, inherited by forked workers (labellers hold closures, not picklable)


def _label(task):
    index, kind, m = task
    try:
        return index, _LABEL(m.numbers, m.positions, m.charge, m.multiplicity, kind in NEAR_MINIMUM_KINDS), None
    except Exception as exc:
        return index, None, str(exc)


def _labelled(tasks, labeller: Labeller, workers: int):
    """Yield (index, (energy, forces) or None, error) in task order, over ``workers`` processes."""
    global _LABEL
    _LABEL = labeller.energy_and_forces
    if workers <= 1:
        yield from map(_label, tasks)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_label, tasks)


def build_dataset(corpus: Sequence[Tuple[str, str]], out_path: str, labeller: Labeller, variant: str = "radicals",
                  seed: int = 0, n_thermal: int = 8, n_stretch: int = 4, n_radical_bonds: int = 2,
                  elements: Sequence[str] = ELEMENTS, progress: bool = True, workers: int = 1,
                  resume: bool = False) -> Dict[str, object]:
    """Label ``corpus`` ([(name, smiles)]); write ``out_path`` (.extxyz) and its provenance.

    Geometries come from GFN2-xTB (phase 1, sequential and seeded); phase 2 labels them, over
    ``workers`` processes, appending each frame as it is done.  ``resume`` continues an
    interrupted build (same arguments): frames already in ``out_path`` are kept, not relabelled.
    The output is the same for any number of workers.  Returns the provenance dict (also
    written to ``out_path + '.json'``).
    """
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    geometries, failures = generate_frames(corpus, variant, seed, n_thermal, n_stretch, n_radical_bonds, progress)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    failures_path = out_path + ".failures.jsonl"
    done = -1
    if resume and os.path.exists(out_path):
        done = max((a.info.get("index", -1) for a in ase.io.iread(out_path)), default=-1)
    else:
        for path in (out_path, failures_path):
            open(path, "w").close()
    tasks = [(k, kind, m) for k, (_, kind, m) in enumerate(geometries) if k > done]
    with open(out_path, "a") as fh, open(failures_path, "a") as fail_fh, \
            tqdm(total=len(geometries), initial=len(geometries) - len(tasks), desc=f"{labeller.name} labels",
                 disable=not progress) as bar:
        for index, labels, error in _labelled(tasks, labeller, workers):
            parent, kind, m = geometries[index]
            bar.update()
            if error is not None:
                fail_fh.write(json.dumps({"name": m.label, "smiles": m.smiles, "error": error}) + "\n")
                fail_fh.flush()
                continue
            atoms = m.to_ase()
            atoms.info.update(kind=kind, parent=parent, smiles=m.smiles, index=index)
            atoms.calc = SinglePointCalculator(atoms, energy=labels[0], forces=labels[1])
            ase.io.write(fh, atoms, format="extxyz")
            fh.flush()
    written = list(ase.io.iread(out_path)) if os.path.getsize(out_path) else []
    with open(failures_path) as fail_fh:
        failures += [json.loads(line) for line in fail_fh if line.strip()]
    counts = {}
    for a in written:
        counts[a.info["kind"]] = counts.get(a.info["kind"], 0) + 1
    seen = {s for a in written for s in a.get_chemical_symbols()}
    prov = {
        "dataset": os.path.basename(out_path),
        "labels": labeller.provenance,
        "variant": variant,
        "seed": seed,
        "n_molecules": len(corpus),
        "n_frames": len(written),
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
