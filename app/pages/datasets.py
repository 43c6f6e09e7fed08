"""Training datasets: scaling with data size, entropy vs reactivity (one point per model), model cards."""

import json
import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import state
from e3d.model import MODELS_DIR
from e3d.scaling import fit_power_law

st.title("Training datasets")
state.selected_model()
models = state.table("models")
if models.empty:
    st.warning("No precomputed model table: run `python -m e3d precompute`.")
    st.stop()

st.subheader("What makes bond energies emerge")
study = state.table("study/emergence")
if study.empty:
    st.info("No emergence-study results shipped yet: `python -m e3d study configs/study/emergence.yaml --train` "
            "trains its runs, then `python -m e3d study configs/study/emergence.yaml` writes the table.")
else:
    STUDY_COLUMNS = {
        "run_id": "run", "r_max": "r_max (Å)", "kinds": "data kinds", "n_qm9": "QM9 molecules", "n_frames": "frames",
        "seed": "seed", "epochs": "epochs", "converged": "converged", "finished": "step budget done",
        "test_energy_mae_meV_atom": "test energy MAE (meV/atom)", "test_forces_mae_eV_A": "test force MAE (eV/Å)",
        "bde_n": "bonds", "d_vs_rigid_mae": "D_ij vs rigid labels: MAE (kcal/mol)", "d_vs_rigid_rho": "D_ij vs rigid: ρ",
        "cut_vs_rigid_mae": "cut vs rigid labels: MAE (kcal/mol)", "cut_vs_rigid_rho": "cut vs rigid: ρ",
        "relaxed_est_vs_relaxed_mae": "relaxed estimate vs relaxed labels: MAE (kcal/mol)",
        "relaxed_est_vs_relaxed_rho": "relaxed estimate vs relaxed: ρ",
        "d_vs_exp298_mae": "D_ij vs experiment 298 K: MAE (kcal/mol)", "d_vs_exp298_rho": "D_ij vs experiment: ρ",
        "median_D_r2_vs_mbe": "type medians vs mean bond enthalpies: R²", "f_bond_mean": "f_bond",
        "entropy_weighted_nats": "entropy H (nats)", "training_time_h": "training time (h)"}
    st.dataframe(study[[c for c in STUDY_COLUMNS if c in study]].rename(columns=STUDY_COLUMNS).round(3),
                 hide_index=True, width="stretch")
    st.caption("GFN2-xTB labels (tblite, spin-polarised): the curated corpus without the BDE-table parents plus the "
               "first N QM9 molecules at their B3LYP geometries (relaxed, thermal, stretched frames and rigid radical "
               "fragments); emergence recipe configs/emergence.yaml. Metrics on the common organic bonds of the "
               "package BDE table (every one held out). 'rigid labels': GFN2-xTB BDE with both fragments frozen at "
               "the parent geometry — the like-with-like partner of D_ij and of the fragment cut.")
    curves = state.table("study/curves")
    if len(curves):
        fig = go.Figure()
        for run_id, c in curves.groupby("run_id"):
            fig.add_scatter(x=c["epoch"], y=c["weighted_sum"], mode="lines", name=run_id)
        fig.update_yaxes(type="log", title="validation loss (2·energy MAE per atom + force MAE)")
        fig.update_xaxes(title="epoch")
        fig.update_layout(height=360)
        st.plotly_chart(fig, width="stretch")
    spread = state.table("study/seed_spread")
    if len(spread):
        st.markdown("**Seed spread of D_ij** (same data, different seeds; evaluation-corpus bonds)")
        st.dataframe(spread.rename(columns={"group": "configuration", "bond_type": "bond type", "n": "bonds",
                                            "median_std": "median σ (kcal/mol)", "p90_std": "90th pct σ (kcal/mol)",
                                            "n_seeds": "seeds"}).round(2), hide_index=True, width="stretch")

