"""Every analysis for every shipped model → compact Parquet tables + manifest (the app reads only these).

Tables (long format, one ``model_id`` column where per model):

- ``molecules.parquet``  evaluation-corpus molecules with their 3D geometry (MOL block)
- ``pairs.parquet``      every pair of every corpus molecule per model (D_ij, bond type, f_bond)
- ``bondtypes.parquet``  per model and bond type: n, mean/median/mode/std of D, entropy H
- ``baseline.parquet``   bond-additive baseline per training dataset (§4b)
- ``bde.parquet``        the experimental BDE rows with E3D / model-fragment / reference BDEs
- ``scans.parquet``      bond-stretch scans of the BDE bonds (reference-method geometry)
- ``models.parquet``     one row per model: provenance, test errors, entropy, BDE and scan errors
- ``manifest.json``      model ids, dataset ids, versions, command, date
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from rdkit import Chem
from tqdm.auto import tqdm

from .additivity import ON_DEMAND_METHODS, sum_rule_metrics, with_additivity_gap
from .metrics import parity_metrics
from .bde import (BDE_COLUMNS, BDE_VERSION, bde_metrics, bde_table, error_budget, flat_metrics, headline_mask,
                  with_additive_fit, in_training_domain, model_quantity, reference_column, with_298k,
                  with_bond_types_seen)
from .fragments import locate_bond
from .references import ReferenceCache, reference_method_for
from .bondtypes import (DEFAULT_BIN_WIDTH, ENTROPY_RANGE, baseline_per_type, baseline_table, bond_type_stats,
                        corpus_molecules, corpus_pairs, type_energy_agreement, weighted_entropy)
from .cache import content_key, load_tables, save_tables
from .corpus import BDE_REFERENCE, EVAL_CORPUS, REFERENCE_ENERGIES, evaluation_corpus
from .errors import E3DError
from .family import read_index
from .cards import MODELS_DIR, REPO_ROOT
from .composite import is_sum_path, model_files
from .model import E3DModel, load_model
from .molecule import from_smiles, parse_smiles
from .scan import scan_summary, stretch_scan
from .within_type import within_type_metrics

DEFAULT_OUT = os.path.join(REPO_ROOT, "precomputed")
SCAN_POINTS = 21
TABLES_VERSION = 4  # bump when cached per-model tables change content without a new column
# (2: rigid DFT BDEs, model minima started off symmetric saddles; 3: collapsed model minima fall back;
#  4: bde carries the model's headline mask)


def weakest_bond_accuracy(bde: pd.DataFrame, column: str) -> Tuple[float, int]:
    """Fraction of parents (with ≥ 2 experimental rows) whose weakest bond the model also ranks weakest."""
    hits, n = 0, 0
    for _, group in bde.dropna(subset=[column, "bde_kcal_mol"]).groupby("parent_smiles"):
        if len(group) < 2:
            continue
        n += 1
        hits += int(group["bde_kcal_mol"].idxmin() == group[column].idxmin())
    return (hits / n if n else float("nan")), n


def reference_geometries(bde_rows: pd.DataFrame, reference: Optional[str]) -> Dict[str, object]:
    """Parent geometries for the scans: relaxed with the reference method when it is GFN2-xTB, else MMFF."""
    from .data import xtb
    from .geometry import relax

    geoms = {}
    for smi in sorted(set(bde_rows["parent_smiles"])):
        mol = from_smiles(smi)
        if reference == "GFN2-xTB":
            mol = relax(mol, xtb.xtb_calculator(mol.charge, mol.multiplicity), fmax=0.01, steps=500)
        geoms[smi] = mol
    return geoms


def model_scans(model: E3DModel, bde_rows: pd.DataFrame, geoms: Dict[str, object], reference: Optional[str],
                ref_cache: Dict[Tuple[str, int, int], np.ndarray]) -> pd.DataFrame:
    frames = []
    for _, row in bde_rows.iterrows():
        mol = geoms[row["parent_smiles"]]
        if not set(mol.symbols) <= set(model.usable_type_names):
            continue
        i, j = locate_bond(mol, row["fragment_a"], row["fragment_b"])
        key = (row["parent_smiles"], i, j)
        scan = stretch_scan(model, mol, i, j, n=SCAN_POINTS, reference=reference if key not in ref_cache else None)
        if reference is not None:
            if key not in ref_cache:
                ref_cache[key] = scan["reference_dE_kcal_mol"].to_numpy()
            scan["reference_dE_kcal_mol"] = ref_cache[key]
        scan.insert(0, "label", row["label"])
        scan.insert(1, "parent_smiles", row["parent_smiles"])
        scan.insert(2, "atom_i", i)
        scan.insert(3, "atom_j", j)
        frames.append(scan)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def molecules_table(mols) -> pd.DataFrame:
    return pd.DataFrame({"molecule": [m.label for m in mols], "smiles": [m.smiles for m in mols],
                         "n_atoms": [m.n_atoms for m in mols],
                         "molblock": [Chem.MolToMolBlock(m.rdmol) for m in mols]})


# The BDE agreements of the models table, each column named PREFIX_METRIC_AGAINST:
# (prefix, against, rows, truth column, prediction column, metrics kept); "REF" is the labelling
# method's own BDE for the model's quantity.  kcal/mol, except ρ, R² and slope.
BDE_AGREEMENTS = [
    ("bde", "vs_exp", "all", "bde_kcal_mol", "e3d_bde_kcal_mol", ("mae", "rmse", "r2", "slope", "intercept", "spearman")),
    ("bde", "vs_reference", "all", "REF", "e3d_bde_kcal_mol", ("mae", "spearman")),
    ("fragment_bde", "vs_exp", "all", "bde_kcal_mol", "model_fragment_bde_kcal_mol", ("mae",)),
    ("reference_bde", "vs_exp", "all", "bde_kcal_mol", "reference_bde_kcal_mol", ("mae",)),
    ("bde_298", "vs_exp", "all", "bde_kcal_mol", "e3d_bde_298_kcal_mol", ("mae", "spearman", "r2")),
    ("reference_bde_298", "vs_exp", "all", "bde_kcal_mol", "reference_bde_298_kcal_mol", ("mae",)),
    ("bde_298", "vs_exp_in_domain", "domain", "bde_kcal_mol", "e3d_bde_298_kcal_mol", ("mae",)),
    ("bde", "vs_reference_in_domain", "domain", "REF", "e3d_bde_kcal_mol", ("mae",)),
    ("reference_bde_298", "vs_exp_in_domain", "domain", "bde_kcal_mol", "reference_bde_298_kcal_mol", ("mae",)),
]


def bde_agreements(bde: pd.DataFrame, model: E3DModel) -> Dict[str, float]:
    """:data:`BDE_AGREEMENTS` on a model's BDE table ("all": rows computed without error; "domain":
    those whose parent's bond types the model saw), with the row counts bde_n and bde_in_domain_n."""
    ok = bde["error"].isna()
    rows = {"all": ok, "domain": ok & in_training_domain(model, bde["parent_smiles"])}
    ref = reference_column(model_quantity(model))
    out = {}
    for prefix, against, subset, truth, pred, keep in BDE_AGREEMENTS:
        m = parity_metrics(bde.loc[rows[subset], ref if truth == "REF" else truth], bde.loc[rows[subset], pred])
        out.update({f"{prefix}_{k}_{against}": m[k] for k in keep})
        if (prefix, against) == ("bde", "vs_exp"):
            out["bde_n"] = m["n"]
        if (prefix, against) == ("bde_298", "vs_exp_in_domain"):
            out["bde_in_domain_n"] = m["n"]
    return out


