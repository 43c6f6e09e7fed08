"""Shared by every page: cached tables and models, the sidebar model picker, provenance lines.

Pages stay thin: they call these helpers and e3d; nothing here computes science itself.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, List, Optional

import pandas as pd
import streamlit as st

import e3d
from e3d.family import read_index
from e3d.cards import MODELS_DIR, REPO_ROOT, file_id, pretraining, read_card
from e3d.precompute import read_table

PRECOMPUTED = os.path.join(REPO_ROOT, "precomputed")
MAX_UPLOAD_ATOMS = 120  # live CPU computation in the app
MAX_UPLOAD_BONDS = 25  # rows of an uploaded BDE table (each: parent and fragments relaxed with the model)
UPLOADS_KEY = "uploads"
BDE_UPLOAD_KEY = "bde_upload"


@st.cache_data(show_spinner=False)
def table(name: str) -> pd.DataFrame:
    """A precomputed table (empty if it is not there)."""
    return read_table(PRECOMPUTED, name)


@st.cache_data(show_spinner=False)
def seed_sigma() -> pd.DataFrame:
    """Seed σ(D_ij) of every shipped seed ensemble (e3d.verdict.ensemble_seed_sigma)."""
    from e3d.verdict import ensemble_seed_sigma

    return ensemble_seed_sigma(table("ensemble_bonds"))


@st.cache_data(show_spinner=False)
def method_doc() -> str:
    """docs/E3D_METHOD.md, shown in the app (a hosted demo has no repository to open)."""
    with open(os.path.join(REPO_ROOT, "docs", "E3D_METHOD.md"), encoding="utf-8") as fh:
        return fh.read()


@st.cache_data(show_spinner=False)
def index() -> Dict[str, object]:
    return read_index(MODELS_DIR)


@st.cache_resource(show_spinner="Loading model…")
def model(model_id: str) -> e3d.E3DModel:
    entry = next(m for m in index()["models"] if m["id"] == model_id)
    return e3d.load_model(os.path.join(MODELS_DIR, entry["file"]), device="cpu")


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server process, in the background: import torch and nequip, load the main model and
    compute one molecule, so that a visitor's first live molecule does not wait for them (the first
    page, which needs none of it, is drawn meanwhile; bench/app_latency.py measures the cold start)."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    def work():
        ids = model_ids()
        main = file_id(index().get("main") or "")
        if main in ids:
            mol = e3d.from_smiles("CCO")
            live_pairs(molblock(mol), "CCO", 0, 1, main)

    thread = threading.Thread(target=work, name="e3d-warm-up", daemon=True)
    add_script_run_ctx(thread, get_script_run_ctx())
    thread.start()
    return thread


def model_ids() -> List[str]:
    return [m["id"] for m in index()["models"]]


def model_picker() -> Optional[str]:
    """The sidebar's model/training-dataset picker.  Drawn by the entry point (app/main.py) on every
    run, before the page: a widget that lives there keeps its value across pages (Streamlit's
    convention for widgets shared by pages)."""
    ids = model_ids()
    if not ids:
        st.sidebar.error("No shipped models found in precomputed/models/.")
        return None
    main = file_id(index().get("main") or "")
    entries = {m["id"]: m for m in index()["models"]}
    mid = st.sidebar.selectbox("Model (training dataset)", ids, index=ids.index(main) if main in ids else 0,
                               key="model_id",
                               format_func=lambda i: f"{i} — {entries[i].get('level_of_theory') or '?'}")
    st.sidebar.caption(provenance(mid))
    return mid


def selected_model() -> Optional[str]:
    """The model chosen in the sidebar (None when no model ships)."""
    return st.session_state.get("model_id")


def error_message(exc: Exception) -> str:
    """An error in the app's words: the library names the problem; the app says what it can do about size."""
    if isinstance(exc, e3d.errors.TooLargeError):
        return (f"{exc} — the app computes molecules of up to {MAX_UPLOAD_ATOMS} atoms live; "
                "`e3d bonds` on your own machine takes larger ones")
    return str(exc)


def in_file(filename: str, message: str) -> str:
    """``FILE, message`` for a message about one row or record of an uploaded file, unless it names the file."""
    return message if message.startswith(f"{filename}:") else f"{filename}, {message}"


METRIC_HEADERS = {"mae": "MAE", "rmse": "RMSE", "r2": "R²", "spearman": "Spearman ρ"}  # e3d.bde.bde_metrics' columns


