"""Learned BDE vs literature: parity plot of E3D, model-fragment and labelling-method BDEs vs experiment."""

import plotly.graph_objects as go
import streamlit as st

from app import state
from e3d.bde import REFERENCE_NOTES, in_training_domain, parity_metrics, reference_column

st.title("Learned BDE vs literature")
model_id = state.selected_model()
bde = state.for_model("bde", model_id) if model_id else None
if bde is None or bde.empty:
    st.warning("No precomputed BDE table for this model: run `python -m e3d precompute`.")
    st.stop()

bde = bde[bde["error"].isna()].copy()
bde["pair"] = bde["bond_type"].str.replace(r"\([^)]*\)", "", regex=True)
types = sorted(bde["pair"].unique())
chosen = st.multiselect("Bond types", types, default=types, key="bde_types")
data = bde[bde["pair"].isin(chosen)]
model = state.model(model_id)
domain = in_training_domain(model, data["parent_smiles"])
if not domain.all() and st.toggle(
        f"Only parents within the training domain (≤ {model.max_heavy_atoms} heavy atoms)", value=False,
        key="bde_domain", help=f"{model_id} never saw a molecule with more than {model.max_heavy_atoms} heavy atoms: "
                              "larger parents are extrapolation"):
    data = data[domain]
ref = data["reference_method"].dropna().iloc[0] if data["reference_method"].notna().any() else None
quantity = data["quantity"].iloc[0] if len(data) else ""
at_298 = "thermal_correction_kcal_mol" in data.columns and st.toggle(
    "Compare at 298 K", value=True, key="bde_298",
    help="adds ΔH₂₉₈ − ΔE_e (zero-point + thermal terms from GFN2-xTB harmonic frequencies of the relaxed parent "
         "and fragments) to electronic BDEs, so that they compare with experiment's 298 K enthalpies")
suffix = "_298_kcal_mol" if at_298 else "_kcal_mol"
series = [(f"e3d_bde{suffix}", "E3D D_ij (model, parent only)", "circle"),
          (f"model_fragment_bde{suffix}", "model fragments E(A)+E(B)−E(AB)", "diamond"),
          (f"reference_bde{suffix}", f"labelling method ({ref}: {REFERENCE_NOTES.get(ref, '')})" if ref
           else "labelling method (not available)", "square")]

ens = state.ensemble_rows("ensemble_bde", model_id)
if len(ens):  # seed spread of the learned BDE: error bars on the E3D points
    data = data.merge(ens[["label", "parent_smiles", "fragment_a", "fragment_b", "bde_std"]],
                      on=["label", "parent_smiles", "fragment_a", "fragment_b"], how="left")

fig = go.Figure()
lo, hi = 0.0, 250.0
for col, label, symbol in series:
    d = data.dropna(subset=[col])
    if d.empty:
        continue
    error_y = (dict(type="data", array=d["bde_std"], visible=True)
               if col.startswith("e3d_") and "bde_std" in d else None)
    fig.add_scatter(x=d["bde_kcal_mol"], y=d[col], mode="markers", name=label, marker=dict(symbol=symbol, size=9),
                    error_y=error_y,
                    customdata=d[["label", "parent_smiles", "bond_type"]].to_numpy(),
                    hovertemplate="%{customdata[0]} (%{customdata[1]}) %{customdata[2]}<br>"
                                  "experiment %{x:.1f}<br>" + label + " %{y:.1f}<extra></extra>")
    lo, hi = min(lo, d[col].min(), d["bde_kcal_mol"].min()), max(hi, d[col].max(), d["bde_kcal_mol"].max())
fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dash", color="grey"), name="y = x")
fig.update_layout(xaxis_title="experimental BDE, 298 K (kcal/mol)",
                  yaxis_title="model / reference at 298 K (kcal/mol)" if at_298 else "model / reference as learned (kcal/mol)",
                  height=560, legend=dict(orientation="h", y=-0.15))
left, right = st.columns([3, 2])
left.plotly_chart(fig, width="stretch")
with right:
    st.markdown("**Metrics vs experiment** (kcal/mol)")
    rows = []
    for (col, _, _), short in zip(series, ("E3D D_ij", "model fragments", "labelling method")):
        m = parity_metrics(data["bde_kcal_mol"], data[col])
        rows.append({"series": short, **{k: round(v, 2) if isinstance(v, float) else v for k, v in m.items()}})
    m = parity_metrics(data[reference_column(quantity)], data["e3d_bde_kcal_mol"])  # like with like
    rows.append({"series": "E3D vs labels (not exp.)",
                 **{k: round(v, 2) if isinstance(v, float) else v for k, v in m.items()}})
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(f"Model BDEs as learned: {quantity}. Experiment: 298 K enthalpies. "
               + ("Shown at 298 K: electronic BDEs (model and labelling method) plus ΔH₂₉₈ − ΔE_e from GFN2-xTB "
                  "harmonic frequencies (−6…−9 kcal/mol for X–H bonds: the zero-point energy of the broken bond)."
                  if at_298 else "Shown as learned: electronic BDEs lie above 298 K enthalpies by the zero-point "
                  "and thermal terms (6–9 kcal/mol for X–H bonds).")
               + " Sources per row in the table below.")
if "geometry" in data and data["geometry"].notna().any():
    where = ", ".join(f"{g} ({n})" for g, n in data["geometry"].value_counts().items())
    st.caption(f"D_ij and model-fragment energies taken at: {where} rows.")
if len(ens):
    st.caption(f"Error bars on E3D points: ±σ of the learned BDE over the seed ensemble "
               f"{ens['members'].iloc[0].replace(',', ', ')} (same data, different seeds; "
               f"median σ {ens['bde_std'].median():.1f} kcal/mol).")
st.caption(state.provenance(model_id))
with st.expander("All rows"):
    st.dataframe(data[[c for c in ["label", "parent_smiles", "fragment_a", "fragment_b", "bond_type", "bde_kcal_mol",
                                   "e3d_bde_kcal_mol", "model_fragment_bde_kcal_mol", "reference_bde_kcal_mol",
                                   "thermal_correction_kcal_mol", "e3d_bde_298_kcal_mol", "geometry", "source"]
                       if c in data]],
                 hide_index=True, width="stretch")
