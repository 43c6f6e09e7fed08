"""E3D Explorer dashboard (first page: bond energies of one molecule).

Run with ``streamlit run app/main.py``.  The full multipage dashboard (3D views, BDE
parity, datasets) builds on this; every number shows the model and level of theory.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import streamlit as st  # noqa: E402

import e3d  # noqa: E402
from e3d.errors import E3DError  # noqa: E402

st.set_page_config(page_title="E3D Explorer", page_icon="⚛", layout="wide")


@st.cache_resource(show_spinner="Loading model…")
def get_model(path=None):
    return e3d.load_model(path, device="cpu")


@st.cache_data(show_spinner=False, max_entries=256)
def bonds_for_smiles(smiles: str, model_path: str):
    model = get_model(model_path)
    mol = e3d.from_smiles(smiles, max_atoms=250)
    (result,) = e3d.edge_energies(model, [mol])
    return e3d.pair_table(result), result.total_energy, result.residual, mol.n_atoms


st.title("E3D Explorer")
st.caption("What has an Allegro interatomic potential learned about chemical bonds? "
           "Per-edge energies of the model, summed over both directions of a bonded pair, "
           "give a bond energy D_ij = −(e_i→j + e_j→i).")

try:
    model_path = e3d.default_model_path()
    model = get_model(model_path)
except E3DError as exc:
    st.error(f"No model available: {exc}")
    st.stop()

card = model.card
st.sidebar.header("Model")
st.sidebar.write(f"**{model.name}**")
st.sidebar.write(f"Dataset: {card.get('dataset', 'unknown')}")
st.sidebar.write(f"Level of theory: {card.get('level_of_theory', 'unknown')}")
st.sidebar.write(f"Elements: {', '.join(model.usable_type_names)}; r_max {model.r_max:g} Å")

smiles = st.text_input("SMILES", value="CCO", help="e.g. CCO, c1ccccc1O, CC(=O)N")
if smiles:
    try:
        pairs, energy, residual, n_atoms = bonds_for_smiles(smiles, model_path)
    except E3DError as exc:
        st.error(str(exc))
    else:
        bonds = pairs[pairs["bonded"]].sort_values("D_ij")
        st.subheader("Bonds, weakest first")
        st.caption(f"D_ij in kcal/mol from model {model.name} ({card.get('level_of_theory', 'unknown level')}); "
                   f"{n_atoms} atoms; E_total = {energy:.4f} eV; sum-rule residual {residual:.1e} eV")
        st.dataframe(bonds[["i", "j", "bond_type", "bond_label", "distance", "eps_ij", "D_ij"]]
                     .rename(columns={"distance": "r (Å)", "eps_ij": "ε_ij (eV)", "D_ij": "D_ij (kcal/mol)"}),
                     hide_index=True, width="stretch")