st.subheader("Scaling with training-set size")
scaling = models[models["role"] == "scaling"].dropna(subset=["n_training_frames"]).sort_values("n_training_frames")
metric = st.selectbox("Quantity", ["test_per_atom_energy_mae_eV", "bde_298_mae_vs_exp", "entropy_weighted_nats"],
                      format_func={"test_per_atom_energy_mae_eV": "test energy MAE (eV/atom)",
                                   "bde_298_mae_vs_exp": "BDE MAE vs experiment at 298 K (kcal/mol)",
                                   "entropy_weighted_nats": "entropy H (nats)"}.get, key="scaling_metric")
if len(scaling) >= 2:
    fit = fit_power_law(scaling["n_training_frames"], scaling[metric])
    fig = go.Figure()
    fig.add_scatter(x=scaling["n_training_frames"], y=scaling[metric], mode="markers+lines", name="models",
                    text=scaling["model_id"])
    if np.isfinite(fit["b"]):
        n = np.geomspace(scaling["n_training_frames"].min(), scaling["n_training_frames"].max(), 50)
        fig.add_scatter(x=n, y=fit["a"] * n ** fit["b"], mode="lines", line=dict(dash="dash"),
                        name=f"fit ∝ N^{fit['b']:.2f}")
    fig.update_xaxes(type="log", title="training molecules N")
    fig.update_yaxes(type="log", title=metric)
    fig.update_layout(height=420)
    st.plotly_chart(fig, width="stretch")
    st.caption(f"QM9 nested subsets (H298, B3LYP/6-31G(2df,p)), fixed 10,000-molecule test set; power law "
               f"exponent b = {fit['b']:.2f} (R² on log axes {fit['r2_log']:.2f}).")
else:
    st.info("Fewer than two scaling models are shipped yet.")

st.subheader("Decomposability vs reactivity (one point per model)")
y_metric = st.selectbox("Reactivity measure", ["bde_298_mae_vs_exp", "bde_mae_vs_reference",
                                               "scan_mae_vs_reference_kcal_mol", "weakest_bond_accuracy"],
                        key="reactivity_metric")
fig = go.Figure()
for level, group in models.groupby("level_of_theory"):
    fig.add_scatter(x=group["entropy_weighted_nats"], y=group[y_metric], mode="markers+text", name=level,
                    text=group["model_id"], textposition="top center", marker=dict(size=11))
fig.update_layout(xaxis_title="entropy H, count-weighted (nats)", yaxis_title=y_metric, height=420)
st.plotly_chart(fig, width="stretch")
ok = models[["entropy_weighted_nats", y_metric]].dropna()
if len(ok) >= 3:
    st.caption(f"Spearman ρ(H, {y_metric}) over {len(ok)} models = "
               f"{ok.corr(method='spearman').iloc[0, 1]:.2f}. BDE and scan errors in kcal/mol.")

st.subheader("Model cards")
cards = {}
for m in state.index()["models"]:
    path = os.path.join(MODELS_DIR, m["file"].replace(".nequip.zip", ".card.json"))
    if os.path.exists(path):
        with open(path) as fh:
            cards[m["id"]] = json.load(fh)
chosen = st.multiselect("Cards", list(cards), default=list(cards)[:3], key="cards_chosen")
cols = st.columns(max(1, len(chosen)))
for col, mid in zip(cols, chosen):
    card = cards[mid]
    with col:
        st.markdown(f"**{mid}**")
        test = (card.get("metrics") or {}).get("test", {})
        st.write({"dataset": card.get("dataset"), "level of theory": card.get("level_of_theory"),
                  "frames": card.get("n_training_frames"), "atom reference": (card.get("energy_shifts") or {}).get("reference"),
                  "test energy MAE (eV/atom)": test.get("per_atom_energy_mae"),
                  "test force MAE (eV/Å)": test.get("forces_mae"), "epochs": (card.get("metrics") or {}).get("epochs"),
                  "training time (s)": card.get("training_time_s"), "hardware": card.get("hardware")})
        with st.expander("full card"):
            st.json(card)
