"""Learned BDE vs literature and vs the labelling method, like with like (docs/E3D_METHOD.md §4, §4c)."""

import plotly.graph_objects as go
import streamlit as st

from app import state
from e3d.additivity import GAP_COLUMNS, sum_rule_metrics
from e3d.bde import SERIES, bde_metrics, error_budget_by_type, headline_mask, in_training_domain, reference_column
from e3d.references import REFERENCE_NOTES
from e3d.within_type import MIN_ROWS as WITHIN_MIN_ROWS, by_type, sentence as within_sentence, type_offset_split

st.title("Learned BDE vs literature")
model_id = state.selected_model()
bde = state.for_model("bde", model_id) if model_id else None
if bde is None or bde.empty:
    st.warning("No precomputed BDE table for this model: run `python -m e3d precompute`.")
    st.stop()

bde = bde[bde["error"].isna()].copy()
model = state.model(model_id)
quantity = bde["quantity"].iloc[0]
ref = bde["reference_method"].dropna().iloc[0] if bde["reference_method"].notna().any() else None

TARGETS = {"experiment (298 K)": "bde_kcal_mol", "labelling method, relaxed": reference_column(quantity),
           "labelling method, rigid": "rigid_reference_bde_kcal_mol"}
available = [t for t, col in TARGETS.items() if col in bde and bde[col].notna().any()]
left_ctl, right_ctl = st.columns(2)
target = left_ctl.radio("Compare against", available, horizontal=True, key="bde_target",
                        help="Like with like: D_ij and the fragment cut are read at the parent geometry with nothing "
                             "relaxed (rigid); the relaxed estimate and the model's fragments relax. Experiment is a "
                             "298 K enthalpy: model and labelling-method BDEs get the GFN2-xTB ZPE/thermal term.")
at_298 = target.startswith("experiment")


def series_column(name: str) -> str:
    return f"{SERIES[name]}_298_kcal_mol" if at_298 else f"{SERIES[name]}_kcal_mol"


names = [s for s in SERIES if not (s == "labelling method" and not at_298)
         and series_column(s) in bde and bde[series_column(s)].notna().any()]
shown = right_ctl.multiselect("Series", names, default=names[:3], key="bde_series")
headline = st.toggle("Only common organic bond types the model has seen", value=True, key="bde_headline",
                     help="C–H, C–C, C–O, C–N, O–H, N–H, C–F, C–Cl, S–H, C–S (any order) of types present in the "
                          "model's training molecules: the rows the headline metrics use")
data = bde[headline_mask(bde)] if headline else bde
types = sorted(data["bond_type"].unique())
chosen = st.multiselect("Bond types", types, default=types, key="bde_types")
data = data[data["bond_type"].isin(chosen)]
domain = in_training_domain(model, data["parent_smiles"])
if not domain.all() and st.toggle(
        f"Only parents within the training domain (≤ {model.max_heavy_atoms} heavy atoms)", value=False,
        key="bde_domain", help=f"{model_id} never saw a molecule with more than {model.max_heavy_atoms} heavy atoms: "
                              "larger parents are extrapolation"):
    data = data[domain]

ens = state.ensemble_rows("ensemble_bde", model_id)
if len(ens):  # seed spread of the learned BDE: error bars on the D_ij points
    data = data.merge(ens[["label", "parent_smiles", "fragment_a", "fragment_b", "bde_std"]],
                      on=["label", "parent_smiles", "fragment_a", "fragment_b"], how="left")

x_col = TARGETS[target]
fig = go.Figure()
x = data[x_col].dropna()
lo, hi = (float(x.min()) - 20, float(x.max()) + 30) if len(x) else (0.0, 200.0)
outside = 0
for name, symbol in zip(SERIES, ("circle", "triangle-up", "triangle-down", "diamond", "square", "x")):
    if name not in shown:
        continue
    col = series_column(name)
    d = data.dropna(subset=[col, x_col])
    if d.empty:
        continue
    outside += int(((d[col] < lo) | (d[col] > hi)).sum())
    error_y = dict(type="data", array=d["bde_std"], visible=True) if name == "E3D D_ij" and "bde_std" in d else None
    label = f"{name} ({ref}: {REFERENCE_NOTES.get(ref, '')})" if name == "labelling method" and ref else name
    fig.add_scatter(x=d[x_col], y=d[col], mode="markers", name=label, marker=dict(symbol=symbol, size=9),
                    error_y=error_y, customdata=d[["label", "parent_smiles", "bond_label"]].to_numpy(),
                    hovertemplate="%{customdata[0]} (%{customdata[1]}) %{customdata[2]}<br>"
                                  f"{target} " + "%{x:.1f} kcal/mol<br>" + name + " %{y:.1f} kcal/mol<extra></extra>")
fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dash", color="grey"), name="y = x")
fig.update_layout(xaxis=dict(title=f"{target} BDE (kcal/mol)", range=[lo, hi]),
                  yaxis=dict(title=("model / labelling method at 298 K" if at_298 else "model, electronic")
                             + " (kcal/mol)", range=[lo, hi]),
                  height=560, legend=dict(orientation="h", y=-0.15))
st.plotly_chart(fig, width="stretch")
if outside:
    st.caption(f"{outside} point(s) lie outside the plotted range ({lo:.0f}–{hi:.0f} kcal/mol): "
               "see them in the table of all rows.")

st.markdown("**Metrics** (kcal/mol; the rows shown above)")
metrics = bde_metrics(data, quantity, data["error"].isna())
metrics = metrics[metrics["against"] == target].drop(columns="against").round(2)
st.dataframe(metrics.rename(columns=state.METRIC_HEADERS), hide_index=True, width="stretch")
unseen = sorted(set(bde.loc[bde["bond_type_seen"].map(lambda v: v is False), "bond_type"]))
st.caption(f"Model bond energies as learned: {quantity}. "
           + ("Against experiment (298 K enthalpies) the model's and the labelling method's electronic BDEs carry "
              "ΔH₂₉₈ − ΔE_e from GFN2-xTB harmonic frequencies (−6…−9 kcal/mol for X–H bonds). " if at_298 else
              "Against the labelling method: electronic BDEs on both sides; the rigid BDE freezes both fragments at "
              "the parent's GFN2-xTB minimum. ")
           + "The labels' bond-additive fit gives every bond of a type one energy, fitted to the training labels' "
             "atomisation energies (docs/E3D_METHOD.md §4b): the baseline without environment a learned bond "
             "energy has to beat. "
           + (f"Bond types {model_id} never saw in training (kept out of the headline rows): {', '.join(unseen)}."
              if unseen else ""))
if len(ens):
    st.caption(f"Error bars on D_ij: ±σ of the learned BDE over the seed ensemble "
               f"{ens['members'].iloc[0].replace(',', ', ')} (same data, different seeds; "
               f"median σ {ens['bde_std'].median():.1f} kcal/mol).")
st.caption(state.provenance(model_id))

if data["rigid_reference_bde_kcal_mol"].notna().any():
    with st.expander("Why D_ij misses the rigid BDE: error budget and sum rule"):
        if GAP_COLUMNS["rigid"] in data and data[GAP_COLUMNS["rigid"]].notna().sum() >= 3:
            rule = sum_rule_metrics(data, data["error"].isna())
            labeller = data["reference_method"].dropna().iloc[0]  # the gaps are the row's own labels'
            m = st.columns(4)
            m[0].metric("mean D_ij − rigid labels (kcal/mol)", f"{rule['d_vs_rigid_mean_error']:+.1f}",
                        help=f"over the {rule['sum_rule_n']} rows above whose parent has no ring bond")
            m[1].metric("what the sum rule alone makes it (kcal/mol)", f"{rule['sum_rule_mean_offset']:+.1f}",
                        help=f"mean −G/n_bonds of the parents: their bonds' {labeller} rigid BDEs add up to more "
                             "than the atomization energy, which the edge energies add up to")
            m[2].metric("the model's own G/n_bonds (kcal/mol)", f"{rule['model_additivity_gap_mean']:+.1f}",
                        help="the model's rigid BDEs of all of a parent's bonds minus its atomization energy, per "
                             "bond: the labels' is −(the previous number); a model with a smaller one puts radicals "
                             "too low (the error budget's accuracy term)")
            m[3].metric("r, row by row", f"{rule['sum_rule_r']:.2f}")
            if rule["d_plus_relaxed_gap_vs_exp298_n"] >= 3:
                st.caption(f"Removing the sum rule's share (a diagnostic with the labels' G, not a prediction): "
                           f"D_ij + G/n_bonds vs the rigid labels MAE {rule['d_plus_gap_vs_rigid_mae']:.1f} kcal/mol, "
                           f"ρ {rule['d_plus_gap_vs_rigid_rho']:.2f} (D_ij alone {rule['sum_rule_d_vs_rigid_mae']:.1f}, "
                           f"{rule['sum_rule_d_vs_rigid_rho']:.2f}); against experiment at 298 K, a relaxed BDE, "
                           f"D_ij + G_relaxed/n_bonds MAE {rule['d_plus_relaxed_gap_vs_exp298_mae']:.1f} kcal/mol, "
                           f"ρ {rule['d_plus_relaxed_gap_vs_exp298_rho']:.2f} on "
                           f"{rule['d_plus_relaxed_gap_vs_exp298_n']} rows (docs/E3D_METHOD.md §4d).")
            d = data.dropna(subset=[GAP_COLUMNS["rigid"], "rigid_reference_bde_kcal_mol", "e3d_bde_kcal_mol"])
            gfig = go.Figure()
            gfig.add_scatter(x=-d[GAP_COLUMNS["rigid"]], y=d["e3d_bde_kcal_mol"] - d["rigid_reference_bde_kcal_mol"],
                             mode="markers", name="bond", customdata=d[["label", "parent_smiles"]].to_numpy(),
                             hovertemplate="%{customdata[0]} (%{customdata[1]})<br>−G/n %{x:.1f} kcal/mol<br>"
                                           "D_ij − rigid %{y:.1f} kcal/mol<extra></extra>")
            span = [float(min(-d[GAP_COLUMNS["rigid"]].max(), -30)), float(max(-d[GAP_COLUMNS["rigid"]].min(), 30))]
            gfig.add_scatter(x=span, y=span, mode="lines", line=dict(dash="dash", color="grey"), name="y = x")
            gfig.update_layout(xaxis_title=f"−G/n_bonds of the parent, {labeller} (kcal/mol)",
                               yaxis_title="D_ij − rigid BDE of the labels (kcal/mol)", height=420,
                               legend=dict(orientation="h", y=-0.2))
            st.plotly_chart(gfig, width="stretch")
        budget = error_budget_by_type(data, data["error"].isna()).round(1)
        st.dataframe(budget.rename(columns={
            "bond_type": "bond type", "total": "D_ij − rigid labels", "accuracy": "accuracy",
            "locality": "locality", "locality_at_centres": "locality at radical centres",
            "locality_beyond": "locality elsewhere", "partition": "partition", "sum_rule_offset": "sum rule −G/n",
            "relaxation": "relaxation term (relaxed estimate)"}),
            hide_index=True, width="stretch")
        st.caption("Mean per bond type, kcal/mol. D_ij − rigid labels = accuracy (the model's rigid BDE − the "
                   "labels') + locality (fragment cut − the model's rigid BDE: energy the fragments' own pairs take "
                   "when the bond goes, split into the radical centres' own pairs and the rest) + partition "
                   "(D_ij − cut). Beside them, not one of them: −G/n_bonds, the mean miss the sum rule forces on "
                   "a molecule's bonds when the non-bonded pairs carry nothing, and the relaxed estimate's "
                   "relaxation term: the labels' fragment relaxation energy minus the model's own (< 0: the model "
                   "relaxes the fragments too far; relaxed estimate − relaxed labels = cut − rigid labels + this "
                   "term; docs/E3D_METHOD.md §4c, §4d).")

