"""E3D Explorer dashboard: ``streamlit run app/main.py``.

Browses the precomputed results of the shipped models (hosted demo) and computes uploaded
molecules live on the CPU.  Pages are thin views over the ``e3d`` package.
"""

import os
import sys

# A hosted demo runs `streamlit run app/main.py` in a plain checkout (no `pip install -e .`), and
# Streamlit puts only app/ on sys.path: the repository root makes `e3d` and `app` importable there.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app import state  # noqa: E402

st.set_page_config(page_title="E3D Explorer", layout="wide")  # default favicon: served locally

PAGES = {
    "overview": st.Page("views/overview.py", title="Overview", default=True),
    "explorer": st.Page("views/explorer.py", title="Molecule explorer"),
    "compare": st.Page("views/compare.py", title="Compare two models"),
    "bde": st.Page("views/bde.py", title="BDE vs literature"),
    "bondtypes": st.Page("views/bond_types.py", title="Bond types"),
    "datasets": st.Page("views/datasets.py", title="Training datasets"),
    "upload": st.Page("views/upload.py", title="Upload"),
}

state.warm_up()  # once per server: model and first molecule in the background
state.model_picker()  # in the entry point: the choice persists across pages
st.navigation(list(PAGES.values())).run()
