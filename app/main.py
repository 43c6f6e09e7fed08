"""E3D Explorer dashboard: ``streamlit run app/main.py``.

Browses the precomputed results of the shipped models (hosted demo) and computes uploaded
molecules live on the CPU.  Pages are thin views over the ``e3d`` package.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

st.set_page_config(page_title="E3D Explorer", layout="wide")  # default favicon: served locally

PAGES = {
    "overview": st.Page("pages/overview.py", title="Overview", default=True),
    "explorer": st.Page("pages/explorer.py", title="Molecule explorer"),
    "compare": st.Page("pages/compare.py", title="Compare two models"),
    "bde": st.Page("pages/bde.py", title="BDE vs literature"),
    "bondtypes": st.Page("pages/bond_types.py", title="Bond types"),
    "datasets": st.Page("pages/datasets.py", title="Training datasets"),
    "upload": st.Page("pages/upload.py", title="Upload"),
}

st.navigation(list(PAGES.values())).run()