def model_summary(model_id: str, model: E3DModel, stats: pd.DataFrame, pairs: pd.DataFrame,
                  bde: pd.DataFrame, scans: pd.DataFrame, fit: pd.Series) -> Dict[str, object]:
    """One row of models.parquet; ``fit``: the bond-additive fit to the model's training labels."""
    card = model.card
    test = (card.get("metrics") or {}).get("test", {})
    ok = bde["error"].isna()
    weakest, n_weak = weakest_bond_accuracy(bde[ok], "e3d_bde_kcal_mol")
    headline = bde["headline"]  # the model's own mask, domain included (:func:`_model_tables`)
    scan_err = np.nan
    if len(scans) and scans["reference_dE_kcal_mol"].notna().any():
        scan_err = float(np.nanmean([scan_summary(g, model.r_max)["scan_mae_kcal_mol"]
                                     for _, g in scans.groupby("label")]))
    per_mol = pairs.groupby("molecule")["f_bond"].first()
    return {
        "model_id": model_id,
        "role": card.get("role"),
        "dataset": card.get("dataset"),
        "dataset_variant": card.get("dataset_variant"),
        "level_of_theory": card.get("level_of_theory"),
        "n_training_frames": card.get("n_training_frames"),
        "shift_reference": model.shift_reference,
        "test_per_atom_energy_mae_eV": test.get("per_atom_energy_mae"),
        "test_total_energy_mae_eV": test.get("total_energy_mae"),
        "test_forces_mae_eV_A": test.get("forces_mae"),
        "entropy_weighted_nats": weighted_entropy(stats),
        "f_bond_mean": float(per_mol.mean()),
        "bde_quantity": model_quantity(model),
        **bde_agreements(bde, model),
        "weakest_bond_accuracy": weakest, "weakest_bond_n": n_weak,
        # like with like on the headline rows (common organic bond types the model saw, in its domain)
        "headline_n": int(headline.sum()), **flat_metrics(bde_metrics(bde, model_quantity(model), headline)),
        **error_budget(bde, headline), **sum_rule_metrics(bde, headline), **within_type_metrics(bde, headline),
        "scan_mae_vs_reference_kcal_mol": scan_err,
        **type_energy_agreement(stats, fit),
    }


