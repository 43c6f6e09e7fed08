"""Molecule explorer: a molecule in 3D with every bond coloured by D_ij, its bonds weakest first,
and the stretch scan of the selected bond."""

import plotly.graph_objects as go
import streamlit as st
from rdkit import Chem

import e3d
from app import state
from app.viewer import FIXED_RANGE, show_molecule, view_data
from e3d.references import live_reference_for
from e3d.bde import bond_cut_response
from e3d.errors import E3DError
from e3d.fragments import bond_cut_energies
from e3d.scan import stretch_scan

st.title("Molecule explorer")
model_id = state.selected_model()
if not model_id:
    st.stop()

sources = ["Shipped corpus", "My molecules", "Enter SMILES"]
source = st.radio("Molecule from", sources, horizontal=True, key="explorer_source")
molblock, pairs, name, charge, mult = None, None, "", 0, 1
if source == "Shipped corpus":
    mols = state.table("molecules")
    if mols.empty:
        st.warning("No precomputed corpus: run `python -m e3d precompute`.")
        st.stop()
    name = st.selectbox("Molecule", mols["molecule"], key="explorer_molecule")
    row = mols[mols["molecule"] == name].iloc[0]
    molblock = row["molblock"]
    pairs = state.for_model("pairs", model_id)
    pairs = pairs[pairs["molecule"] == name]
    if pairs.empty:
        st.info(f"{name} contains elements that {model_id} does not know.")
        st.stop()
elif source == "My molecules":
    ups = [u for u in state.uploads() if u["model_id"] == model_id]
    if not ups:
        st.info("No uploaded molecules for this model yet: use the Upload page.")
        st.page_link("views/upload.py", label="Go to Upload")
        st.stop()
    pick = st.selectbox("Molecule", range(len(ups)), format_func=lambda k: ups[k]["name"], key="explorer_upload")
    up = ups[pick]
    molblock, pairs, name, charge, mult = up["molblock"], up["pairs"], up["name"], up["charge"], up["multiplicity"]
else:
    smiles = st.text_input("SMILES", value="CCO", key="explorer_smiles")
    try:
        mol = e3d.from_smiles(smiles, max_atoms=state.MAX_UPLOAD_ATOMS)
        e3d.validate(mol, state.model(model_id).usable_type_names, state.MAX_UPLOAD_ATOMS)
        molblock, name = state.molblock(mol), smiles
        pairs, energy, residual = state.live_pairs(molblock, name, mol.charge, mol.multiplicity, model_id)
        charge, mult = mol.charge, mol.multiplicity
    except E3DError as exc:
        st.error(state.error_message(exc))
        st.stop()
note = state.model(model_id).extrapolation_note(Chem.MolFromMolBlock(molblock).GetNumHeavyAtoms(), name)
if note:
    st.warning(note)
if e3d.molecule.charge_note(name, charge):
    st.warning(e3d.molecule.charge_note(name, charge))

c1, c2, c3, c4, c5 = st.columns(5)
show_nb = c1.toggle("Non-bonded pairs", value=False, help="dashed, diverging colours, centred on 0")
fixed = c5.toggle("Fixed colour scale", value=False, key="explorer_fixed",
                  help="0–200 kcal/mol for every molecule, so that colours compare across molecules and models; "
                       "off: fitted to this molecule's bonds")
directed = c2.toggle("Directed energies", value=False, help="each half of a bond coloured by −2·e_i→j")
labels = c3.toggle("Labels", value=False)
with_cut = c4.toggle("Fragment-cut energies", value=False, key="explorer_cut",
                     help="−Σ ε_ab over every pair across the bond (the bond plus the non-bonded pairs it cuts): "
                          "the like-with-like partner of a rigid BDE; ring bonds have none")

bonds = e3d.pairs.bonds_weakest_first(pairs)
# a sum of models (a GFN2-xTB model plus a Δ model): each part's share of D_ij; a seed mean: each seed's and their σ
parts = e3d.pairs.part_headers(pairs)
columns = ["bond", "D_ij", *parts, "bond_type", "bond_label", "distance"]
if with_cut:
    bonds["cut"] = bond_cut_energies(Chem.MolFromMolBlock(molblock, removeHs=False), bonds, pairs)
    columns.insert(2, "cut")
view = bonds[columns].rename(
    columns={"D_ij": "D_ij (kcal/mol)", "cut": "fragment cut (kcal/mol)", "bond_type": "type",
             "bond_label": "type (hybridisation)", "distance": "r (Å)", **parts})
left, right = st.columns([3, 2])
with right:
    st.markdown("**Bonds, weakest first** (select one)")
    event = st.dataframe(view, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=f"bonds_{model_id}_{name}", width="stretch", height=380,
                         column_config={"r (Å)": st.column_config.NumberColumn(format="%.3f"),
                                        "D_ij (kcal/mol)": st.column_config.NumberColumn(format="%.1f"),
                                        "fragment cut (kcal/mol)": st.column_config.NumberColumn(format="%.1f"),
                                        **{v: st.column_config.NumberColumn(format="%.1f") for v in parts.values()}})
    rows = event.selection.rows if event is not None else []
    selected = (int(bonds.loc[rows[0], "i"]), int(bonds.loc[rows[0], "j"])) if rows else None
    f_bond = e3d.decomposability(pairs)
    st.caption(f"f_bond = Σ_bonded ε / Σ_all ε = {f_bond:.2f} over {len(bonds)} bonds "
               "(above 1: the non-bonded pairs are net repulsive). " + state.provenance(model_id))
