"""Pair and bond energies from directed edge energies (E3D_METHOD §3).

    ε_ij = e_{i→j} + e_{j→i}        (eV; 0 beyond r_max)
    D_ij = −ε_ij                    (kcal/mol; the E3D bond energy of a bonded pair)
    f_bond = Σ_bonded ε / Σ_all ε   (decomposability of one molecule)
    D_{i→j} = −2·e_{i→j}            (kcal/mol; the directed view: half a bond, mean of the two = D_ij)
"""

from __future__ import annotations

import functools
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from rdkit import Chem

from .edges import EdgeEnergies
from .model import E3DModel
from .errors import InputError
from .molecule import atoms_of, bonds_of, frame_smiles, parse_smiles
from .units import KCAL_PER_EV

BOND_SYMBOL = {1.0: "-", 2.0: "=", 3.0: "#", 1.5: ":"}
# element order inside a bond label: carbon first, hydrogen last ("C-H", "O-H", "C=O")
_LABEL_ORDER = ["C", "N", "O", "S", "P", "Si", "B", "F", "Cl", "Br", "I", "H"]
_HYB = {Chem.HybridizationType.SP: "sp", Chem.HybridizationType.SP2: "sp2",
        Chem.HybridizationType.SP3: "sp3"}

PAIR_COLUMNS = ["i", "j", "element_i", "element_j", "distance", "e_ij", "e_ji", "eps_ij", "D_ij",
                "bonded", "bond_order", "aromatic", "bond_type", "bond_label"]


def _rank(symbol: str) -> int:
    return _LABEL_ORDER.index(symbol) if symbol in _LABEL_ORDER else len(_LABEL_ORDER) - 1


def _atom_tag(atom: Chem.Atom, with_hybridisation: bool) -> str:
    sym = atom.GetSymbol()
    if with_hybridisation and sym != "H" and atom.GetHybridization() in _HYB and atom.GetDegree() > 1:
        return f"{sym}({_HYB[atom.GetHybridization()]})"
    return sym


def bond_type_label(bond: Chem.Bond, with_hybridisation: bool = False) -> str:
    """``C-H``, ``C=O``, ``C#N``, ``C:C`` (aromatic); with hybridisation ``C(sp3)-C(sp2)``."""
    a, b = bond.GetBeginAtom(), bond.GetEndAtom()
    order = 1.5 if bond.GetIsAromatic() else float(bond.GetBondTypeAsDouble())
    return _label(_atom_tag(a, with_hybridisation), _atom_tag(b, with_hybridisation), a.GetSymbol(), b.GetSymbol(), order)


@functools.lru_cache(maxsize=4096)
def _label(tag_a: str, tag_b: str, sym_a: str, sym_b: str, order: float) -> str:
    if (_rank(sym_a), sym_a) > (_rank(sym_b), sym_b):
        tag_a, tag_b = tag_b, tag_a
    return f"{tag_a}{BOND_SYMBOL.get(order, '~')}{tag_b}"


def check_bond_type(label: str) -> str:
    """``label`` if it is a bond type as :func:`bond_type_label` writes it (``O-H``, ``C=C``, ``C#N``), else an
    :class:`InputError` naming the spelling it expects."""
    for order, symbol in BOND_SYMBOL.items():
        a, sep, b = label.partition(symbol)
        if sep and a in _LABEL_ORDER and b in _LABEL_ORDER:
            expected = _label(a, b, a, b, order)
            if expected == label:
                return label
            raise InputError(f"bond type {label!r}: write it {expected!r} (carbon first, hydrogen last)")
    raise InputError(f"bond type {label!r} is not ELEMENT-ELEMENT with '-', '=', '#' or ':' (e.g. O-H, C=C, C#C)")


def bond_type_counts(rdmol: Chem.Mol) -> Dict[str, int]:
    """How many bonds of each type (``C-H``, ``C=O``, ``C:C``) a molecular graph has."""
    out: Dict[str, int] = {}
    for bond in bonds_of(rdmol):
        t = bond_type_label(bond)
        out[t] = out.get(t, 0) + 1
    return out