with st.expander("Within a bond type: what a bond energy knows beyond its type"):
    within_series = st.selectbox("Series", names, key="bde_within_series",
                                 help="its miss against the chosen reference, split into one offset per bond type "
                                      "and what is left within the types (docs/E3D_METHOD.md §4j)")
    col = series_column(within_series)
    d = data.dropna(subset=[col, x_col])
    split = type_offset_split(d[x_col], d[col], d["bond_type"])
    if not split["n"]:  # every type measured has ≥ MIN_ROWS rows, so n is 0 or enough for every metric
        st.info(f"No bond type among the rows above has ≥ {WITHIN_MIN_ROWS} rows with a value: nothing to split.")
    else:
        m = st.columns(4)
        m[0].metric("per-type offsets' share of the miss", f"{100 * split['offset_share']:.0f} %",
                    help="Σ_t n_t·(mean error of type t)² / Σ error²: how much of the mean-square miss is one "
                         "constant per bond type")
        m[1].metric("MAE, offsets taken out (kcal/mol)", f"{split['offset_corrected_mae']:.1f}",
                    delta=f"{split['offset_corrected_mae'] - split['mae']:+.1f} from {split['mae']:.1f}",
                    delta_color="inverse", help="each row's type offset is the mean error of the type's other rows "
                                                "(leave one out)")
        m[2].metric("MAE of the type's mean alone (kcal/mol)", f"{split['type_mean_mae']:.1f}",
                    help="each row predicted by the mean reference value of the other rows of its type: no model")
        m[3].metric("within-type Spearman ρ", f"{split['within_rho']:.2f}",
                    help="deviations from each type's mean, model against reference, pooled over the types")
        st.dataframe(by_type(d[x_col], d[col], d["bond_type"]).round(2).rename(columns={
            "bond_type": "bond type", "n": "rows", "offset": "offset (kcal/mol)", "error_sd": "error s.d. (kcal/mol)",
            "spearman": "Spearman ρ", "offset_corrected_mae": "MAE, offset taken out (kcal/mol)",
            "type_mean_mae": "MAE of the type mean (kcal/mol)"}), hide_index=True, width="stretch")
        st.caption(f"{within_sentence(split, f'{within_series} vs {target}')}. A bond energy with its type's offset "
                   "taken out beats the type's mean only if it follows the environment within the type; both use "
                   "the reference values of the type's other rows. " + state.provenance(model_id))

with st.expander("All rows"):
    st.dataframe(state.bde_rows_shown(data), hide_index=True, width="stretch")