def bde_rows_shown(bde: pd.DataFrame, labels: Optional[Dict[str, str]] = None) -> pd.DataFrame:
    """A BDE table's rows for display: the columns with a value, under human headers with units (``labels``
    overrides some), rounded to 0.1 kcal/mol."""
    from e3d.additivity import GAP_COLUMNS

    headers = {"label": "bond", "parent_smiles": "parent", "fragment_a": "fragment A", "fragment_b": "fragment B",
               "bond_label": "bond type", "bde_kcal_mol": "experiment, 298 K (kcal/mol)",
               "e3d_bde_kcal_mol": "E3D D_ij (kcal/mol)", "e3d_bde_298_kcal_mol": "E3D D_ij, 298 K (kcal/mol)",
               "e3d_cut_bde_kcal_mol": "fragment cut (kcal/mol)",
               "e3d_relaxed_estimate_kcal_mol": "relaxed estimate (kcal/mol)",
               "model_fragment_bde_kcal_mol": "model fragments (kcal/mol)",
               "reference_bde_kcal_mol": "labelling method, relaxed (kcal/mol)",
               "rigid_reference_bde_kcal_mol": "labelling method, rigid (kcal/mol)",
               "locality_at_centres_kcal_mol": "locality at radical centres (kcal/mol)",
               GAP_COLUMNS["rigid"]: "additivity gap G/n, rigid (kcal/mol)",
               GAP_COLUMNS["relaxed"]: "additivity gap G/n, relaxed (kcal/mol)",
               "model_additivity_gap_kcal_mol": "the model's own G/n, rigid (kcal/mol)",
               "thermal_correction_kcal_mol": "ΔH₂₉₈ − ΔE_e (kcal/mol)", "bond_type_seen": "type seen in training",
               "headline": "in the metrics", "geometry": "geometry", "source": "source", "error": "error",
               "note": "note (values left empty, species read elsewhere)",
               **(labels or {})}
    cols = [c for c in headers if c in bde and bde[c].notna().any()]
    return bde[cols].rename(columns=headers).round(1)


def card(model_id: str) -> Dict[str, object]:
    """A shipped model's card ({} if it has none)."""
    entry = next((m for m in index()["models"] if m["id"] == model_id), {})
    return read_card(os.path.join(MODELS_DIR, entry.get("file", "")))


def provenance(model_id: str) -> str:
    """One line: model, dataset, level of theory, atom reference — shown next to numbers."""
    info = card(model_id)
    shifts = (info.get("energy_shifts") or {}).get("reference") or "unknown atom reference"
    tuned = pretraining(info)
    return (f"model **{model_id}** · trained on {info.get('dataset', '?')} "
            f"({info.get('n_training_frames', '?')} frames) · labels {info.get('level_of_theory', '?')} · "
            + (f"{tuned} · " if tuned else "") + f"μ: {shifts}")


def for_model(name: str, model_id: str) -> pd.DataFrame:
    df = table(name)
    return df[df["model_id"] == model_id] if len(df) else df


def ensemble_rows(name: str, model_id: str) -> pd.DataFrame:
    """Rows of an ensemble table (ensemble_bonds / ensemble_bde) whose ensemble includes the model — for a seed
    mean, the ensemble of its seeds."""
    df = table(name)
    seeds = set(card(model_id).get("mean_of") or [model_id])
    return df[df["members"].str.split(",").apply(lambda members: seeds <= set(members))] if len(df) else df


@st.cache_data(show_spinner=False, max_entries=512)
def live_pairs(molblock: str, name: str, charge: int, multiplicity: int, model_id: str):
    """Pair table of one molecule computed live on CPU with a shipped model (cached)."""
    mol = from_molblock(molblock, charge, multiplicity, name)
    loaded = model(model_id)
    (result,) = e3d.edge_energies(loaded, [mol], max_atoms=MAX_UPLOAD_ATOMS)
    pairs = e3d.pairs.with_seed_sd(e3d.pair_table(result), loaded)  # a sum's parts come with it; a mean's σ
    return pairs, result.total_energy, result.residual


def uploads() -> List[Dict[str, object]]:
    return st.session_state.setdefault(UPLOADS_KEY, [])


def from_molblock(molblock: str, charge: int = 0, multiplicity: int = 1, name: str = "") -> e3d.Molecule:
    """The molecule a page keeps as a MOL block (its 3D coordinates, charge and multiplicity)."""
    from rdkit import Chem

    rdmol = Chem.MolFromMolBlock(molblock, removeHs=False)
    return e3d.Molecule(rdmol=rdmol, positions=rdmol.GetConformer().GetPositions(), name=name,
                        charge=charge, multiplicity=multiplicity, source="app")


def molblock(mol: e3d.Molecule) -> str:
    from rdkit import Chem

    return Chem.MolToMolBlock(mol.rdmol)
