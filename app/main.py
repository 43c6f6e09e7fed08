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

st.set_page_config(page_title="E3D Explorer", page_icon="⚛", layout="wide")

PAGES = {
    "overview": st.Page("pages/overview.py", title="Overview", icon="🏠", default=True),
    "explorer": st.Page("pages/explorer.py", title="Molecule explorer", icon="🧪"),
    "bde": st.Page("pages/bde.py", title="BDE vs literature", icon="📈"),
    "bondtypes": st.Page("pages/bond_types.py", title="Bond types", icon="📊"),
    "datasets": st.Page("pages/datasets.py", title="Training datasets", icon="🗂"),
    "upload": st.Page("pages/upload.py", title="Upload", icon="⬆"),
}

st.navigation(list(PAGES.values())).run()