def frame_bond_types(atoms) -> Optional[Dict[str, int]]:
    """The bond types of a labelled extxyz frame, from the SMILES it carries (:func:`e3d.molecule.frame_smiles`);
    None when it carries none, RDKit cannot read it (some aromatic radicals) or its molecule has other atoms than
    the frame (RDKit's hydrogens differ): unknown, not empty."""
    smiles = frame_smiles(atoms)
    if not smiles:
        return None
    try:
        rdmol = parse_smiles(smiles)
    except InputError:
        return None
    return bond_type_counts(rdmol) if rdmol.GetNumAtoms() == len(atoms) else None


def bond_arrays(mol) -> Dict[str, np.ndarray]:
    """The molecule's bonds as arrays (lo < hi, order, aromatic, type, label); cached on the molecule."""
    cached = mol.__dict__.get("_bond_arrays")
    if cached is not None:
        return cached
    atoms = atoms_of(mol.rdmol)
    symbols = mol.symbols
    tags = [_atom_tag(a, True) for a in atoms]  # one pass over atoms, then bonds reuse the tags
    rows = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetIsAromatic(), b.GetBondTypeAsDouble())
            for b in bonds_of(mol.rdmol)]
    ends = np.array([sorted(r[:2]) for r in rows], dtype=np.int64).reshape(-1, 2)
    order = [1.5 if arom else float(o) for _, _, arom, o in rows]
    out = {
        "lo": ends[:, 0], "hi": ends[:, 1],
        "order": np.array(order, dtype=float),
        "aromatic": np.array([r[2] for r in rows], dtype=bool),
        "type": np.array([_label(symbols[a], symbols[b], symbols[a], symbols[b], o)
                          for (a, b, _, _), o in zip(rows, order)], dtype=object),
        "label": np.array([_label(tags[a], tags[b], symbols[a], symbols[b], o)
                           for (a, b, _, _), o in zip(rows, order)], dtype=object),
    }
    mol.__dict__["_bond_arrays"] = out
    return out


def part_column(part: str) -> str:
    """The pair-table column of a sum's part's D_ij (kcal/mol): ``D_ij[PART]``."""
    return f"D_ij[{part}]"


def part_columns(table: pd.DataFrame) -> Dict[str, str]:
    """{column: part name} of the part columns of a pair table that hold values (a table of several models
    carries every sum's parts; a single model's rows leave theirs empty)."""
    return {c: c[len("D_ij["):-1] for c in table.columns
            if c.startswith("D_ij[") and c.endswith("]") and table[c].notna().any()}


def pair_arrays(results: Sequence[EdgeEnergies]) -> Dict[str, np.ndarray]:
    """Columns of the pair tables (PAIR_COLUMNS) of many molecules at once, plus ``molecule_id`` (the
    position in ``results``): vectorised over molecules, rows by molecule, then i, then j.  For a sum of models
    also ``D_ij[PART]`` (kcal/mol, :func:`part_column`) per part, from the parts' edge energies of the same pass:
    they add up to ``D_ij`` with the sum's weights — for a GFN2-xTB model plus a Δ model the xTB partition and
    the DFT correction bond by bond, for a seed mean each seed's D_ij."""
    results = list(results)
    parts = results[0].part_names if results else ()
    if any(r.part_names != parts for r in results):
        raise ValueError("pair_arrays: results of models with different parts cannot share one table")
    offsets = np.concatenate([[0], np.cumsum([r.molecule.n_atoms for r in results])]).astype(np.int64)
    n = int(offsets[-1]) or 1
    i = np.concatenate([r.i + o for r, o in zip(results, offsets)]).astype(np.int64)
    j = np.concatenate([r.j + o for r, o in zip(results, offsets)]).astype(np.int64)
    e = np.concatenate([r.e for r in results])
    key = np.minimum(i, j) * n + np.maximum(i, j)
    bonds = [bond_arrays(r.molecule) for r in results]
    bond_key = np.concatenate([(b["lo"] + o) * n + (b["hi"] + o) for b, o in zip(bonds, offsets)]).astype(np.int64)
    keys = np.union1d(key, bond_key)  # pairs inside the cutoff, and every bond
    at = np.searchsorted(keys, key)
    eps = np.bincount(at, weights=e, minlength=len(keys))
    e_low_to_high = np.bincount(at, weights=np.where(i < j, e, 0.0), minlength=len(keys))
    pi, pj = keys // n, keys % n
    molecule_id = np.searchsorted(offsets, pi, side="right") - 1
    symbols = np.array([s for r in results for s in r.molecule.symbols], dtype=object)
    positions = np.concatenate([r.molecule.positions for r in results])
    b_at = np.searchsorted(keys, bond_key)
    bonded = np.zeros(len(keys), dtype=bool)
    bonded[b_at] = True
    columns = {}
    for name, fill, dtype in (("order", 0.0, float), ("aromatic", False, bool), ("type", "", object),
                              ("label", "", object)):
        columns[name] = np.full(len(keys), fill, dtype=dtype)
        columns[name][b_at] = np.concatenate([b[name] for b in bonds])
    part_d = {part_column(name): -np.bincount(at, weights=np.concatenate([r.part_e[:, k] for r in results]),
                                              minlength=len(keys)) * KCAL_PER_EV
              for k, name in enumerate(parts)}
    return {
        "molecule_id": molecule_id, "i": pi - offsets[molecule_id], "j": pj - offsets[molecule_id],
        "element_i": symbols[pi], "element_j": symbols[pj],
        "distance": np.linalg.norm(positions[pi] - positions[pj], axis=1),
        "e_ij": e_low_to_high, "e_ji": eps - e_low_to_high, "eps_ij": eps, "D_ij": -eps * KCAL_PER_EV,
        "bonded": bonded, "bond_order": columns["order"], "aromatic": columns["aromatic"],
        "bond_type": columns["type"], "bond_label": columns["label"], **part_d,
    }


