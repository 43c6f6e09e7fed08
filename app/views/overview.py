"""Overview: what E3D is, the headline numbers, links to each view."""

import streamlit as st

from app import state
from e3d import verdict
from e3d.report import cell

st.title("E3D Explorer")
st.markdown(
    "**What has an interatomic potential learned about chemical bonds?** An Allegro potential writes its "
    "energy as a sum over directed edges, E = Σ e<sub>i→j</sub> + Σ μ<sub>t</sub>. With the shifts μ fixed to "
    "isolated atoms, the pair energy of a bond, D<sub>ij</sub> = −(e<sub>i→j</sub> + e<sub>j→i</sub>), is a "
    "bond energy the model was never taught — E3D (Hattori et al., arXiv 2506.07579) compares it with "
    "bond dissociation energies from experiment and from the method that labelled the training data.",
    unsafe_allow_html=True)


model_id = state.selected_model()
models = state.table("models")
if model_id and len(models):
    row = models[models["model_id"] == model_id]
    if len(row):
        r = row.iloc[0]
        st.subheader(f"Headline numbers: {model_id}")
        top, bottom = st.columns(3), st.columns(3)
        headline = f"on the {r.headline_n:.0f} headline bonds (common organic types the model saw, in its domain)"
        top[0].metric("D_ij MAE vs experiment, 298 K (kcal/mol)", cell(r.d_vs_exp298_mae),
                      help=f"E3D D_ij brought to 298 K (GFN2-xTB ZPE/thermal terms for electronic models) vs 298 K "
                           f"BDEs, {headline}")
        top[1].metric("D_ij MAE vs labels (kcal/mol)", cell(r.d_vs_relaxed_mae),
                      help=f"E3D D_ij vs the labelling method's own homolytic BDEs (relaxed fragments), {headline}")
        top[2].metric("D_ij MAE vs rigid labels (kcal/mol)", cell(r.d_vs_rigid_mae),
                      help="like with like: D_ij against the labels' BDE with both fragments frozen at the parent "
                           f"geometry, {headline}")
        bottom[0].metric("Spearman ρ vs experiment, 298 K", cell(r.d_vs_exp298_rho, 2), help=headline)
        bottom[1].metric("Entropy H (nats)", f"{r.entropy_weighted_nats:.2f}", help="count-weighted, 1 kcal/mol bins")
        bottom[2].metric("Energy on bonds f_bond", f"{r.f_bond_mean:.0%}")
        st.caption(state.provenance(model_id) + f" · model BDEs: {r.bde_quantity}; compared at 298 K with "
                   f"experiment (GFN2-xTB harmonic ZPE/thermal terms added to electronic BDEs). Above: {headline}; "
                   f"over all {r.bde_n:.0f} experimental bonds, bond types it never saw included, D_ij vs "
                   f"experiment (298 K) MAE {r.bde_298_mae_vs_exp:.1f} kcal/mol, ρ {r.bde_298_spearman_vs_exp:.2f} "
                   "(BDE vs literature page)")

        st.subheader(f"Where emergence holds for {model_id}")
        found = verdict.findings(r, verdict.seed_sigma_of(model_id, state.seed_sigma()))
        st.dataframe(found[["finding", "verdict", "measured", "bond-type fit", "target", "note", "question"]],
                     hide_index=True, width="stretch",
                     column_config={"measured": st.column_config.TextColumn("measured (kcal/mol)"),
                                    "bond-type fit": st.column_config.TextColumn(
                                        "bond-type fit (kcal/mol)",
                                        help="the labels' bond-additive fit, one energy per bond type, "
                                             "against the same reference")})
        st.caption(f"On the {r.headline_n:.0f} headline bonds (common organic types the model saw, in its domain). "
                   "**holds**: meets the emergence issue's target; **partly**: better than one energy per bond type "
                   "(the labels' bond-additive fit) on both MAE and Spearman ρ — it knows more than the bond type; "
                   "**does not**: neither (docs/E3D_METHOD.md §4g).")
else:
    st.warning("No precomputed results found: run `python -m e3d precompute`.")

st.subheader("Views")
cols = st.columns(3)
cols[0].page_link("views/explorer.py", label="Molecule explorer: 3D bonds coloured by D_ij")
cols[1].page_link("views/bde.py", label="Learned BDE vs literature")
cols[2].page_link("views/bond_types.py", label="Bond-type distributions and entropy")
cols[0].page_link("views/datasets.py", label="Training datasets: scaling and reactivity")
cols[1].page_link("views/upload.py", label="Upload your own molecules")
cols[2].page_link("views/compare.py", label="Compare two models on one molecule")
with st.expander("The method: every definition, formula and unit (docs/E3D_METHOD.md)"):
    st.markdown(state.method_doc())
st.caption("All energies in kcal/mol unless marked.")
