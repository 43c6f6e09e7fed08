"""Molecules: 3D coordinates plus the RDKit graph that says which atom pairs are bonds.

A :class:`Molecule` always keeps its RDKit ``Mol`` (explicit hydrogens, same atom order
as ``positions``), so bond orders, aromaticity and hybridisation are known downstream.
Readers here raise :class:`~e3d.errors.InputError` with a message naming the problem.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import re
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdDetermineBonds

from .errors import DEFAULT_MAX_ATOMS, InputError, TooLargeError

RDLogger.DisableLog("rdApp.*")

MIN_INTERATOMIC_DISTANCE = 0.5  # Å; closer atoms mean a broken structure
MOLECULE_FILE_TYPES = (".xyz", ".sdf", ".mol", ".pdb")
FRAGMENT_GAP = 8.0  # Å between the closest atoms of two fragments of a mixture: beyond any shipped r_max
TABLE_FILE_TYPES = (".csv", ".smi")


@dataclasses.dataclass
class Molecule:
    """One molecule: elements, positions (Å), charge, spin multiplicity and RDKit graph."""

    rdmol: Chem.Mol
    positions: np.ndarray
    name: str = ""
    charge: int = 0
    multiplicity: int = 1
    source: str = ""
    parent_atoms: Optional[Tuple[int, ...]] = None  # a rigid fragment's atom indices in the molecule it was cut from

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        if self.rdmol.GetNumAtoms() != len(self.positions):
            raise InputError(
                f"{self.label}: graph has {self.rdmol.GetNumAtoms()} atoms but "
                f"{len(self.positions)} positions were given"
            )

    @property
    def label(self) -> str:
        return self.name or "molecule"

    @functools.cached_property
    def symbols(self) -> List[str]:
        return [a.GetSymbol() for a in atoms_of(self.rdmol)]

    @functools.cached_property
    def numbers(self) -> np.ndarray:
        return np.array([a.GetAtomicNum() for a in atoms_of(self.rdmol)], dtype=np.int64)

    @property
    def n_atoms(self) -> int:
        return len(self.positions)

    @property
    def n_heavy_atoms(self) -> int:
        return self.rdmol.GetNumHeavyAtoms()

    @functools.cached_property
    def smiles(self) -> str:
        return Chem.MolToSmiles(Chem.RemoveHs(self.rdmol, sanitize=False))

    def with_positions(self, positions: np.ndarray) -> "Molecule":
        """A copy at new coordinates (same graph); the RDKit conformer follows."""
        rdmol = Chem.Mol(self.rdmol)
        _set_conformer(rdmol, positions)
        return dataclasses.replace(self, rdmol=rdmol, positions=np.array(positions, dtype=np.float64))

    def to_ase(self):
        import ase

        atoms = ase.Atoms(symbols=self.symbols, positions=self.positions)
        atoms.info.update(charge=self.charge, multiplicity=self.multiplicity, name=self.name)
        return atoms


# --------------------------------------------------------------------------- helpers


def _set_conformer(rdmol: Chem.Mol, positions: np.ndarray) -> None:
    rdmol.RemoveAllConformers()
    conf = Chem.Conformer(rdmol.GetNumAtoms())
    for i, p in enumerate(np.asarray(positions, dtype=float)):
        conf.SetAtomPosition(i, p.tolist())
    conf.Set3D(True)
    rdmol.AddConformer(conf, assignId=True)


def atoms_of(rdmol: Chem.Mol) -> List[Chem.Atom]:
    """The atoms by index (RDKit's GetAtoms() sequence wrapper costs ~3 µs an item in Python)."""
    return [rdmol.GetAtomWithIdx(k) for k in range(rdmol.GetNumAtoms())]


def bonds_of(rdmol: Chem.Mol) -> List[Chem.Bond]:
    return [rdmol.GetBondWithIdx(k) for k in range(rdmol.GetNumBonds())]


def graph_charge_and_multiplicity(rdmol: Chem.Mol) -> Tuple[int, int]:
    """(formal charge, 1 + unpaired electrons) of an RDKit graph."""
    atoms = atoms_of(rdmol)
    charge = sum(a.GetFormalCharge() for a in atoms)
    unpaired = sum(a.GetNumRadicalElectrons() for a in atoms)
    return charge, unpaired + 1


def _from_rdmol_with_conformer(rdmol: Chem.Mol, name: str, source: str,
                               charge: Optional[int], multiplicity: Optional[int]) -> Molecule:
    if rdmol.GetNumConformers() == 0:
        raise InputError(f"{name or 'molecule'}: the record has no 3D coordinates")
    graph_charge, graph_mult = graph_charge_and_multiplicity(rdmol)
    pos = rdmol.GetConformer().GetPositions()
    return Molecule(
        rdmol=rdmol,
        positions=pos,
        name=name,
        charge=graph_charge if charge is None else int(charge),
        multiplicity=graph_mult if multiplicity is None else int(multiplicity),
        source=source,
    )


# --------------------------------------------------------------------------- SMILES


def parse_smiles(smiles: str) -> Chem.Mol:
    """SMILES → sanitised RDKit Mol with explicit H (no coordinates)."""
    text = smiles.strip() if isinstance(smiles, str) else ""  # an empty table cell reads as NaN
    if not text:
        raise InputError("empty SMILES string")
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        raise InputError(f"invalid SMILES: {text!r} (RDKit could not parse it)")
    return Chem.AddHs(mol)


def frame_smiles(atoms) -> Optional[str]:
    """The SMILES a labelled extxyz frame carries (``info["smiles"]``), else None.  ASE reads a bare ``F`` or ``T``
    in the comment line as a boolean, so hydrogen fluoride's ``smiles=F`` comes back as False: undone here."""
    smiles = atoms.info.get("smiles")
    if isinstance(smiles, (bool, np.bool_)):
        return "T" if smiles else "F"
    return str(smiles) if smiles else None


def canonical(smiles: str) -> str:
    """RDKit's canonical SMILES (hydrogens implicit): one spelling per molecule, for matching."""
    return Chem.MolToSmiles(Chem.RemoveHs(parse_smiles(smiles)))


def from_smiles(smiles: str, name: Optional[str] = None, seed: int = 0xE3D,
                charge: Optional[int] = None, multiplicity: Optional[int] = None,
                max_atoms: Optional[int] = None) -> Molecule:
    """3D molecule from SMILES: RDKit ETKDG embedding, then MMFF94 (UFF as fallback).

    Charge and multiplicity default to the graph's (formal charges; radical electrons + 1).
    ``max_atoms`` refuses oversized molecules before the (costly) embedding.
    """
    rdmol = parse_smiles(smiles)
    if max_atoms is not None:
        check_size(rdmol.GetNumAtoms(), max_atoms, name or smiles)
    if rdmol.GetNumAtoms() == 1:
        _set_conformer(rdmol, np.zeros((1, 3)))
    else:
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed)
        if AllChem.EmbedMolecule(rdmol, params) != 0:
            params.useRandomCoords = True
            if AllChem.EmbedMolecule(rdmol, params) != 0:
                raise InputError(f"could not generate 3D coordinates for SMILES {smiles!r}")
        try:
            if AllChem.MMFFHasAllMoleculeParams(rdmol):
                AllChem.MMFFOptimizeMolecule(rdmol, maxIters=2000)
            elif AllChem.UFFHasAllMoleculeParams(rdmol):
                AllChem.UFFOptimizeMolecule(rdmol, maxIters=2000)
        except Exception:  # force-field failure keeps the ETKDG geometry
            pass
        _separate_fragments(rdmol)
    return _from_rdmol_with_conformer(rdmol, name or smiles.strip(), "smiles", charge, multiplicity)


