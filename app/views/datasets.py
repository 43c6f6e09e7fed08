"""Training datasets: the emergence study, what fine-tunes inherit, scaling with data size, entropy vs reactivity
(one point per model), model cards."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from e3d.data.qm9 import N_TEST
from e3d.family import card_summary, shipped_cards
from e3d.scaling import REACTIVITY_MEASURES, entropy_reactivity, fit_power_law, power_law_curve
from e3d.ensemble import quantity_spread_wide
from e3d.inheritance import inheritance_table, parents_from_cards
from e3d.study import CONFIGURATION_QUANTITIES, SEED_MEAN_COLUMNS, accuracy_vs_energy_error, spread_column

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
    configurations = state.table("study/configurations")
    if len(configurations):
        st.markdown("**By configuration**: each configuration's runs differ only in the seed; mean ± s.d. over the "
                    "seeds trained alike")
        quantity = st.selectbox("Quantity", [q for q in CONFIGURATION_QUANTITIES if q in configurations],
                                format_func=CONFIGURATION_QUANTITIES.get, key="study_configuration_metric")
        spread_col = spread_column(quantity)
        shown = configurations.iloc[::-1]  # plotly draws the first row at the bottom
        fig = go.Figure()
        fig.add_bar(y=shown["group"], x=shown[quantity], orientation="h", name="configurations",
                    error_x=dict(array=shown[spread_col]) if spread_col else None,
                    marker=dict(opacity=np.where(shown["seeds"] >= 2, 1.0, 0.4)),  # one seed: a probe, faded
                    customdata=shown[["seeds", "converged", "r_max", "kinds", "n_qm9"]],
                    hovertemplate="%{y}: %{x:.2f}<br>%{customdata[0]} seed(s), %{customdata[1]} converged<br>"
                                  "r_max %{customdata[2]} Å, %{customdata[3]}, %{customdata[4]:,} QM9 molecules"
                                  "<extra></extra>")
        fig.update_xaxes(title=CONFIGURATION_QUANTITIES[quantity])
        fig.update_yaxes(title="configuration (configs/study/emergence.yaml)")
        fig.update_layout(height=max(360, 22 * len(shown)))
        st.plotly_chart(fig, width="stretch")
        st.caption("GFN2-xTB labels; the measures of the run-by-run table below (headline rows of the package BDE "
                   "table, every one held out; rigid labels: both fragments frozen at the parent geometry), averaged "
                   "over a configuration's seeds; a faded bar is one seed (a probe, not a "
                   "conclusion). Hover for seeds, convergence, cutoff, data kinds and size.")
    STUDY_COLUMNS = {
        "run_id": "run", "r_max": "r_max (Å)", "kinds": "data kinds", "split": "train / validation split", "n_qm9": "QM9 molecules", "n_frames": "frames",
        "seed": "seed", "init_from": "fine-tuned from", "config": "training config (if not the recipe's)",
        "steps_done": "steps done", "epochs": "epochs",
        "converged": "converged", "finished": "finished (converged or step budget spent)",
        "test_energy_mae_meV_atom": "test energy MAE (meV/atom)", "test_forces_mae_eV_A": "test force MAE (eV/Å)",
        "test_qm9_energy_mae_meV_atom": "held-out QM9 molecules: energy MAE (meV/atom)",
        "test_qm9_forces_mae_eV_A": "held-out QM9 molecules: force MAE (eV/Å)",
        "train_energy_mae_meV_atom": "in sample (own training data): energy MAE (meV/atom)",
        "train_forces_mae_eV_A": "in sample (own training data): force MAE (eV/Å)",
        "bde_n": "bonds", "d_vs_rigid_mae": "D_ij vs rigid labels: MAE (kcal/mol)", "d_vs_rigid_rho": "D_ij vs rigid: ρ",
        "fit_vs_rigid_mae": "baseline (labels' bond-additive fit) vs rigid labels: MAE (kcal/mol)",
        "fit_vs_rigid_rho": "baseline vs rigid: ρ",
        "cut_vs_rigid_mae": "cut vs rigid labels: MAE (kcal/mol)", "cut_vs_rigid_rho": "cut vs rigid: ρ",
        "relaxed_est_vs_relaxed_mae": "relaxed estimate vs relaxed labels: MAE (kcal/mol)",
        "relaxed_est_vs_relaxed_rho": "relaxed estimate vs relaxed: ρ",
        "relaxation_term_mae": "relaxation term: mean |labels' − model's fragment relaxation energy| (kcal/mol)",
        "relaxation_term_mean": "relaxation term, mean (< 0: the model relaxes fragments too far; kcal/mol)",
        "frag_vs_relaxed_mae": "model fragments (the model's own relaxed BDE) vs relaxed labels: MAE (kcal/mol)",
        "d_vs_exp298_mae": "D_ij vs experiment 298 K: MAE (kcal/mol)", "d_vs_exp298_rho": "D_ij vs experiment: ρ",
        "budget_accuracy_mae": "error budget: mean |model rigid − labels' rigid| (kcal/mol)",
        "budget_locality_mae": "error budget: mean |cut − model rigid| (kcal/mol)",
        "budget_locality_at_centres_mae": "error budget: locality at the radical centres, mean |·| (kcal/mol)",
        "budget_partition_mae": "error budget: mean |D_ij − cut| (kcal/mol)",
        "d_vs_rigid_mean_error": "mean D_ij − rigid labels (kcal/mol)",
        "sum_rule_mean_offset": "what the sum rule makes it: mean −G/n_bonds (kcal/mol)",
        "model_additivity_gap_mean": "the model's own G/n_bonds, mean (kcal/mol)",
        "d_plus_gap_vs_rigid_mae": "D_ij + G/n_bonds vs rigid labels: MAE (kcal/mol)",
        "d_plus_gap_vs_rigid_rho": "D_ij + G/n_bonds vs rigid: ρ",
        "test_bias_eq_kcal_mol": "held-out energy bias, relaxed parents (kcal/mol)",
        "test_bias_radical_kcal_mol": "held-out energy bias, radicals (kcal/mol)",
        "median_D_r2_vs_mbe": "type medians vs mean bond enthalpies: R²",
        "median_D_r2_vs_baseline": "type medians vs the labels' bond-additive fit: R²",
        "median_D_mae_vs_baseline": "type medians vs the labels' bond-additive fit: MAE (kcal/mol)",
        "f_bond_mean": "f_bond",
        "entropy_weighted_nats": "entropy H (nats)", "training_time_h": "training time (h)"}
    st.markdown("**Run by run**")
    st.dataframe(study[[c for c in STUDY_COLUMNS if c in study]].rename(columns=STUDY_COLUMNS).round(3),
                 hide_index=True, width="stretch")
    st.caption("GFN2-xTB labels (tblite, spin-polarised): the curated corpus without the BDE-table parents plus the "
               "first N QM9 molecules at their B3LYP geometries (relaxed, thermal, stretched frames and rigid radical "
               "fragments); emergence recipe configs/emergence.yaml. Metrics on the common organic bonds of the "
               "package BDE table (every one held out). 'rigid labels': GFN2-xTB BDE with both fragments frozen at "
               "the parent geometry — the like-with-like partner of D_ij and of the fragment cut. Error budget: D_ij − rigid "
               "labels = (model's own rigid BDE − labels') + (cut − model's rigid BDE) + (D_ij − cut): whether the "
               "model learned the energy, whether it sits in the pairs across the bond, and how much the bond's own "
               "pair carries (mean absolute value of each, kcal/mol); the locality term's part on the radical centres' "
               "own pairs beside it. Sum rule: the edge energies add up to the atomization energy, a molecule's BDEs "
               "to more (by G, GFN2-xTB), so D_ij misses them by −G/n_bonds on average when the non-bonded pairs "
               "carry nothing; D_ij + G/n_bonds (the labels' G: a diagnostic) is what is left (docs/E3D_METHOD.md "
               "§4d). Relaxation term: the labels' fragment relaxation energy minus the model's own, per bond — "
               "the relaxed estimate misses the relaxed labels by the cut's miss against the rigid labels plus this "
               "term (§4c). "
               "Energy bias: mean signed model − label energy "
               "per held-out frame of that kind (evaluation corpus): a BDE is two radicals minus a parent, so a "
               "model that puts radicals low and parents high underbinds every bond.")
    fit = accuracy_vs_energy_error(study)
    if np.isfinite(fit["r"]):
        st.markdown("**Why the learned BDEs miss: the energy itself** — the error budget's accuracy term against the "
                    "held-out energy error, one point per run")
        fig = go.Figure()
        fig.add_scatter(x=study["test_energy_mae_meV_atom"], y=study["budget_accuracy_mae"], mode="markers",
                        name="study runs", text=study["run_id"],
                        hovertemplate="%{text}<br>%{x:.1f} meV/atom<br>%{y:.1f} kcal/mol<extra></extra>")
        x = np.linspace(0, study["test_energy_mae_meV_atom"].max(), 50)
        fig.add_scatter(x=x, y=fit["slope"] * x + fit["intercept"], mode="lines", line=dict(dash="dash"),
                        name=f"least squares (r = {fit['r']:.2f})")
        fig.add_hline(y=fit["target"], line_dash="dot", annotation_text=f"{fit['target']:g} kcal/mol (D_ij target MAE)")
        fig.update_xaxes(title="held-out energy MAE (meV/atom)", rangemode="tozero")
        fig.update_yaxes(title="accuracy term: mean |model's rigid BDE − labels'| (kcal/mol)", rangemode="tozero")
        fig.update_layout(height=380)
        st.plotly_chart(fig, width="stretch")
        st.caption(f"GFN2-xTB labels; held-out frames of the evaluation corpus; BDEs of the common organic bonds of the "
                   f"package table (every one held out). The line falls to {fit['target']:g} kcal/mol at "
                   f"{fit['needed_meV_atom']:.1f} meV/atom; the best run has {fit['best_meV_atom']:.1f}. Whatever the "
                   "decomposition, D_ij cannot be closer to the labels' BDEs than the model's own energy differences "
                   "are, unless the budget's terms cancel (docs/E3D_METHOD.md §4c).")
    curves = state.table("study/curves")
    CURVE_QUANTITIES = {"per_atom_energy_mae": "validation energy MAE (eV/atom)",
                        "forces_mae": "validation force MAE (eV/Å)"}  # the same for every run's loss weights
    if len(curves):
        quantity = st.selectbox("Training curve", [q for q in CURVE_QUANTITIES if q in curves],
                                format_func=CURVE_QUANTITIES.get, key="study_curve")
        fig = go.Figure()
        for run_id, c in curves.groupby("run_id"):
            fig.add_scatter(x=c["step"], y=c[quantity], mode="lines", name=run_id)
        fig.update_yaxes(type="log", title=CURVE_QUANTITIES[quantity])
        fig.update_xaxes(title="optimiser step (a fine-tune counts from its own start)")
        fig.update_layout(height=360)
        st.plotly_chart(fig, width="stretch")
    spread = state.table("study/seed_spread")
    if len(spread):
        st.markdown("**Seed spread of D_ij** (same data, different seeds; evaluation-corpus bonds)")
        spread = spread.sort_values(["group", "n"], ascending=[True, False])
        st.dataframe(spread.rename(columns={"group": "configuration", "bond_type": "bond type", "n": "bonds",
                                            "median_std": "median σ (kcal/mol)", "p90_std": "90th pct σ (kcal/mol)",
                                            "n_seeds": "seeds"}).round(2), hide_index=True, width="stretch")
    agree = quantity_spread_wide(state.table("study/quantity_spread"))
    if len(agree):
        st.markdown("**What the seeds agree on**: median σ over the seeds (kcal/mol), experimental bonds of the "
                    "headline set")
        st.dataframe(agree.rename(columns={"group": "configuration"}).round(2), hide_index=True, width="stretch")
        st.caption("D_ij and the fragment-cut sum depend on how a model splits its energy into edges; its own BDEs "
                   "(energy differences of parent and fragments) only on its energy. GFN2-xTB labels; "
                   "docs/E3D_METHOD.md §4e.")
    seed_mean = state.table("study/seed_mean")
    if len(seed_mean):
        st.markdown("**Averaging the seeds**: D_ij averaged bond by bond over a configuration's seeds against the "
                    "labels' rigid BDE, beside the seeds one by one (same headline rows)")
        st.dataframe(seed_mean[[c for c in SEED_MEAN_COLUMNS if c in seed_mean]].rename(columns=SEED_MEAN_COLUMNS)
                     .round(2), hide_index=True, width="stretch")
        st.caption("What averages out is each seed's own split of the energy into edges; what is left every seed "
                   "shares. GFN2-xTB labels, rigid fragments at the parent geometry; docs/E3D_METHOD.md §4e.")

st.subheader("What a model built on another keeps of its partition")
inherited = inheritance_table(state.table("bde"), parents_from_cards(shipped_cards()))
if inherited.empty:
    st.info("No fine-tuned model or Δ sum with its parent in the precomputed BDE table.")
else:
    PAIR = {"d_vs_parent_d": "D_ij vs parent's D_ij", "d_vs_parent_labels_rigid": "D_ij vs parent's labels (rigid)",
            "d_vs_own_labels_rigid": "D_ij vs own labels (rigid)",
            "own_rigid_vs_own_labels_rigid": "own rigid BDE vs own labels (rigid)",
            "parent_d_vs_parent_labels_rigid": "parent's D_ij vs its labels (rigid)",
            "d_shift_vs_labels_shift": "D_ij − parent's vs own labels − parent's (rigid)",
            "own_labels_vs_parent_labels_rigid": "own labels vs parent's labels (rigid)",
            "own_labels_rigid_vs_experiment": "own labels (rigid) vs experiment (298 K)",
            "parent_labels_rigid_vs_experiment": "parent's labels (rigid) vs experiment (298 K)"}
    labels = {"model_id": "model", "parent_id": "parent (fine-tuned from, or + Δ model on)", "n": "bonds",
              "labels": "own labels", "parent_labels": "parent's labels"}
    labels |= {f"{k}_{m}": f"{name}: {'MAE (kcal/mol)' if m == 'mae' else 'ρ'}" for k, name in PAIR.items()
               for m in ("mae", "rho")}
    st.dataframe(inherited[[c for c in labels if c in inherited]].rename(columns=labels).round(2), hide_index=True,
                 width="stretch")
    st.caption("A fine-tune's parent is the model it started from; a Δ sum's, the GFN2-xTB model it adds a Δ model "
               "to (docs/E3D_METHOD.md §4i). Each model's headline rows (common organic bonds of the package table it "
               "saw, in its domain), its parent's rows matched bond by bond; rigid BDEs of each model's own labelling "
               "method, fragments frozen at the parent geometry. D_ij − rigid BDE of its own labels is the parent's miss "
               "against its labels plus the shift's miss against the labels' shift (columns “parent's D_ij vs its labels” "
               "and “D_ij − parent's vs own labels − parent's”): which of the two a model's miss comes from (docs/E3D_METHOD.md §4h).")

st.subheader("Scaling with training-set size")
study_scaling = state.table("study/scaling")
if len(study_scaling):
    st.markdown("**Emergence study: the same recipe on nested QM9 sets** (GFN2-xTB labels)")
    quantity = st.selectbox("Study quantity", [q for q in CONFIGURATION_QUANTITIES if q in study_scaling],
                            format_func=CONFIGURATION_QUANTITIES.get,
                            key="study_scaling_metric")
    spread_col = spread_column(quantity)
    fig = go.Figure()
    fig.add_scatter(x=study_scaling["n_qm9"], y=study_scaling[quantity], mode="markers+lines", name="study",
                    error_y=dict(array=study_scaling[spread_col]) if spread_col else None,
                    customdata=study_scaling[["seeds", "converged"]],
                    hovertemplate="%{x:,} QM9 molecules<br>%{y:.2f}<br>%{customdata[0]} seeds, "
                                  "%{customdata[1]} converged<extra></extra>")
    fig.update_xaxes(type="log", title="QM9 training molecules (plus the curated corpus)")
    fig.update_yaxes(title=CONFIGURATION_QUANTITIES[quantity])
    fig.update_layout(height=380)
    st.plotly_chart(fig, width="stretch")
    st.caption("Each point: the study's runs at that size (configs/study/emergence.yaml, `scaling`), mean ± standard "
               "deviation over the seeds trained alike; D_ij against GFN2-xTB rigid BDEs on the common organic bonds "
               "of the package BDE table, seed σ on the evaluation-corpus bonds. Hover for seeds and how many "
               "converged. A size counts towards the converged curve once all its seeds (≥ 3) have converged.")
    st.markdown("**Energy-only models on QM9 H298 (B3LYP)**")
scaling = models[models["role"] == "scaling"].dropna(subset=["n_training_frames"]).sort_values("n_training_frames")
QM9_SCALING_QUANTITIES = {"test_per_atom_energy_mae_eV": "test energy MAE (eV/atom)",
                      "d_vs_exp298_mae": "D_ij MAE vs experiment at 298 K, headline bonds (kcal/mol)",
                      "entropy_weighted_nats": "entropy H (nats)"}
metric = st.selectbox("Quantity", list(QM9_SCALING_QUANTITIES), format_func=QM9_SCALING_QUANTITIES.get,
                      key="scaling_metric")
if len(scaling) >= 2:
    fit = fit_power_law(scaling["n_training_frames"], scaling[metric])
    fig = go.Figure()
    fig.add_scatter(x=scaling["n_training_frames"], y=scaling[metric], mode="markers+lines", name="models",
                    text=scaling["model_id"])
    if np.isfinite(fit["b"]):
        n, curve = power_law_curve(fit, scaling["n_training_frames"])
        fig.add_scatter(x=n, y=curve, mode="lines", line=dict(dash="dash"),
                        name=f"fit ∝ N^{fit['b']:.2f}")
    fig.update_xaxes(type="log", title="training molecules N")
    fig.update_yaxes(type="log", title=QM9_SCALING_QUANTITIES[metric])
    fig.update_layout(height=420)
    st.plotly_chart(fig, width="stretch")
    st.caption(f"QM9 nested subsets (H298, B3LYP/6-31G(2df,p)), fixed {N_TEST:,}-molecule test set; power law "
               f"exponent b = {fit['b']:.2f} (R² on log axes {fit['r2_log']:.2f}).")
else:
    st.info("Fewer than two scaling models are shipped yet.")

st.subheader("Decomposability vs reactivity (one point per model)")
y_metric = st.selectbox("Reactivity measure", list(REACTIVITY_MEASURES), format_func=REACTIVITY_MEASURES.get,
                        key="reactivity_metric")
fig = go.Figure()
for level, group in models.groupby("level_of_theory"):
    fig.add_scatter(x=group["entropy_weighted_nats"], y=group[y_metric], mode="markers", name=level,
                    text=group["model_id"], marker=dict(size=11),
                    hovertemplate="%{text}<br>H %{x:.2f} nats<br>%{y:.2f}<extra></extra>")
fig.update_layout(xaxis_title="entropy H, count-weighted (nats)", yaxis_title=REACTIVITY_MEASURES[y_metric], height=420,
                  legend=dict(title="labels"))
st.plotly_chart(fig, width="stretch")
rho, n = entropy_reactivity(models, y_metric)
if n >= 3:
    st.caption(f"Spearman ρ(H, {REACTIVITY_MEASURES[y_metric]}) over {n} models = {rho:.2f}. Hover a point for its model.")

st.subheader("Model cards")
cards = shipped_cards()
chosen = st.multiselect("Cards", list(cards), default=list(cards)[:3], key="cards_chosen")
if chosen:
    table = pd.DataFrame({mid: card_summary(cards[mid]) for mid in chosen}).astype(str).replace({"None": "–"})
    st.dataframe(table, width="stretch")
    st.caption("From each model's card (precomputed/models/ID.card.json), written when the model was trained.")