def precompute(out_dir: str = DEFAULT_OUT, model_ids: Optional[Sequence[str]] = None,
               models_dir: str = MODELS_DIR, bde_path: str = BDE_REFERENCE,
               corpus: Optional[List[Tuple[str, str]]] = None, progress: bool = True,
               cache_dir: Optional[str] = None, gap_methods: Sequence[str] = ()) -> Dict[str, object]:
    """Run every analysis for every model in the index (or ``model_ids``); write tables + manifest.

    ``cache_dir`` keeps each model's tables keyed by the model file's hash, so adding one model
    to the family recomputes only that model (the CLI uses runs/precompute_cache/).  ``gap_methods``: labelling
    methods besides GFN2-xTB whose additivity gaps are computed where the reference energies lack them (DFT: two
    PySCF single points per bond, saved into OUT/reference_energies.json parent by parent); other DFT gaps come
    from that file only.
    """
    index = read_index(models_dir)
    known = [m["id"] for m in index["models"]]
    unknown = [m for m in model_ids or [] if m not in known]
    if unknown:
        raise E3DError(f"not in the model index of {models_dir}: {', '.join(unknown)} (`python -m e3d info --all` "
                       "lists the models)")
    entries = [m for m in index["models"] if not model_ids or m["id"] in model_ids]
    if not entries:
        raise E3DError(f"no models to precompute in {models_dir}")
    corpus_source = "custom (given to precompute)" if corpus is not None else os.path.relpath(EVAL_CORPUS, REPO_ROOT)
    corpus = corpus if corpus is not None else evaluation_corpus()
    bde_rows = pd.read_csv(bde_path)
    tables: Dict[str, List[pd.DataFrame]] = {k: [] for k in ("pairs", "bondtypes", "bde", "scans", "baseline")}
    summaries, baselines, geoms_by_ref = [], {}, {}
    saved_baselines = read_table(out_dir, "baseline")
    ref_path = os.path.join(out_dir, REFERENCE_ENERGIES)
    bde_caches, scan_refs = load_reference_caches(ref_path)
    all_mols = corpus_molecules(corpus)
    for entry in tqdm(entries, desc="models", disable=not progress):
        model_path = os.path.join(models_dir, entry["file"])
        model = load_model(model_path, device="cpu")
        folder = _cache_folder(cache_dir, entry["id"], model_path, bde_path, corpus) if cache_dir else None
        cached = load_tables(folder, CACHED_TABLES) if folder else None
        if cached is None:
            cached = _model_tables(model, all_mols, bde_rows, bde_caches, geoms_by_ref, scan_refs)
            if folder:
                save_tables(folder, cached)
            save_reference_caches(ref_path, bde_caches, scan_refs)  # expensive: keep them as they come
        dataset = model.card.get("dataset")
        if dataset and dataset not in baselines:
            baselines[dataset] = baseline_table(dataset, _dataset_path(dataset), saved_baselines)
        fit = baseline_per_type(baselines.get(dataset), dataset)
        # model-independent GFN2-xTB ZPE/thermal terms, additivity gaps and the labels' fit: outside the cache
        quantity = model_quantity(model)
        cached["bde"] = with_additivity_gap(with_298k(with_additive_fit(
            with_bond_types_seen(cached["bde"], model).assign(quantity=quantity), fit), quantity, bde_caches),
            bde_caches, progress=progress and bool(gap_methods), compute=(*ON_DEMAND_METHODS, *gap_methods),
            save=(lambda c: save_reference_caches(ref_path, c, scan_refs)) if gap_methods else None)
        for name in ("pairs", "bondtypes", "bde", "scans"):
            df = cached[name]
            if len(df):
                df = df.copy()
                df.insert(0, "model_id", entry["id"])
                tables[name].append(df)
        summaries.append(model_summary(entry["id"], model, cached["bondtypes"], cached["pairs"], cached["bde"],
                                       cached["scans"], fit))
    tables["baseline"] = [b for b in baselines.values() if len(b)]
    save_reference_caches(ref_path, bde_caches, scan_refs)
    written = {}
    for name, frames in tables.items():
        if frames:
            df = pd.concat(frames, ignore_index=True)
            df.to_parquet(os.path.join(out_dir, f"{name}.parquet"), index=False)
            written[name] = len(df)
    written.update(_write_ensembles(out_dir, index, tables))
    models = pd.DataFrame(summaries)
    models.to_parquet(os.path.join(out_dir, "models.parquet"), index=False)
    molecules_table(all_mols).to_parquet(os.path.join(out_dir, "molecules.parquet"), index=False)
    manifest = _manifest(entries, written, corpus_source, len(corpus), bde_path)
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest



def read_table(out_dir: str, name: str) -> pd.DataFrame:
    """OUT_DIR/NAME.parquet (``name`` may hold a folder: "study/scaling"), empty if it has not been written."""
    path = os.path.join(out_dir, f"{name}.parquet")
    return pd.read_parquet(path) if os.path.exists(path) else pd.DataFrame()


def _manifest(entries, written: Dict[str, int], corpus_source: str, n_molecules: int, bde_path: str) -> Dict[str, object]:
    """What the tables were computed from: models, corpus, BDE table, settings, versions, command."""
    return {
        "models": [{"id": e["id"], "file": e["file"], "dataset": e.get("dataset"),
                    "level_of_theory": e.get("level_of_theory")} for e in entries],
        "tables": written,
        "corpus": corpus_source, "n_corpus_molecules": n_molecules, "bde_table": os.path.relpath(bde_path, REPO_ROOT),
        "entropy": {"bin_width_kcal_mol": DEFAULT_BIN_WIDTH, "range_kcal_mol": list(ENTROPY_RANGE)},
        "geometry": "corpus: RDKit ETKDG + MMFF94; BDE parents relaxed with each model (at the GFN2-xTB minimum "
                    "where the model's minimum is not the molecule: column geometry); scans on the reference "
                    "method's minimum",
        "versions": {p: importlib.metadata.version(p) for p in ("torch", "nequip", "nequip-allegro", "rdkit", "tblite")},
        "command": "python -m e3d precompute " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["precompute"] else "",
        "date": datetime.date.today().isoformat(),
    }