def pair_table(result: EdgeEnergies) -> pd.DataFrame:
    """One row per atom pair i<j that is bonded or inside the cutoff.

    e_ij, e_ji: the directed edge energies i→j and j→i (eV); ε_ij = e_ij + e_ji (eV);
    D_ij = −ε_ij (kcal/mol); for a sum of models each part's ``D_ij[PART]`` after them.
    """
    return pd.DataFrame(pair_arrays([result]), columns=PAIR_COLUMNS + [part_column(n) for n in result.part_names])


def bond_table(result: EdgeEnergies) -> pd.DataFrame:
    """Bonded pairs only, weakest (smallest D_ij) first — the chemist's view."""
    pairs = pair_table(result)
    return pairs[pairs["bonded"]].sort_values("D_ij").reset_index(drop=True)


def decomposability(pairs: pd.DataFrame) -> float:
    """f_bond = Σ_bonded ε / Σ_all ε (1.0: all energy on bonds)."""
    total = pairs["eps_ij"].sum()
    return float(pairs.loc[pairs["bonded"], "eps_ij"].sum() / total) if total else float("nan")


def pairs_for_molecules(results, bonded_only: bool = False) -> pd.DataFrame:
    """All molecules' pair tables in one DataFrame, each row tagged with its molecule and the sum-rule residual."""
    meta = ["molecule_id", "molecule", "smiles"]
    tail = ["model", "total_energy_eV", "sum_rule_residual_eV"]
    if not results:
        return pd.DataFrame(columns=meta + PAIR_COLUMNS + tail)
    arrays = pair_arrays(results)
    if bonded_only:
        arrays = {k: v[arrays["bonded"]] for k, v in arrays.items()}
    ids = arrays["molecule_id"]
    counts = np.bincount(ids, minlength=len(results))

    def per_molecule(values):  # repeated strings as a categorical: one copy per molecule, not per pair
        return pd.Categorical.from_codes(ids, categories=pd.Index(values).unique()) if len(set(values)) == len(values) \
            else pd.Categorical(np.array(values, dtype=object)[ids])

    columns = {"molecule_id": ids, "molecule": per_molecule([r.molecule.label for r in results]),
               "smiles": per_molecule([r.molecule.smiles for r in results])}
    columns.update({c: arrays[c] for c in PAIR_COLUMNS})
    columns["model"] = pd.Categorical(np.repeat(np.array([r.model_name for r in results], dtype=object), counts))
    columns["total_energy_eV"] = np.repeat([r.total_energy for r in results], counts)
    columns["sum_rule_residual_eV"] = np.repeat([r.residual for r in results], counts)
    columns.update({part_column(n): arrays[part_column(n)] for n in results[0].part_names})
    return pd.DataFrame(columns)


