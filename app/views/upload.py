"""Upload: molecules (SMILES, files) and a table of bonds with BDEs, computed live on the CPU with the model."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import e3d
from app import state
from e3d.bde import bde_metrics, read_at_labeller_minimum
from e3d.bde_check import check_bde_table, read_bde_csv
from e3d.errors import E3DError, InputError
from e3d.references import live_reference_for
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
        try:  # a bad row of a table file or a bad SDF record is named with its file (once), the others are kept
            mols += e3d.molecules_from_bytes(f.getvalue(), f.name, **kwargs, on_error=lambda name, exc, f=f: errors.append(
                state.in_file(f.name, state.error_message(exc))))
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

st.divider()
st.subheader("Your own bonds: learned BDEs against your values")
live_ref = live_reference_for(model)
st.caption(f"A CSV with columns label, parent_smiles, fragment_a, fragment_b and, optionally, bde_kcal_mol (your "
           f"298 K values, e.g. experiment); at most {state.MAX_UPLOAD_BONDS} rows, each computed live "
           "(parent and fragments relaxed with the model; ZPE/thermal terms from GFN2-xTB). "
           + (f"The labelling method's own BDEs ({live_ref}) are computed beside them." if live_ref else
              f"The labelling method ({model.card.get('level_of_theory', '?')}) is too slow to run live: "
              "`python -m e3d bde TABLE.csv -o OUT.csv` adds its BDEs."))
with st.form("bde_upload_form"):
    bde_file = st.file_uploader("BDE table (.csv)", key="bde_file",
                                help="e.g. ethane C-C,CC,[CH3],[CH3],90.1 — fragments as radical SMILES")
    bde_submitted = st.form_submit_button("Compute learned BDEs", type="primary")

if bde_submitted:
    if bde_file is None:
        st.warning("Nothing to compute: choose a CSV file.")
    else:
        try:
            table = read_bde_csv(bde_file.getvalue(), bde_file.name)
            if len(table) > state.MAX_UPLOAD_BONDS:
                raise InputError(f"{bde_file.name}: {len(table)} rows, more than the {state.MAX_UPLOAD_BONDS} the "
                                 "app computes live — `python -m e3d bde` on your own machine takes any number")
            with st.spinner(f"Computing {len(table)} bond(s) with {model_id}…"):
                checked = check_bde_table(model, table, reference=live_ref)
            st.session_state[state.BDE_UPLOAD_KEY] = {"model_id": model_id, "name": bde_file.name, "rows": checked}
        except E3DError as exc:
            st.session_state.pop(state.BDE_UPLOAD_KEY, None)  # not the previous table's results under this message
            st.error(state.error_message(exc))

done = st.session_state.get(state.BDE_UPLOAD_KEY)
if done and done["model_id"] == model_id:
    rows = done["rows"]
    # failed rows; rows with a note (values left empty, a fragment read at its GFN2-xTB minimum); rows whose
    # parent is read at the GFN2-xTB minimum
    for column, show in (("error", st.error), ("note", st.warning), ("geometry", st.info)):
        if column not in rows:
            continue
        picked = read_at_labeller_minimum(rows) if column == "geometry" else rows[column].notna()
        for _, row in rows[picked].iterrows():
            show(f"{done['name']}, {row.get('label', row['parent_smiles'])}: {row[column]}")
    quantity = rows["quantity"].iloc[0]
    metrics = bde_metrics(rows, quantity, rows["headline"])
    has_values = "bde_kcal_mol" in rows and rows["bde_kcal_mol"].notna().any()
    if has_values and rows["headline"].sum() >= 2:
        d = rows[rows["headline"]].dropna(subset=["bde_kcal_mol", "e3d_bde_298_kcal_mol"])
        lo, hi = float(d[["bde_kcal_mol", "e3d_bde_298_kcal_mol"]].min().min()) - 10, \
            float(d[["bde_kcal_mol", "e3d_bde_298_kcal_mol"]].max().max()) + 10
        fig = go.Figure()
        fig.add_scatter(x=d["bde_kcal_mol"], y=d["e3d_bde_298_kcal_mol"], mode="markers", name="E3D D_ij (298 K)",
                        customdata=d[["label", "parent_smiles"]].to_numpy() if "label" in d else None,
                        hovertemplate="%{customdata[0]} (%{customdata[1]})<br>your value %{x:.1f} kcal/mol<br>"
                                      "D_ij %{y:.1f} kcal/mol<extra></extra>" if "label" in d else None)
        fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dash", color="grey"), name="y = x")
        fig.update_layout(xaxis=dict(title="your BDE, 298 K (kcal/mol)", range=[lo, hi]),
                          yaxis=dict(title="E3D D_ij + ZPE/thermal term, 298 K (kcal/mol)", range=[lo, hi]),
                          height=460, legend=dict(orientation="h", y=-0.2))
        st.plotly_chart(fig, width="stretch")
    if len(metrics):
        st.markdown(f"**Metrics** (kcal/mol) on the {int(rows['headline'].sum())} headline row(s): common organic "
                    "bond types the model saw, parents within its training domain")
        st.dataframe(metrics.round(2).rename(columns=state.METRIC_HEADERS), hide_index=True, width="stretch")
    elif not rows["error"].all():
        st.info("No metrics: they need ≥ 2 headline rows with a value to compare with (a bde_kcal_mol column"
                + (", or the labelling method's BDEs" if live_ref else "") + ").")
    st.dataframe(state.bde_rows_shown(rows, {"bde_kcal_mol": "your value, 298 K (kcal/mol)"}), hide_index=True,
                 width="stretch")
    st.caption(f"Model bond energies as learned: {quantity}; against your values (298 K) with the GFN2-xTB "
               "ZPE/thermal term added (docs/E3D_METHOD.md §9). " + state.provenance(model_id))
    st.download_button("Download learned BDEs (CSV)", rows.to_csv(index=False), "e3d_bde.csv", "text/csv")