with left:
    show_molecule(view_data(molblock, pairs, mode="directed" if directed else "symmetric",
                            show_nonbonded=show_nb, labels=labels, highlight=selected,
                            value_range=FIXED_RANGE if fixed else None), key="explorer_view")
    if show_nb:
        st.caption("Dashed: non-bonded pairs inside r_max, coloured by −ε_ij on a red–blue scale centred on 0 "
                   "(blue: attractive, red: repulsive; symmetric about the largest |ε| of this molecule).")


@st.cache_data(show_spinner="Scanning the bond…", max_entries=128)
def scan(molblock: str, i: int, j: int, model_id: str, charge: int, mult: int, with_reference: bool):
    model = state.model(model_id)
    return stretch_scan(model, state.from_molblock(molblock, charge, mult), i, j, n=25,
                        reference=live_reference_for(model) if with_reference else None)


@st.cache_data(show_spinner="Cutting the bond…", max_entries=128)
def cut(molblock: str, i: int, j: int, model_id: str, charge: int, mult: int):
    return bond_cut_response(state.model(model_id), state.from_molblock(molblock, charge, mult), i, j)


def show_cut_response(r, bond_name: str) -> None:
    """The error budget's locality term for one bond: which pairs of the fragments take its energy."""
    st.markdown(f"**Cutting {bond_name}** (kcal/mol)")
    m = st.columns(5)
    m[0].metric("D_ij", f"{r.d_ij:.1f}", help="−ε_ij of the bond (kcal/mol)")
    m[1].metric("D_cut", f"{r.d_cut:.1f}", help="fragment cut: −Σ ε_ab over every pair across the bond (kcal/mol)")
    m[2].metric("rigid BDE (model)", f"{r.model_rigid_bde:.1f}",
                help="E_model(A•) + E_model(B•) − E_model(AB), fragments frozen at this geometry (kcal/mol)")
    m[3].metric("ΣΔD at radical centres", f"{r.locality_at_centres:+.1f}",
                help="locality term, the part on the pairs that touch the two atoms of the cut bond (kcal/mol)")
    m[4].metric("ΣΔD elsewhere", f"{r.locality - r.locality_at_centres:+.1f}",
                help="locality term, the part on every other pair of the fragments (kcal/mol)")
    moved = r.pairs.assign(pair=e3d.pairs.pair_names(r.pairs))
    moved = moved.reindex(moved["delta_D"].abs().sort_values(ascending=False).index)
    moved = moved[moved["delta_D"].abs() >= 0.1].head(15)
    shown = moved[["pair", "bonded", "at_centre", "distance", "D_parent", "D_fragment", "delta_D"]]
    st.dataframe(shown.rename(columns={
        "bonded": "bond", "at_centre": "at a radical centre", "distance": "r (Å)",
        "D_parent": "D in the molecule (kcal/mol)", "D_fragment": "D in the rigid fragment (kcal/mol)",
        "delta_D": "ΔD (kcal/mol)"}), hide_index=True, width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.1f") for c in
                       ["D in the molecule (kcal/mol)", "D in the rigid fragment (kcal/mol)", "ΔD (kcal/mol)"]}
        | {"r (Å)": st.column_config.NumberColumn(format="%.3f")})
    st.caption(f"Cutting {bond_name}: both radicals frozen at this geometry and evaluated alone. A strictly local "
               "bond energy would leave every other pair unchanged (ΔD = 0), and D_cut would equal the model's "
               "own rigid BDE; the pairs listed (|ΔD| ≥ 0.1 kcal/mol, largest first) take up the difference, "
               "D_cut − rigid BDE = Σ ΔD (docs/E3D_METHOD.md §4c). " + state.provenance(model_id))


if selected:
    model = state.model(model_id)
    ref = live_reference_for(model)
    with_ref = st.toggle(f"Reference curve ({ref})", value=ref is not None, disabled=ref is None,
                         help="the labelling method along the same path" if ref else
                         "this model's labelling method cannot be run live here")
    s = scan(molblock, selected[0], selected[1], model_id, charge, mult, with_ref)
    fig = go.Figure()
    fig.add_scatter(x=s["r"], y=s["model_dE_kcal_mol"], name="model E_total − E_eq", mode="lines+markers")
    fig.add_scatter(x=s["r"], y=s["D_ij_kcal_mol"], name="D_ij = −ε_ij (model)", mode="lines+markers")
    if s["reference_dE_kcal_mol"].notna().any():
        fig.add_scatter(x=s["r"], y=s["reference_dE_kcal_mol"], name=f"{ref} E − E_eq", mode="lines")
    fig.add_vline(x=model.r_max, line_dash="dot", annotation_text="r_max")
    fig.update_layout(xaxis_title="bond length r (Å), rest of the molecule rigid", yaxis_title="kcal/mol",
                      height=380, margin=dict(t=30, b=40), legend=dict(orientation="h"))
    st.plotly_chart(fig, width="stretch")
    st.caption(f"Stretch scan of bond {bonds.loc[rows[0], 'bond']} of {name}. " + state.provenance(model_id))
    if st.toggle("Where the bond's energy goes when it breaks", value=False, key="explorer_cut_response",
                 help="the model's energies of the two radicals, frozen here, pair by pair against the molecule's"):
        if Chem.MolFromMolBlock(molblock, removeHs=False).GetBondBetweenAtoms(*selected).IsInRing():
            st.info("A ring bond has no two fragments: select an acyclic bond.")
        else:
            try:
                show_cut_response(cut(molblock, selected[0], selected[1], model_id, charge, mult),
                                  bonds.loc[rows[0], "bond"])
            except E3DError as exc:
                st.error(state.error_message(exc))
