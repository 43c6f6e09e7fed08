"""Bond types: distributions of D_ij over the evaluation corpus, mean bond enthalpies, entropy."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from e3d.bondtypes import baseline_per_type, mean_bond_enthalpies

st.title("Bond types")
model_id = state.selected_model()
pairs = state.for_model("pairs", model_id) if model_id else None
stats = state.for_model("bondtypes", model_id) if model_id else None
if pairs is None or pairs.empty:
    st.warning("No precomputed pair table: run `python -m e3d precompute`.")
    st.stop()

bonds = pairs[pairs["bonded"]]
counts = bonds["bond_type"].value_counts()
common = [t for t in counts.index if counts[t] >= 3]
chosen = st.multiselect("Bond types", common, default=common[:8], key="bt_types")
mbe = mean_bond_enthalpies().set_index("bond_type")["mean_bond_enthalpy_kcal_mol"]
models = state.table("models")
row = models[models["model_id"] == model_id] if len(models) else models
dataset = row["dataset"].iloc[0] if len(row) else None
fit = baseline_per_type(state.table("baseline"), dataset) if dataset else pd.Series(dtype=float)
fig = go.Figure()
for t in chosen:
    fig.add_violin(y=bonds.loc[bonds["bond_type"] == t, "D_ij"], name=t, box_visible=True, points="all",
                   pointpos=0, jitter=0.3, marker=dict(size=3), showlegend=False)
    for ref, label, colour in ((mbe, "mean bond enthalpy", "red"), (fit, "labels' bond-additive fit", "black")):
        if t in ref.index:
            fig.add_scatter(x=[t], y=[ref[t]], mode="markers", marker=dict(symbol="line-ew-open", size=30, color=colour),
                            name=label, showlegend=t == next((c for c in chosen if c in ref.index), None),
                            hovertemplate=f"{t} {label} {ref[t]:.1f} kcal/mol<extra></extra>")
fig.update_layout(yaxis_title="D_ij (kcal/mol)", height=520, legend=dict(orientation="h", y=-0.12))
st.plotly_chart(fig, width="stretch")
st.caption("Red bars: textbook mean bond enthalpies (298 K, CRC/Atkins/Zumdahl). Black bars: one energy per bond "
           "type fitted to the atomisation energies of the model's own training labels (what the sum rule lets "
           "its D_ij match; types seen ≥ 5 times). " + state.provenance(model_id))

st.subheader("Entropy per bond type")
if stats is not None and len(stats):
    show = stats.drop(columns=["model_id", "note"], errors="ignore").rename(columns={
        "entropy_nats": "H (nats)", "mean_bond_enthalpy_kcal_mol": "mean bond enthalpy"})
    st.dataframe(show.round(2), hide_index=True, width="stretch")
    manifest_bins = "fixed 1 kcal/mol bins on a shared range (docs/E3D_METHOD.md §5)"
    st.caption(f"H = −Σ p ln p over {manifest_bins}; low H = sharp, transferable bond energies. "
               + state.provenance(model_id))
if len(row):
    r = row.iloc[0]
    c = st.columns(3)
    c[0].metric("E3D median D vs mean bond enthalpies", f"R² {r.median_D_r2_vs_mbe:.2f}",
                f"MAE {r.median_D_mae_vs_mbe:.1f} kcal/mol", delta_color="off")
    if pd.notna(r.get("baseline_r2_vs_mbe")):
        c[1].metric("Labels' bond-additive fit vs mean bond enthalpies", f"R² {r.baseline_r2_vs_mbe:.2f}",
                    f"MAE {r.baseline_mae_vs_mbe:.1f} kcal/mol", delta_color="off")
    if pd.notna(r.get("median_D_r2_vs_baseline")):
        c[2].metric("E3D median D vs the labels' bond-additive fit", f"R² {r.median_D_r2_vs_baseline:.2f}",
                    f"MAE {r.median_D_mae_vs_baseline:.1f} kcal/mol", delta_color="off")
    st.caption("The labels' bond-additive fit: one energy per bond type, least squares to the atomisation "
               "energies of the training set's relaxed molecules (types seen ≥ 5 times; docs/E3D_METHOD.md §4b). "
               "D_ij add up to the labels' atomisation energy (sum rule), so this fit — not the textbook table — "
               "is what a model's type medians can match; it also caps how close they can come to the textbook "
               "values. " + state.provenance(model_id))

ens = state.ensemble_rows("ensemble_bonds", model_id)
if len(ens):
    from e3d.ensemble import spread_by_quantity, spread_by_type

    st.subheader("Seed-ensemble uncertainty of D_ij")
    spread = spread_by_type(ens).sort_values("n", ascending=False).rename(columns={
        "median_std": "median σ (kcal/mol)", "p90_std": "90th percentile σ (kcal/mol)"})
    st.dataframe(spread.round(2), hide_index=True, width="stretch")
    st.caption(f"σ_ij = standard deviation of D_ij over {ens['members'].iloc[0].replace(',', ', ')} (same data "
               "and step budget, different seeds: weight initialisation and train/validation split), "
               "per bond of the held-out corpus at identical geometries. " + state.provenance(model_id))
    quantities = spread_by_quantity(state.ensemble_rows("ensemble_bde", model_id))
    if len(quantities):
        st.markdown("**What the seeds agree on** — the experimental bonds of the headline set")
        st.dataframe(quantities.rename(columns={"n": "bonds", "median_std": "median σ (kcal/mol)",
                                                "p90_std": "90th percentile σ (kcal/mol)"}).round(2),
                     hide_index=True, width="stretch")
        st.caption("D_ij and the fragment-cut sum depend on how the model splits its energy into edges; the "
                   "model's own BDEs (energy differences of parent and fragments) depend only on its energy. "
                   "Small σ on the last two and larger on the first two: the training data pin the energy "
                   "but not its split into bonds. " + state.provenance(model_id))
