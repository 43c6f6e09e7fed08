"""Bond-type statistics over a corpus: distributions of D, entropy, mean bond enthalpies, baseline.

Shannon entropy (E3D_METHOD §5): for bond type t, histogram D over the corpus with a fixed
bin width Δ (default 1 kcal/mol) on a range shared by all models; p_k = n_k/N;
H_t = −Σ p_k ln p_k (nats).  Low H: sharp, transferable bond energies.

Bond-additive baseline (§4b): least-squares energies per bond type fitted to the
atomisation energies (−Σe ≡ E_atoms − E) of the training molecules; E3D should beat it.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .metrics import parity_metrics
from .edges import edge_energies
from .model import E3DModel
from .molecule import Molecule, from_smiles
from .pairs import decomposability, pair_table, with_seed_sd
from .units import KCAL_PER_EV, KJ_PER_KCAL

RESOURCES = os.path.join(os.path.dirname(__file__), "resources")
DEFAULT_BIN_WIDTH = 1.0  # kcal/mol
ENTROPY_RANGE = (-100.0, 350.0)  # kcal/mol, shared by every model so entropies compare


def corpus_molecules(corpus: Sequence[Tuple[str, str]], elements: Optional[Iterable[str]] = None) -> List[Molecule]:
    """3D molecules of a (name, smiles) corpus, keeping those made of ``elements``."""
    allowed = set(elements) if elements else None
    mols = []
    for name, smi in corpus:
        mol = from_smiles(smi, name=name)
        if allowed is None or set(mol.symbols) <= allowed:
            mols.append(mol)
    return mols


def corpus_pairs(model: E3DModel, molecules: Sequence[Molecule]) -> pd.DataFrame:
    """All pairs of all molecules (one batched pass), tagged with molecule and f_bond; for a sum of models
    also each part's D_ij, for a seed mean the seeds' σ (:func:`e3d.pairs.with_seed_sd`)."""
    frames = []
    for k, r in enumerate(edge_energies(model, molecules)):
        pairs = pair_table(r)
        pairs.insert(0, "molecule", r.molecule.label)
        pairs.insert(1, "smiles", r.molecule.smiles)
        pairs["f_bond"] = decomposability(pairs)
        frames.append(pairs)
    return with_seed_sd(pd.concat(frames, ignore_index=True), model)


def shannon_entropy(values: Iterable[float], bin_width: float = DEFAULT_BIN_WIDTH,
                    value_range: Tuple[float, float] = ENTROPY_RANGE) -> float:
    """H = −Σ p_k ln p_k (nats) of a fixed-width histogram; values outside the range are clipped in."""
    v = np.clip(np.asarray(list(values), dtype=float), value_range[0], value_range[1] - 1e-9)
    if len(v) == 0:
        return float("nan")
    edges = np.arange(value_range[0], value_range[1] + bin_width, bin_width)
    counts, _ = np.histogram(v, bins=edges)
    p = counts[counts > 0] / len(v)
    return float(-(p * np.log(p)).sum())


def mean_bond_enthalpies() -> pd.DataFrame:
    """Textbook mean bond enthalpies (CRC/Atkins/Zumdahl) in kcal/mol, keyed by bond type."""
    df = pd.read_csv(os.path.join(RESOURCES, "mean_bond_enthalpies.csv"))
    df["mean_bond_enthalpy_kcal_mol"] = df["mean_bond_enthalpy_kj_mol"] / KJ_PER_KCAL
    return df.rename(columns={"bond": "bond_type"})[["bond_type", "mean_bond_enthalpy_kcal_mol", "note"]]


def bond_type_stats(bonds: pd.DataFrame, bin_width: float = DEFAULT_BIN_WIDTH,
                    value_range: Tuple[float, float] = ENTROPY_RANGE, min_count: int = 3) -> pd.DataFrame:
    """Per bond type: n, mean, median, mode (bin centre), std of D, entropy H (nats), mean bond enthalpy."""
    rows = []
    for bond_type, group in bonds.groupby("bond_type"):
        d = group["D_ij"].to_numpy()
        if len(d) < min_count:
            continue
        edges = np.arange(value_range[0], value_range[1] + bin_width, bin_width)
        counts, _ = np.histogram(np.clip(d, value_range[0], value_range[1] - 1e-9), bins=edges)
        k = int(np.argmax(counts))
        rows.append({"bond_type": bond_type, "n": len(d), "mean": float(d.mean()), "median": float(np.median(d)),
                     "mode": float(edges[k] + bin_width / 2), "std": float(d.std()),
                     "entropy_nats": shannon_entropy(d, bin_width, value_range)})
    stats = pd.DataFrame(rows)
    if stats.empty:
        return stats
    return stats.merge(mean_bond_enthalpies(), on="bond_type", how="left")


def weighted_entropy(stats: pd.DataFrame) -> float:
    """Count-weighted mean of H over bond types."""
    return float(np.average(stats["entropy_nats"], weights=stats["n"])) if len(stats) else float("nan")


def fit_bond_additive(counts: pd.DataFrame, atomization_kcal: Sequence[float]) -> pd.Series:
    """Least-squares energy per bond type (kcal/mol) from atomisation energies."""
    a = counts.to_numpy(dtype=float)
    x, *_ = np.linalg.lstsq(a, np.asarray(atomization_kcal, dtype=float), rcond=None)
    return pd.Series(x, index=counts.columns, name="baseline_kcal_mol")


def compare_per_type(values: pd.Series, reference: pd.Series) -> Dict[str, float]:
    """Parity metrics of per-type values against per-type reference values (both indexed by bond_type)."""
    reference = reference.dropna()
    common = values.index.intersection(reference.index)
    return parity_metrics(reference.loc[common], values.loc[common])


def compare_with_mean_enthalpies(values: pd.Series) -> Dict[str, float]:
    """Parity metrics of per-type values (index: bond_type) against textbook mean bond enthalpies."""
    return compare_per_type(values, mean_bond_enthalpies().set_index("bond_type")["mean_bond_enthalpy_kcal_mol"])


BASELINE_MIN_BONDS = 5  # a bond type seen fewer times in the fit has an ill-determined energy


def baseline_table(dataset: str, path: Optional[str], saved: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """The bond-additive baseline of training set ``dataset`` as a table (dataset, bond_type,
    baseline_kcal_mol, n_bonds, rms_residual_kcal_mol, n_molecules): fitted from the file at ``path``
    if it is here, else the rows of ``saved`` for that dataset (data files are rebuilt, not shipped;
    the fit ships in the precomputed tables), else empty."""
    if path and os.path.exists(path):
        per_type, info = baseline_from_dataset(path)
        table = per_type.rename("baseline_kcal_mol").rename_axis("bond_type").reset_index()
        table.insert(0, "dataset", dataset)
        table["n_bonds"] = info["n_bonds"].reindex(table["bond_type"]).to_numpy()
        table["rms_residual_kcal_mol"] = info["rms_residual_kcal_mol"]
        table["n_molecules"] = info["n_molecules"]
        return table
    if saved is not None and "dataset" in saved:
        return saved[saved["dataset"] == dataset].reset_index(drop=True)
    return pd.DataFrame()


def baseline_per_type(table: pd.DataFrame, dataset: str, min_bonds: int = BASELINE_MIN_BONDS) -> pd.Series:
    """Per-type baseline energies (kcal/mol) of one dataset, types seen ≥ ``min_bonds`` times in the fit."""
    if table is None or table.empty:
        return pd.Series(dtype=float)
    rows = table[table["dataset"] == dataset]
    if "n_bonds" in rows:
        rows = rows[~(rows["n_bonds"] < min_bonds)]  # tables saved before n_bonds was kept: all types
    return rows.set_index("bond_type")["baseline_kcal_mol"]


def type_energy_agreement(stats: pd.DataFrame, fit: pd.Series) -> Dict[str, float]:
    """How a model's per-type medians of D (``stats``: :func:`bond_type_stats`) compare with textbook
    mean bond enthalpies and with ``fit`` (:func:`baseline_per_type` of its training labels), and how
    that fit itself compares with the textbook values (R² and MAE, kcal/mol; NaN where not available)."""
    medians = stats.set_index("bond_type")["median"] if len(stats) else pd.Series(dtype=float)
    mbe = mean_bond_enthalpies().set_index("bond_type")["mean_bond_enthalpy_kcal_mol"]
    pairs = {"median_D_{}_vs_mbe": (medians, mbe), "median_D_{}_vs_baseline": (medians, fit),
             "baseline_{}_vs_mbe": (fit, mbe)}
    out = {}
    for key, (values, reference) in pairs.items():
        m = compare_per_type(values, reference) if len(values) and len(reference) else {}
        out[key.format("r2")], out[key.format("mae")] = m.get("r2", np.nan), m.get("mae", np.nan)
    return out


def baseline_from_dataset(path: str, max_molecules: Optional[int] = None) -> Tuple[pd.Series, Dict[str, object]]:
    """Bond-additive baseline fitted to a dataset's own labels (equilibrium frames).

    Atomisation energy = Σ μ_atoms − E_label (kcal/mol), μ from the dataset's provenance;
    bond types from each frame's SMILES.  Returns (per-type energies, fit stats: n_molecules,
    rms_residual_kcal_mol, n_bonds per type).
    """
    import ase.io

    from .provenance import load_provenance
    from .pairs import frame_bond_types

    prov = load_provenance(path) or {}
    mu = prov.get("isolated_atom_energies_eV")
    if not mu:
        raise ValueError(f"{path}: provenance has no isolated_atom_energies_eV")
    rows, target = [], []
    for atoms in ase.io.iread(path):
        if atoms.info.get("kind", "eq") != "eq":
            continue
        counts = frame_bond_types(atoms)
        if counts is None:
            continue
        rows.append(counts)
        e_atoms = sum(mu[s] for s in atoms.get_chemical_symbols())
        target.append((e_atoms - atoms.get_potential_energy()) * KCAL_PER_EV)
        if max_molecules and len(rows) >= max_molecules:
            break
    counts_df = pd.DataFrame(rows).fillna(0).astype(int)
    per_type = fit_bond_additive(counts_df, target)
    resid = counts_df.to_numpy(float) @ per_type.to_numpy() - np.asarray(target)
    return per_type, {"n_molecules": len(rows), "rms_residual_kcal_mol": float(np.sqrt(np.mean(resid**2))),
                      "n_bonds": counts_df.sum()}
