"""Two models, one molecule: both 3D views on one colour scale and D_ij per bond side by side."""

import streamlit as st

import e3d
from app import state
from app.viewer import FIXED_RANGE, colour_range, show_molecule, view_data
from e3d.errors import E3DError
from e3d.pairs import compare_bonds

st.title("Compare two models")
model_a = state.selected_model()
others = [m for m in state.model_ids() if m != model_a]
if not model_a or not others:
    st.warning("Two shipped models are needed for a comparison.")
    st.stop()
model_b = st.selectbox("Second model", others, key="compare_model_b")
source = st.radio("Molecule", ["Enter SMILES", "Uploaded molecule"], horizontal=True, key="compare_source")
if source == "Uploaded molecule":
    ups = state.uploads()
    if not ups:
        st.info("No uploaded molecules yet: use the Upload page.")
        st.stop()
    pick = st.selectbox("Uploaded molecule", range(len(ups)), format_func=lambda k: ups[k]["name"], key="compare_up")
    mol = ups[pick]["molecule"]
    name = mol.label
else:
    name = st.text_input("SMILES", value="CC(=O)OC", key="compare_smiles")
    try:
        mol = e3d.from_smiles(name, max_atoms=state.MAX_UPLOAD_ATOMS)
    except E3DError as exc:
        st.error(state.error_message(exc))
        st.stop()
try:
    for mid in (model_a, model_b):
        e3d.validate(mol, state.model(mid).usable_type_names, state.MAX_UPLOAD_ATOMS)
except E3DError as exc:
    st.error(state.error_message(exc))
    st.stop()
note = e3d.molecule.charge_note(name, mol.charge)
if note:
    st.warning(note)
block = state.molblock(mol)
pairs = {mid: state.live_pairs(block, name, mol.charge, mol.multiplicity, mid)[0] for mid in (model_a, model_b)}
table = compare_bonds(pairs[model_a], pairs[model_b])
fixed = st.toggle("Fixed colour scale (0–200 kcal/mol)", value=False, key="compare_fixed",
                  help="the same colours for the same bond energy on every molecule; off: a scale shared by the "
                       "two models, fitted to this molecule")
value_range = FIXED_RANGE if fixed else colour_range(table[["D_a", "D_b"]].to_numpy().ravel())
for col, mid, side in zip(st.columns(2), (model_a, model_b), ("a", "b")):
    with col:
        st.markdown(f"**{mid}**")
        show_molecule(view_data(block, pairs[mid], value_range=value_range, height=380), key=f"compare_view_{side}")
        st.caption(state.provenance(mid))
st.markdown("**Bond energies, largest difference first** (same geometry for both models)")
st.dataframe(table.rename(columns={"bond": "bond", "bond_type": "type", "bond_label": "type (hybridisation)",
                                   "distance": "r (Å)", "D_a": f"D_ij {model_a} (kcal/mol)",
                                   "D_b": f"D_ij {model_b} (kcal/mol)", "delta_D": "ΔD = second − first (kcal/mol)"}),
             hide_index=True, width="stretch",
             column_config={"r (Å)": st.column_config.NumberColumn(format="%.3f")} |
             {c: st.column_config.NumberColumn(format="%.1f") for c in
              (f"D_ij {model_a} (kcal/mol)", f"D_ij {model_b} (kcal/mol)", "ΔD = second − first (kcal/mol)")})
st.caption(f"Geometry: RDKit ETKDG + MMFF94 (or the uploaded coordinates), the same for both models; D_ij = −ε_ij. "
           f"Mean |ΔD| {table['delta_D'].abs().mean():.1f} kcal/mol over {len(table)} bonds.")
