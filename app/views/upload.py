"""Upload: SMILES or molecule files, computed live on the CPU with the selected model."""

import pandas as pd
import streamlit as st

import e3d
from app import state
from e3d.errors import E3DError
from e3d.export import sdf_with_energies
from e3d.molecule import MOLECULE_FILE_TYPES, TABLE_FILE_TYPES

st.title("Upload your molecules")
model_id = state.selected_model()
if not model_id:
    st.stop()
model = state.model(model_id)
st.caption(f"Computed live on the CPU with {model_id}; elements it knows: {', '.join(model.usable_type_names)}; "
           f"at most {state.MAX_UPLOAD_ATOMS} atoms per molecule. Files are parsed as text, never executed.")

with st.form("upload_form"):
    smiles_text = st.text_area("SMILES (one per line, optional name after a space)", placeholder="CCO ethanol")
    # no type= filter: the uploader's own refusal came as a second, different message (and as an
    # exception in the server); the library names an unsupported type with the types it reads
    files = st.file_uploader("…or molecule files (" + ", ".join(MOLECULE_FILE_TYPES + TABLE_FILE_TYPES) + ")",
                             accept_multiple_files=True,
                             help="xyz (bonds perceived from 3D), sdf/mol (multi-record), pdb, csv/smi of SMILES")
    c1, c2 = st.columns(2)
    charge = c1.number_input("Total charge (blank: from the structure; 0 for xyz)", value=None, step=1, format="%d")
    mult = c2.number_input("Spin multiplicity (blank: from the structure)", value=None, min_value=1, step=1, format="%d")
    submitted = st.form_submit_button("Compute bond energies", type="primary")

if submitted:
    mols, errors = [], []
    kwargs = dict(charge=None if charge is None else int(charge), multiplicity=None if mult is None else int(mult),
                  max_atoms=state.MAX_UPLOAD_ATOMS)
    if smiles_text.strip():
        mols += e3d.molecules_from_bytes(smiles_text.encode(), "typed.smi", **kwargs,
                                         on_error=lambda name, exc: errors.append(state.error_message(exc)))
    for f in files or []:
        try:  # a bad row of a table file is named with its file
            mols += e3d.molecules_from_bytes(f.getvalue(), f.name, **kwargs, on_error=lambda name, exc, f=f: errors.append(
                f"{f.name}, {state.error_message(exc)}"))
        except E3DError as exc:
            errors.append(state.error_message(exc))
    added = 0
    for mol in mols:
        try:
            e3d.validate(mol, model.usable_type_names, state.MAX_UPLOAD_ATOMS)
            block = state.molblock(mol)
            pairs, energy, residual = state.live_pairs(block, mol.label, mol.charge, mol.multiplicity, model_id)
        except E3DError as exc:
            errors.append(state.error_message(exc))
            continue
        for note in (model.extrapolation_note(mol.n_heavy_atoms, mol.label), e3d.molecule.charge_note(mol.label, mol.charge)):
            if note:
                st.warning(note)
        state.uploads().append({"name": mol.label, "smiles": mol.smiles, "molblock": block, "pairs": pairs,
                                "energy": energy, "residual": residual, "charge": mol.charge,
                                "multiplicity": mol.multiplicity, "model_id": model_id, "molecule": mol})
        added += 1
    for msg in errors:
        st.error(msg)
    if added:
        st.success(f"Computed {added} molecule(s). Open them in the Molecule explorer under ‘My molecules’.")
    elif not errors:
        st.warning("Nothing to compute: type a SMILES or choose a file.")

ups = [u for u in state.uploads() if u["model_id"] == model_id]
if ups:
    st.subheader("Your molecules")
    summary = pd.DataFrame([{"molecule": u["name"], "SMILES": u["smiles"], "atoms": u["molecule"].n_atoms,
                             "charge": u["charge"], "multiplicity": u["multiplicity"],
                             "weakest bond": (lambda b: f"{b.bond} ({b.bond_type}) {b.D_ij:.1f} kcal/mol")(
                                 e3d.pairs.bonds_weakest_first(u["pairs"]).iloc[0])
                             if u["pairs"]["bonded"].any() else "—",
                             "E_total (eV)": round(u["energy"], 4),
                             "sum-rule residual (eV)": f"{u['residual']:.1e}"}
                            for u in ups])
    st.dataframe(summary, hide_index=True, width="stretch")
    st.caption(state.provenance(model_id))
    all_pairs = pd.concat([u["pairs"].assign(molecule=u["name"], smiles=u["smiles"], model=model_id) for u in ups],
                          ignore_index=True)
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download pairs (CSV)", all_pairs.to_csv(index=False), "e3d_pairs.csv", "text/csv")
    c2.download_button("Download SDF with energies", sdf_with_energies(
        (u["molecule"], u["pairs"], u["energy"], u["residual"], model_id) for u in ups), "e3d_molecules.sdf",
        "chemical/x-mdl-sdfile")
    if c3.button("Clear my molecules"):
        st.session_state[state.UPLOADS_KEY] = [u for u in state.uploads() if u["model_id"] != model_id]
        st.rerun()
    st.page_link("views/explorer.py", label="Open in the Molecule explorer")
