"""3D molecule view: one persistent 3Dmol.js viewer, every bond a cylinder coloured by its energy.

The viewer is a Streamlit v2 component (app/viewer.js) that survives reruns: a new molecule
only replaces the model and cylinders, so the WebGL context, shaders and the 3Dmol.js library
are set up once per page, and a remount (Streamlit's, when elements above it change) adopts a
pooled viewer instead of opening another (this is what keeps SMILES → view under a second, bench/app_latency.py).
3Dmol.js 2.5.5 is vendored in app/static/ (BSD-3-Clause, app/static/3Dmol-LICENSE.txt) and served locally;
only if that file is missing does the viewer fall back to the CDN, and it says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
from plotly.colors import sample_colorscale

from e3d.pairs import half_bond_energies

BOND_SCALE = "Viridis"  # sequential: bond energies D_ij are positive
PAIR_SCALE = "RdBu"     # diverging, centred on 0, for non-bonded pairs
FIXED_RANGE = (0.0, 200.0)  # kcal/mol: one colour scale for every molecule (the explorer's and compare's option)


def colour(value: float, lo: float, hi: float, scale: str = BOND_SCALE) -> str:
    t = 0.5 if hi <= lo else float(np.clip((value - lo) / (hi - lo), 0.0, 1.0))
    return sample_colorscale(scale, [t], colortype="rgb")[0]


def colour_range(values: np.ndarray) -> Tuple[float, float]:
    """A robust shared range (5th–95th percentile, widened to whole 10s of kcal/mol)."""
    if len(values) == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [5, 95])
    lo, hi = 10 * np.floor(lo / 10), 10 * np.ceil(hi / 10)
    return (float(lo), float(hi)) if hi > lo else (float(lo) - 10, float(hi) + 10)


def _cylinders(pairs: pd.DataFrame, positions: np.ndarray, mode: str, show_nonbonded: bool,
               highlight: Optional[Tuple[int, int]], lo: float, hi: float) -> List[Dict]:
    shapes = []
    bonded = pairs[pairs["bonded"]]
    for row in bonded.itertuples():
        a, b = positions[row.i], positions[row.j]
        sel = highlight is not None and {row.i, row.j} == set(highlight)
        radius = 0.2 if sel else 0.11
        if mode == "directed":  # each half by its directed edge (e3d.pairs.half_bond_energies)
            mid = (a + b) / 2
            for start, end, d in zip((a, b), (mid, mid), half_bond_energies(row.e_ij, row.e_ji)):
                shapes.append({"start": start, "end": end, "radius": radius,
                               "color": colour(d, lo, hi), "dashed": False})
        else:
            shapes.append({"start": a, "end": b, "radius": radius, "color": colour(row.D_ij, lo, hi), "dashed": False})
    if show_nonbonded:
        nb = pairs[~pairs["bonded"]]
        lim = max(float(nb["D_ij"].abs().max()), 1.0) if len(nb) else 1.0
        for row in nb.itertuples():
            shapes.append({"start": positions[row.i], "end": positions[row.j], "radius": 0.03,
                           "color": colour(row.D_ij, -lim, lim, PAIR_SCALE), "dashed": True})
    for s in shapes:
        s["start"] = dict(zip("xyz", map(float, s["start"])))
        s["end"] = dict(zip("xyz", map(float, s["end"])))
    return shapes


def view_data(molblock: str, pairs: pd.DataFrame, mode: str = "symmetric", show_nonbonded: bool = False,
              labels: bool = False, highlight: Optional[Tuple[int, int]] = None,
              value_range: Optional[Tuple[float, float]] = None, height: int = 460) -> Dict[str, object]:
    """Everything the viewer draws, as JSON-able data (nothing user-written becomes HTML)."""
    from rdkit import Chem

    mol = Chem.MolFromMolBlock(molblock, removeHs=False, sanitize=False)
    positions = mol.GetConformer().GetPositions()
    bonded = pairs[pairs["bonded"]]
    lo, hi = value_range or colour_range(bonded["D_ij"].to_numpy())
    shapes = _cylinders(pairs, positions, mode, show_nonbonded, highlight, lo, hi)
    label_list = []
    if labels or highlight is not None:
        for row in bonded.itertuples():
            if labels or {row.i, row.j} == set(highlight or ()):
                mid = (positions[row.i] + positions[row.j]) / 2
                label_list.append({"text": f"{row.D_ij:.0f}", "position": dict(zip("xyz", map(float, mid)))})
    title = "D_ij (kcal/mol)" + (" · halves: −2·e_i→j" if mode == "directed" else "")
    legend = {"title": title, "stops": sample_colorscale(BOND_SCALE, list(np.linspace(0, 1, 9)), colortype="rgb"),
              "ticks": [f"{lo:g}", f"{(lo + hi) / 2:g}", f"{hi:g}"]}
    data = {"molblock": molblock, "shapes": shapes, "labels": label_list, "legend": legend, "height": height}
    data["token"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
    return data


_HTML = ('<div class="e3d-viewer" data-testid="mol3d" style="width: 100%; position: relative;"></div>'
         '<div class="e3d-legend"><div class="e3d-legend-title"></div><div class="e3d-legend-bar"></div>'
         '<div class="e3d-legend-ticks"><span></span><span></span><span></span></div></div>'
         '<div class="e3d-note"></div>')
_CSS = """
.e3d-legend { font-size: 12px; margin: 6px 8px; } .e3d-legend-bar { height: 12px; border-radius: 3px; }
.e3d-legend-ticks { display: flex; justify-content: space-between; } .e3d-note { font-size: 11px; color: #b45309; }
"""
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "viewer.js")) as _fh:
    _JS = _fh.read()
_component = None


def show_molecule(data: Dict[str, object], key: str) -> None:
    """Mount (or update) the persistent 3D viewer with ``view_data`` output."""
    global _component
    import streamlit as st

    if _component is None:
        _component = st.components.v2.component("e3d_molecule_viewer", html=_HTML, css=_CSS, js=_JS,
                                                 isolate_styles=False)
    _component(data=data, key=key, height="content")
