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
from typing import Callable, Collection, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from tqdm.auto import tqdm

from ..errors import E3DError
from ..geometry import RELAX_FMAX, relax
from ..molecule import Molecule, from_smiles
from . import frames, xtb

VARIANTS = ("eq", "thermal", "stretch", "radicals")
# the frame kinds of each variant (cumulative): a smaller variant is a frame-kind subset of a larger one
VARIANT_KINDS = {v: ("eq", "thermal", "stretch", "radical")[:k + 1] for k, v in enumerate(VARIANTS)}
ELEMENTS = ("H", "C", "N", "O", "F", "S", "Cl")


def _frames_for(mol: Molecule, variant: str, rng: np.random.Generator, calc_factory,
                n_thermal: int, n_stretch: int, n_radical_bonds: int,
                at_given_geometry: bool = False, cleave: Optional[Sequence[str]] = None) -> List[Tuple[str, Molecule]]:
    """The frames one parent teaches.  ``at_given_geometry``: the parent's geometry is already a
    minimum of a better method (QM9's B3LYP) — it is used as is, and its radicals are the rigid
    fragments at that geometry (no relaxation: ~10× cheaper, and the very species of the rigid BDE)."""
    level = VARIANTS.index(variant)
    eq = mol if at_given_geometry else relax(mol, calc_factory(mol))
    out = [("eq", eq)]
    if level >= 1:
        out += [("thermal", m) for m in frames.thermal(eq, rng, n_thermal)]
    if level >= 2:
        out += [("stretch", m) for m in frames.stretched(eq, rng, n_stretch)]
    if level >= 3 and at_given_geometry:
        for frag in frames.rigid_radical_fragments(eq, rng, n_radical_bonds):
            out.append(("radical", frag))
            out += [("radical", m) for m in frames.thermal(frag, rng, max(1, n_thermal // 4))]
    elif level >= 3:
        for frag in frames.radical_fragments(eq, rng, n_radical_bonds, cleave):
            frag_eq = relax(frag, calc_factory(frag))
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


QM9_SPLITS = {"qm9": "pool", "qm9-test": "test"}  # corpus spec prefix → split of e3d.data.qm9.splits


def corpus_items(spec: str) -> List[Union[Tuple[str, str], Molecule]]:
    """Parents from a corpus spec: a shipped corpus name, a .smi file, ``qm9:N`` (the first N
    usable QM9 molecules, held-out molecules excluded), ``qm9-test:N`` (the first N of QM9's test
    split, never trained on), or several joined by ``+``."""
    from ..corpus import CORPORA, held_out, read_smi

    items: List[Union[Tuple[str, str], Molecule]] = []
    for part in spec.split("+"):
        name, _, n = part.partition(":")
        if part in CORPORA:
            items += CORPORA[part]()
        elif name in QM9_SPLITS and n.isdigit():
            from .qm9 import qm9_parents

            items += qm9_parents(int(n), exclude=held_out(), split=QM9_SPLITS[name])
        elif part.endswith(".smi") and os.path.exists(part):
            items += read_smi(part)
        else:
            raise E3DError(f"--corpus: {part!r} is not one of {', '.join(CORPORA)}, qm9:N, qm9-test:N or an existing "
                           ".smi file")
    return items


def build_xtb_dataset(corpus: Sequence[Tuple[str, str]], out_path: str, **kwargs) -> Dict[str, object]:
    """:func:`build_dataset` with GFN2-xTB labels."""
    return build_dataset(corpus, out_path, xtb_labeller(), **kwargs)


def generate_frames(corpus: Sequence[Union[Tuple[str, str], Molecule]], variant: str = "radicals", seed: int = 0, n_thermal: int = 8,
                    n_stretch: int = 4, n_radical_bonds: int = 2, progress: bool = True,
                    cleave: Optional[Sequence[str]] = None
                    ) -> Tuple[List[Tuple[str, str, Molecule]], List[Dict[str, str]]]:
    """Phase 1 (GFN2-xTB, cheap, sequential so one seed fixes every geometry): [(parent, kind, Molecule)], failures.

    ``corpus`` items are (name, SMILES) — embedded and relaxed with GFN2-xTB — or Molecules whose
    geometry is used as given (QM9's B3LYP minima; see :func:`_frames_for`)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if cleave is not None:  # checked here, where it is used: every caller gets the refusal, not a silent no-op
        from ..pairs import check_bond_type

        cleave = [check_bond_type(t) for t in cleave]
        if any(isinstance(item, Molecule) for item in corpus):
            raise E3DError("cleave needs SMILES parents; QM9 parents get rigid radicals of random single bonds")
    rng = np.random.default_rng(seed)
    calc_factory = lambda m: xtb.xtb_calculator(m.charge, m.multiplicity)  # noqa: E731
    out, failures = [], []
    for item in tqdm(corpus, desc=f"geometries ({variant})", disable=not progress):
        given = isinstance(item, Molecule)
        name, smi = (item.label, item.smiles) if given else item
        try:
            mol = item if given else from_smiles(smi, name=name, seed=int(rng.integers(2**31)))
            out += [(name, kind, m) for kind, m in
                    _frames_for(mol, variant, rng, calc_factory, n_thermal, n_stretch, n_radical_bonds, given, cleave)]
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


def _kind_counts(frames) -> Dict[str, int]:
    """Frames per kind (eq, thermal, stretch, radical), in order of first appearance."""
    counts: Dict[str, int] = {}
    for a in frames:
        counts[a.info["kind"]] = counts.get(a.info["kind"], 0) + 1
    return counts


def _provenance(out_path: str, corpus, written, failures, labeller: Labeller, variant: str, seed: int,
                elements: Sequence[str], settings: Dict[str, int]) -> Dict[str, object]:
    """A built dataset's provenance: labels, settings, frame counts, shifts, failures."""
    counts = _kind_counts(written)
    seen = {s for a in written for s in a.get_chemical_symbols()}
    prov = {
        "dataset": os.path.basename(out_path),
        "labels": labeller.provenance,
        "variant": variant,
        "seed": seed,
        "n_molecules": len(corpus),
        "n_frames": len(written),
        "frames_by_kind": counts,
        "settings": {**settings,
                     "relaxation": f"ASE BFGS fmax {RELAX_FMAX} eV/Å with {xtb.METHOD}",
                     "geometries_from": "GFN2-xTB" if not any(isinstance(c, Molecule) for c in corpus)
                     else "GFN2-xTB (SMILES parents); QM9 B3LYP minima used as given, rigid radical fragments "
                          "(QM9 parents)"},
        "isolated_atom_energies_eV": labeller.isolated_atoms(list(elements)),
        "elements": sorted(seen, key=ELEMENTS.index),
        "failures": failures,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return prov


def env_workers() -> int:
    """Labelling processes for the builds `e3d study` and `e3d family` start themselves
    (environment variable E3D_WORKERS, default 1; the output does not depend on it)."""
    value = os.environ.get("E3D_WORKERS", "1")
    if not value.isdigit() or int(value) < 1:
        raise E3DError(f"E3D_WORKERS must be a whole number ≥ 1, not {value!r}")
    return int(value)


def build_dataset(corpus: Sequence[Union[Tuple[str, str], Molecule]], out_path: str, labeller: Labeller, variant: str = "radicals",
                  seed: int = 0, n_thermal: int = 8, n_stretch: int = 4, n_radical_bonds: int = 2,
                  elements: Sequence[str] = ELEMENTS, progress: bool = True, workers: int = 1,
                  resume: bool = False, kinds: Optional[Sequence[str]] = None,
                  cleave: Optional[Sequence[str]] = None) -> Dict[str, object]:
    """Label ``corpus`` ([(name, smiles)]); write ``out_path`` (.extxyz) and its provenance.
    ``kinds``: label only frames of these kinds (e.g. extra radicals for a set built before).
    ``cleave``: radicals from every acyclic bond of these types (``O-H``, ``C=C``) instead of
    ``n_radical_bonds`` random single bonds (:func:`e3d.data.frames.radical_fragments`; SMILES parents only).

    Geometries come from GFN2-xTB (phase 1, sequential and seeded); phase 2 labels them, over
    ``workers`` processes, appending each frame as it is done.  ``resume`` continues an
    interrupted build (same arguments): frames already in ``out_path`` are kept, not relabelled.
    The output is the same for any number of workers.  Returns the provenance dict (also
    written to ``out_path + '.json'``).
    """
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    has = VARIANT_KINDS.get(variant, ())
    wanted = set(kinds or ()) | ({"radical"} if cleave is not None else set())
    missing = sorted(wanted - set(has))
    if missing:
        raise E3DError(f"variant {variant!r} makes no {', '.join(missing)} frames "
                       f"(it makes {', '.join(has) or 'none'})")
    geometries, failures = generate_frames(corpus, variant, seed, n_thermal, n_stretch, n_radical_bonds, progress,
                                           cleave)
    if kinds is not None:
        geometries = [g for g in geometries if g[1] in kinds]
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
    prov = _provenance(out_path, corpus, written, failures, labeller, variant, seed, elements,
                       {"n_thermal": n_thermal, "n_stretch": n_stretch, "n_radical_bonds": n_radical_bonds,
                        **({"kinds": sorted(kinds)} if kinds is not None else {}),
                        **({"cleave": sorted(cleave)} if cleave is not None else {})})
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov


def subset_frames(in_path: str, out_path: str, kinds: Optional[Sequence[str]] = None,
                  variant: Optional[str] = None, exclude_parents: Collection[str] = ()) -> Dict[str, object]:
    """Frames of ``in_path`` of the given ``kinds`` (all without) whose parent is not in ``exclude_parents``;
    writes ``out_path`` and its provenance (``in_path``'s, with the counts and the subset named); returns it."""
    import ase.io

    frames_out = [a for a in ase.io.iread(in_path) if (kinds is None or a.info.get("kind") in kinds)
                  and a.info.get("parent") not in exclude_parents]
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    ase.io.write(out_path, frames_out, format="extxyz")
    with open(in_path + ".json") as fh:
        prov = json.load(fh)
    counts = _kind_counts(frames_out)
    prov.update(dataset=os.path.basename(out_path), n_frames=len(frames_out), frames_by_kind=counts,
                n_molecules=len({a.info.get("parent") for a in frames_out}), subset_of=os.path.basename(in_path),
                subset={"kinds": sorted(kinds) if kinds else "all", "parents_excluded": len(set(exclude_parents))})
    if variant:
        prov["variant"] = variant
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov


ATOM_ENERGY_TOLERANCE_EV = 1e-3  # isolated atoms of one labeller agree to this across builds


def combine_frames(in_paths: Sequence[str], out_path: str) -> Dict[str, object]:
    """Concatenate labelled sets of the same labeller (e.g. a set and its extra radicals) into
    ``out_path``; the provenance is the first set's, with counts updated and the parts named."""
    import ase.io

    provs = []
    for path in in_paths:
        with open(path + ".json") as fh:
            provs.append(json.load(fh))
    first = provs[0]["isolated_atom_energies_eV"]
    for p in provs[1:]:  # the same labeller's atoms, recomputed, differ by SCF noise (~1e-5 eV): the first set's are kept
        other = p["isolated_atom_energies_eV"]
        if set(other) != set(first) or any(abs(other[e] - first[e]) > ATOM_ENERGY_TOLERANCE_EV for e in first):
            raise E3DError(f"cannot combine {', '.join(in_paths)}: different isolated-atom energies (labellers)")
    frames = [a for path in in_paths for a in ase.io.iread(path)]
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    ase.io.write(out_path, frames, format="extxyz")
    counts = _kind_counts(frames)
    prov = dict(provs[0], dataset=os.path.basename(out_path), n_frames=len(frames), frames_by_kind=counts,
                combined_from=[{"dataset": p["dataset"], "seed": p.get("seed"), "settings": p.get("settings"),
                                "n_frames": p["n_frames"]} for p in provs])
    with open(out_path + ".json", "w") as fh:
        json.dump(prov, fh, indent=1)
    return prov


def parent_split_paths(in_path: str, seed: int = 0, val_fraction: float = 0.1,
                       curated_repeats: int = 1) -> Tuple[str, str]:
    """The train and validation files :func:`parent_split` writes for these settings (not built here)."""
    stem = in_path[: -len(".extxyz")] if in_path.endswith(".extxyz") else in_path
    tag = f"{stem}_by-parent-s{seed}-val{round(100 * val_fraction)}"
    repeats = f"_curated-x{curated_repeats}" if curated_repeats > 1 else ""
    return f"{tag}{repeats}_train.extxyz", f"{tag}_val.extxyz"


def is_curated(parent: str) -> bool:
    """A parent of the SMILES corpus (the curated molecules), not a QM9 molecule (``qm9-…``)."""
    return not parent.startswith("qm9-")


def parent_split(in_path: str, seed: int = 0, val_fraction: float = 0.1,
                 curated_repeats: int = 1) -> Tuple[str, str]:
    """Split a labelled set into train and validation files by parent molecule: every frame of a parent
    (its conformers, stretches, radicals) falls on one side, so validation measures molecules the model
    has not seen — nequip's ``split_dataset`` draws frames, which puts most parents on both sides.
    ``val_fraction`` of the curated parents and of the QM9 parents go to validation (drawn with ``seed``).
    With ``curated_repeats`` K the train side holds each curated frame K times, so that the curated
    molecules' share of the training steps can be held as the number of QM9 molecules grows; the
    validation side is never repeated.  Written once beside ``in_path`` (:func:`parent_split_paths`),
    each with its provenance (``in_path``'s, counts updated, the split described); returns the paths."""
    import ase.io

    if not 0 < val_fraction < 1 or int(curated_repeats) < 1:
        raise E3DError(f"parent split: val_fraction must be in (0, 1) and curated_repeats ≥ 1 "
                       f"(got {val_fraction}, {curated_repeats})")
    train_path, val_path = parent_split_paths(in_path, seed, val_fraction, curated_repeats)
    if os.path.exists(train_path + ".json") and os.path.exists(val_path + ".json"):
        return train_path, val_path
    frames_in = list(ase.io.iread(in_path))
    parents = sorted({str(a.info["parent"]) for a in frames_in})
    rng = np.random.default_rng(seed)
    held: set = set()
    for group in ([p for p in parents if is_curated(p)], [p for p in parents if not is_curated(p)]):
        if group:  # each source split alike: the validation set has its share of curated molecules
            n_val = max(1, round(val_fraction * len(group))) if len(group) > 1 else 0
            held.update(rng.permutation(group)[:n_val].tolist())
    val = [a for a in frames_in if a.info["parent"] in held]
    train = [a for a in frames_in if a.info["parent"] not in held]
    train = train + [a for a in train if is_curated(str(a.info["parent"]))] * (int(curated_repeats) - 1)
    with open(in_path + ".json") as fh:
        prov = json.load(fh)
    for path, part, side in ((train_path, train, "train"), (val_path, val, "validation")):
        ase.io.write(path, part, format="extxyz")
        split = {"from": os.path.basename(in_path), "side": side, "by": "parent", "seed": seed,
                 "val_fraction": val_fraction, "curated_repeats": int(curated_repeats) if side == "train" else 1,
                 "n_parents": len({a.info["parent"] for a in part})}
        with open(path + ".json", "w") as fh:
            json.dump(dict(prov, dataset=os.path.basename(path), n_frames=len(part), frames_by_kind=_kind_counts(part),
                           split=split), fh, indent=1)
    return train_path, val_path