def _separate_fragments(rdmol: Chem.Mol, gap: float = FRAGMENT_GAP) -> None:
    """Lay the fragments of a mixture (``CCO.O``) side by side along x, ``gap`` Å apart.

    ETKDG embeds every fragment around the origin, on top of each other; apart, each is computed
    as itself (no pair inside r_max crosses fragments, so no cross-fragment energy or "bond").
    """
    frags = Chem.GetMolFrags(rdmol, asMols=False)
    if len(frags) < 2:
        return
    conf = rdmol.GetConformer()
    pos = np.array(conf.GetPositions())
    edge = 0.0
    for atoms in frags:
        idx = list(atoms)
        p = pos[idx] - pos[idx].mean(axis=0)
        p[:, 0] += edge - p[:, 0].min()
        edge = p[:, 0].max() + gap
        pos[idx] = p
    for k, xyz in enumerate(pos):
        conf.SetAtomPosition(k, xyz.tolist())


# --------------------------------------------------------------------------- files


def decode_text(raw: bytes, what: str) -> str:
    """Bytes of an uploaded/read file → text; refuses empty and binary content."""
    if not raw or not raw.strip():
        raise InputError(f"{what}: file is empty")
    if b"\x00" in raw[:4096]:
        raise InputError(f"{what}: looks like a binary file, expected a text molecule file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes anything
            raise InputError(f"{what}: not a text file ({exc})") from None


def _xyz_frames(text: str, what: str) -> Iterator[str]:
    lines = text.splitlines()
    i = 0
    frame = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        try:
            n = int(lines[i].split()[0])
        except (ValueError, IndexError):
            raise InputError(f"{what}: line {i + 1} should hold an atom count, found {lines[i]!r}") from None
        if n <= 0:
            raise InputError(f"{what}: frame {frame + 1} declares {n} atoms")
        block = lines[i:i + n + 2]
        if len(block) < n + 2 or any(len(l.split()) < 4 for l in block[2:]):
            raise InputError(f"{what}: frame {frame + 1} is truncated (expected {n} atom lines)")
        yield "\n".join(block) + "\n"
        i += n + 2
        frame += 1


def molecules_from_xyz_text(text: str, what: str = "xyz", charge: int = 0,
                            multiplicity: Optional[int] = None) -> List[Molecule]:
    """XYZ (single or multi-frame) → molecules, bonds perceived from 3D by RDKit."""
    out = []
    for k, block in enumerate(_xyz_frames(text, what)):
        name = f"{os.path.splitext(what)[0]}_{k + 1}" if k else os.path.splitext(what)[0]
        lines = block.splitlines()
        try:
            coords = np.array([[float(x) for x in l.split()[1:4]] for l in lines[2:]])
        except ValueError:
            raise InputError(f"{what}: frame {k + 1} has a non-numeric coordinate") from None
        check_coordinates(coords, name)
        rdmol = Chem.MolFromXYZBlock(block)
        if rdmol is None:
            raise InputError(f"{what}: frame {k + 1} could not be read (unknown element symbol?)")
        try:
            rdDetermineBonds.DetermineBonds(rdmol, charge=int(charge))
        except Exception:
            try:
                rdDetermineBonds.DetermineConnectivity(rdmol)
            except Exception as exc:
                raise InputError(f"{what}: could not perceive bonds in frame {k + 1}: {exc}") from None
        rdmol.UpdatePropertyCache(strict=False)
        out.append(_from_rdmol_with_conformer(rdmol, name, "xyz", charge, multiplicity))
    if not out:
        raise InputError(f"{what}: no molecules found")
    return out


_SDF_RECORD_END = re.compile(r"^\$\$\$\$[^\n]*(?:\n|$)", re.M)


def sdf_records(text: str) -> List[str]:
    """The records of an SDF text, each with its ``$$$$`` line (a lone MOL block is one record); cheap, so a
    library can be cut into records here and each parsed elsewhere (``e3d batch``'s DataLoader workers)."""
    out, start = [], 0
    for end in _SDF_RECORD_END.finditer(text):
        out.append(text[start:end.end()])
        start = end.end()
    if text[start:].strip():
        out.append(text[start:])
    return [r for r in out if r.strip("$\r\n \t")]


def sdf_record_name(record: str, k: int, what: str) -> str:
    """Record ``k``'s (0-based) title line, or ``FILE_k+1`` where it has none."""
    title = record.split("\n", 1)[0].strip()
    return title or f"{os.path.splitext(what)[0]}_{k + 1}"


def molecule_from_sdf_record(record: str, k: int, what: str = "sdf", charge: Optional[int] = None,
                             multiplicity: Optional[int] = None) -> Molecule:
    """Record ``k`` (0-based) of an SDF file → a Molecule; an InputError names the record."""
    supplier = Chem.SDMolSupplier()
    supplier.SetData(record, sanitize=True, removeHs=False)
    rdmol = supplier[0] if len(supplier) else None
    if rdmol is None:
        raise InputError(f"{what}: record {k + 1} is malformed (RDKit could not parse it)")
    mol = _from_rdmol_with_conformer(rdmol, sdf_record_name(record, k, what), "sdf", charge, multiplicity)
    check_coordinates(mol.positions, mol.label)
    return mol


def molecules_from_sdf_text(text: str, what: str = "sdf", charge: Optional[int] = None,
                            multiplicity: Optional[int] = None, on_error=None) -> List[Molecule]:
    """SDF/MOL (multi-record) → molecules; a record that does not parse raises an error naming it, or with
    ``on_error(name, error)`` is handed to it and the other records are kept."""
    records = sdf_records(text)
    if not records:
        raise InputError(f"{what}: no molecule records found")
    out = []
    for k, record in enumerate(records):
        try:
            out.append(molecule_from_sdf_record(record, k, what, charge, multiplicity))
        except InputError as exc:
            if on_error is None:
                raise
            on_error(sdf_record_name(record, k, what), exc)
    return out


def molecules_from_pdb_text(text: str, what: str = "pdb", charge: Optional[int] = None,
                            multiplicity: Optional[int] = None) -> List[Molecule]:
    rdmol = Chem.MolFromPDBBlock(text, removeHs=False, sanitize=True)
    if rdmol is None or rdmol.GetNumAtoms() == 0:
        raise InputError(f"{what}: malformed PDB (no atoms RDKit could read)")
    mol = _from_rdmol_with_conformer(rdmol, os.path.splitext(what)[0], "pdb", charge, multiplicity)
    check_coordinates(mol.positions, mol.label)
    return [mol]


def smiles_from_table_text(text: str, what: str) -> List[tuple]:
    """``.smi`` (SMILES [name] per line) or ``.csv`` with a ``smiles`` column → [(name, smiles)]."""
    if what.lower().endswith(".csv"):
        import pandas as pd

        try:
            df = pd.read_csv(io.StringIO(text))
        except Exception as exc:
            raise InputError(f"{what}: not a readable CSV ({exc})") from None
        cols = {c.lower(): c for c in df.columns}
        if "smiles" not in cols:
            raise InputError(f"{what}: needs a 'smiles' column (found: {', '.join(map(str, df.columns))})")
        smi = df[cols["smiles"]].astype(str).tolist()
        if not smi:
            raise InputError(f"{what}: no SMILES found (the 'smiles' column has no rows)")
        namecol = cols.get("name") or cols.get("id") or cols.get("label")
        names = df[namecol].astype(str).tolist() if namecol else [f"mol{i + 1}" for i in range(len(smi))]
        return list(zip(names, smi))
    rows = []
    for k, line in enumerate(text.splitlines()):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if k == 0 and parts[0].lower() == "smiles":
            continue
        rows.append((parts[1] if len(parts) > 1 else f"mol{len(rows) + 1}", parts[0]))
    if not rows:
        raise InputError(f"{what}: no SMILES found")
    return rows


def molecules_from_bytes(raw: bytes, filename: str, charge: Optional[int] = None,
                         multiplicity: Optional[int] = None, max_atoms: int = DEFAULT_MAX_ATOMS,
                         on_error=None) -> List[Molecule]:
    """Molecules from a file's bytes (the app's uploads and the CLI share this path).

    ``on_error(name, error)``, when given, collects per-molecule failures — a SMILES row, an SDF record — instead
    of raising, so one bad row does not lose the others; each error's message names its molecule once.
    """
    ext = check_file_type(filename)
    text = decode_text(raw, filename)
    if ext == ".xyz":
        mols = molecules_from_xyz_text(text, filename, 0 if charge is None else charge, multiplicity)
    elif ext in (".sdf", ".mol"):
        mols = molecules_from_sdf_text(text, filename, charge, multiplicity, on_error)
    elif ext == ".pdb":
        mols = molecules_from_pdb_text(text, filename, charge, multiplicity)
    else:
        mols = []
        for name, smi in smiles_from_table_text(text, filename):
            try:
                mols.append(from_smiles(smi, name=name, charge=charge, multiplicity=multiplicity,
                                        max_atoms=max_atoms))
            except InputError as exc:
                if on_error is None:
                    raise
                on_error(name, exc if str(exc).startswith(f"{name}:") else type(exc)(f"{name}: {exc}"))
    for m in mols:
        check_size(m.n_atoms, max_atoms, m.label)
    return mols


def check_file_type(name: str) -> str:
    """The file's extension if E3D reads it, else an InputError listing the ones it does."""
    ext = os.path.splitext(name.lower())[1]
    if ext not in MOLECULE_FILE_TYPES + TABLE_FILE_TYPES:
        raise InputError(f"{name}: unsupported file type {ext or '(none)'}; use one of "
                         + ", ".join(MOLECULE_FILE_TYPES + TABLE_FILE_TYPES))
    return ext


def read_molecules(path: str, **kwargs) -> List[Molecule]:
    """Molecules from a file path (xyz, sdf/mol, pdb, or .csv/.smi of SMILES)."""
    check_file_type(path)
    if not os.path.exists(path):
        raise InputError(f"file not found: {path}")
    with open(path, "rb") as fh:
        raw = fh.read()
    return molecules_from_bytes(raw, os.path.basename(path), **kwargs)


def load_input(spec: str, **kwargs) -> List[Molecule]:
    """A CLI INPUT: an existing file path, else a SMILES string."""
    ext = os.path.splitext(spec.lower())[1]
    if os.path.exists(spec) or ext in MOLECULE_FILE_TYPES + TABLE_FILE_TYPES:
        return read_molecules(spec, **kwargs)
    try:
        return [from_smiles(spec, charge=kwargs.get("charge"), multiplicity=kwargs.get("multiplicity"),
                            max_atoms=kwargs.get("max_atoms", DEFAULT_MAX_ATOMS))]
    except InputError:
        if ext[1:].isalpha():  # looks like a file name, not a SMILES
            raise InputError(f"{spec}: no such file, and unsupported file type {ext} anyway; use a SMILES "
                             "or one of " + ", ".join(MOLECULE_FILE_TYPES + TABLE_FILE_TYPES)) from None
        raise


# --------------------------------------------------------------------------- checks


def check_size(n_atoms: int, max_atoms: int, what: str) -> None:
    if n_atoms > max_atoms:
        raise TooLargeError(f"{what}: {n_atoms} atoms is more than the limit of {max_atoms}")


def check_coordinates(positions: np.ndarray, what: str) -> None:
    pos = np.asarray(positions, dtype=float)
    if not np.all(np.isfinite(pos)):
        raise InputError(f"{what}: coordinates contain NaN or infinite values")
    if len(pos) > 1:
        d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)
        k = int(np.argmin(d2))
        if d2.flat[k] < MIN_INTERATOMIC_DISTANCE ** 2:
            i, j = divmod(k, len(pos))
            raise InputError(f"{what}: atoms {i} and {j} are {np.sqrt(d2.flat[k]):.3f} Å apart "
                             f"(closer than {MIN_INTERATOMIC_DISTANCE} Å): broken geometry")


def check_elements(mol: Molecule, type_names: Sequence[str]) -> None:
    unknown = sorted(set(mol.symbols) - set(type_names))
    if unknown:
        raise InputError(f"{mol.label}: element(s) {', '.join(unknown)} not supported by this model "
                         f"(it knows {', '.join(type_names)})")


def charge_note(label: str, charge: int) -> Optional[str]:
    """A warning for a charged species: the shipped models were trained on neutral molecules and
    radicals only (they take no charge input), so their energies of ions are extrapolation."""
    if not charge:
        return None
    return (f"{label} has charge {charge:+d}: the models were trained on neutral molecules and take no "
            "charge, so its energies and bond energies are not meaningful")


def validate(mol: Molecule, type_names: Sequence[str], max_atoms: int = DEFAULT_MAX_ATOMS) -> None:
    """All checks a molecule must pass before it reaches a model."""
    check_size(mol.n_atoms, max_atoms, mol.label)
    check_coordinates(mol.positions, mol.label)
    check_elements(mol, type_names)