def _write_ensembles(out_dir: str, index: Dict[str, object], tables: Dict[str, List[pd.DataFrame]]) -> Dict[str, int]:
    """ensemble_bonds.parquet and ensemble_bde.parquet: seed spread of D_ij and of learned BDEs."""
    from .ensemble import bde_spread, bond_spread, ensemble_members

    groups = ensemble_members(index)
    if not groups or not tables["pairs"] or not tables["bde"]:
        return {}
    pairs, bde = pd.concat(tables["pairs"], ignore_index=True), pd.concat(tables["bde"], ignore_index=True)
    out = {}
    for name, fn, source in (("ensemble_bonds", bond_spread, pairs), ("ensemble_bde", bde_spread, bde)):
        frames = [fn(source, members).assign(ensemble=base, members=",".join(members))
                  for base, members in groups.items()]
        df = pd.concat(frames, ignore_index=True)
        df.to_parquet(os.path.join(out_dir, f"{name}.parquet"), index=False)
        out[name] = len(df)
    return out


def _model_tables(model: E3DModel, all_mols, bde_rows: pd.DataFrame, bde_caches: ReferenceCache, geoms_by_ref: Dict,
                  scan_refs: Dict) -> Dict[str, pd.DataFrame]:
    """Pairs, bond-type stats, BDEs and scans of one model (the expensive part)."""
    mols = [m for m in all_mols if set(m.symbols) <= set(model.usable_type_names)]
    pairs = corpus_pairs(model, mols)
    stats = bond_type_stats(pairs[pairs["bonded"]])
    reference = reference_method_for(model)
    usable = bde_rows[[{a.GetSymbol() for a in parse_smiles(s).GetAtoms()} <= set(model.usable_type_names)
                       for s in bde_rows["parent_smiles"]]]  # the graph suffices: no 3D embedding
    bde = bde_table(model, usable, reference=reference, progress=False, cache=bde_caches)
    bde = bde.assign(headline=headline_mask(bde, model))  # in the model's domain: the ensembles' rows need it
    if reference not in geoms_by_ref:
        geoms_by_ref[reference] = reference_geometries(bde_rows, reference)
    scans = model_scans(model, usable, geoms_by_ref[reference], reference, scan_refs.setdefault(reference, {}))
    return {"pairs": pairs, "bondtypes": stats, "bde": bde, "scans": scans}


def load_reference_caches(path: str) -> Tuple[ReferenceCache, Dict]:
    """Labelling-method energies and ZPE/thermal terms (model-independent, expensive: ~1 h of
    GFN2-xTB and PySCF for the shipped table) — shipped in precomputed/ and reused."""
    bde_caches, scan_refs = ReferenceCache(), {}
    if os.path.exists(path):
        with open(path) as fh:
            saved = json.load(fh)
        bde_caches = ReferenceCache.from_json(saved["bde"])
        scan_refs = {ref: {tuple(json.loads(key)): np.array(v, dtype=float) for key, v in scans.items()}
                     for ref, scans in saved["scans"].items()}
    return bde_caches, scan_refs


def save_reference_caches(path: str, bde_caches: ReferenceCache, scan_refs: Dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    saved = {"bde": bde_caches.to_json(),
             "scans": {str(ref): {json.dumps(list(key)): [float(x) for x in v] for key, v in scans.items()}
                       for ref, scans in scan_refs.items() if ref is not None}}
    with open(path, "w") as fh:
        json.dump(saved, fh, sort_keys=True)


def _cache_folder(cache_dir: str, model_id: str, model_path: str, bde_path: str, corpus) -> str:
    # a new BDE column, a BDE_VERSION or TABLES_VERSION bump invalidates the cached tables; a sum of models is its
    # parts' files
    parts = model_files(model_path) if is_sum_path(model_path) else []
    key = content_key([model_path, *parts, bde_path], corpus, SCAN_POINTS, BDE_COLUMNS, BDE_VERSION, TABLES_VERSION,
                      *(["pairs with the parts' D_ij"] if parts else []))  # sums' pair tables gained columns
    return os.path.join(cache_dir, f"{model_id}-{key}")


CACHED_TABLES = ("pairs", "bondtypes", "bde", "scans")


def _dataset_path(dataset: str) -> Optional[str]:
    for folder in (os.path.join(REPO_ROOT, "runs", "data", sub) for sub in ("", "qm9", "study")):
        path = os.path.join(folder, dataset)
        if os.path.exists(path) and os.path.exists(path + ".json"):
            return path
    return None