SEED_SD = "D_ij_seed_sd"  # a seed mean's pair tables: σ of D_ij over its seeds (kcal/mol)


def with_seed_sd(table: pd.DataFrame, model: E3DModel) -> pd.DataFrame:
    """``table`` (pairs under ``model``) with, for a seed mean (card ``mean_of``: its parts are its seeds),
    ``D_ij_seed_sd``, the seeds' sample standard deviation of D_ij pair by pair — how far one seed's D_ij can be
    trusted; any other model's table is returned as it is."""
    if not model.card.get("mean_of"):
        return table
    return table.assign(**{SEED_SD: table[list(part_columns(table))].std(axis=1, ddof=1)})


def part_headers(table: pd.DataFrame) -> Dict[str, str]:
    """{column: header} of a pair table's part columns (:func:`pair_arrays`, :func:`with_seed_sd`), in order: "of which PART (kcal/mol)"
    for a sum's parts, "seed PART (kcal/mol)" and the seeds' σ for a seed mean; {} for a single model."""
    mean = SEED_SD in table and table[SEED_SD].notna().any()
    heads = {c: f"{'seed' if mean else 'of which'} {name} (kcal/mol)" for c, name in part_columns(table).items()}
    return {**heads, SEED_SD: "σ over the seeds (kcal/mol)"} if mean else heads


def half_bond_energies(e_ij: float, e_ji: float) -> Tuple[float, float]:
    """The directed view of a bond (kcal/mol): −2·e_{i→j} and −2·e_{j→i}, each what D_ij would be if the
    bond's energy sat evenly on both edges (their mean is D_ij); the viewer colours each half by one."""
    return -2.0 * e_ij * KCAL_PER_EV, -2.0 * e_ji * KCAL_PER_EV


def atom_label(element: str, index: int) -> str:
    """How a chemist names atom ``index`` (0-based) of a molecule: element + 1-based index, ``C1``."""
    return f"{element}{int(index) + 1}"


def compare_bonds(pairs_a: pd.DataFrame, pairs_b: pd.DataFrame) -> pd.DataFrame:
    """Bond energies of one molecule (same geometry) under two models: D_ij of each and ΔD = D_B − D_A
    (kcal/mol), bonds labelled ``C1–H5``, largest |ΔD| first."""
    keys = ["i", "j"]
    a = pairs_a[pairs_a["bonded"]].set_index(keys)
    b = pairs_b[pairs_b["bonded"]].set_index(keys)
    both = a[["element_i", "element_j", "bond_type", "bond_label", "distance", "D_ij"]].join(
        b[["D_ij"]].rename(columns={"D_ij": "D_ij_b"}), how="inner").reset_index()
    out = pd.DataFrame({
        "bond": [f"{atom_label(ei, i)}–{atom_label(ej, j)}"
                 for ei, i, ej, j in zip(both["element_i"], both["i"], both["element_j"], both["j"])],
        "bond_type": both["bond_type"], "bond_label": both["bond_label"], "distance": both["distance"],
        "D_a": both["D_ij"], "D_b": both["D_ij_b"], "delta_D": both["D_ij_b"] - both["D_ij"]})
    return out.reindex(out["delta_D"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def pair_names(pairs: pd.DataFrame) -> list:
    """``C1–H5`` for each row (columns i, j, element_i, element_j; atoms numbered from 1)."""
    return [f"{atom_label(ei, i)}–{atom_label(ej, j)}"
            for ei, i, ej, j in zip(pairs["element_i"], pairs["i"], pairs["element_j"], pairs["j"])]


def bonds_weakest_first(pairs: pd.DataFrame) -> pd.DataFrame:
    """The bonds of one molecule's pair table, weakest (smallest D_ij) first, each named ``C1–H5``."""
    bonds = pairs[pairs["bonded"]].sort_values("D_ij").reset_index(drop=True)
    return bonds.assign(bond=pair_names(bonds))

