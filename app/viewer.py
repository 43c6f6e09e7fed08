"""3D molecule view: 3Dmol.js in an iframe, every bond a cylinder coloured by its energy.

3Dmol.js is served locally from app/static/ (installed by `make` from the npm package
`3dmol`); only if that file is missing does the page fall back to the CDN, and it says so.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd
from plotly.colors import sample_colorscale

from e3d.units import KCAL_PER_EV

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
LOCAL_3DMOL = "/app/static/3Dmol-min.js"
CDN_3DMOL = "https://cdnjs.cloudflare.com/ajax/libs/3Dmol/2.5.5/3Dmol-min.js"
BOND_SCALE = "Viridis"  # sequential: bond energies D_ij are positive
PAIR_SCALE = "RdBu"     # diverging, centred on 0, for non-bonded pairs


def has_local_3dmol() -> bool:
    return os.path.exists(os.path.join(STATIC_DIR, "3Dmol-min.js"))


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


def legend_html(lo: float, hi: float, scale: str, title: str) -> str:
    stops = ", ".join(sample_colorscale(scale, list(np.linspace(0, 1, 9)), colortype="rgb"))
    return (f'<div class="legend"><div class="title">{title}</div>'
            f'<div class="bar" style="background: linear-gradient(to right, {stops})"></div>'
            f'<div class="ticks"><span>{lo:g}</span><span>{(lo + hi) / 2:g}</span><span>{hi:g}</span></div></div>')


def _cylinders(pairs: pd.DataFrame, positions: np.ndarray, mode: str, show_nonbonded: bool,
               highlight: Optional[Tuple[int, int]], lo: float, hi: float) -> List[Dict]:
    shapes = []
    bonded = pairs[pairs["bonded"]]
    for row in bonded.itertuples():
        a, b = positions[row.i], positions[row.j]
        sel = highlight is not None and {row.i, row.j} == set(highlight)
        radius = 0.2 if sel else 0.11
        if mode == "directed":  # each half coloured by −2·e_{i→j} (kcal/mol): equals D_ij when symmetric
            mid = (a + b) / 2
            for start, end, e in ((a, mid, row.e_ij), (b, mid, row.e_ji)):
                shapes.append({"start": start, "end": end, "radius": radius,
                               "color": colour(-2 * e * KCAL_PER_EV, lo, hi), "dashed": False})
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


def molecule_html(molblock: str, pairs: pd.DataFrame, mode: str = "symmetric", show_nonbonded: bool = False,
                  labels: bool = False, highlight: Optional[Tuple[int, int]] = None,
                  value_range: Optional[Tuple[float, float]] = None, height: int = 460) -> str:
    """Self-contained HTML page for st.iframe (data embedded as JSON, nothing user-written is raw HTML)."""
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
    script_src = LOCAL_3DMOL if has_local_3dmol() else CDN_3DMOL
    note = "" if has_local_3dmol() else '<div class="note">3Dmol.js from CDN (local copy missing: run make install)</div>'
    title = "D<sub>ij</sub> (kcal/mol)" + (" · halves: −2·e<sub>i→j</sub>" if mode == "directed" else "")
    data = json.dumps({"molblock": molblock, "shapes": shapes, "labels": label_list})
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<style>
body {{ margin: 0; font-family: sans-serif; }}
#viewer {{ width: 100%; height: {height}px; position: relative; }}
.legend {{ font-size: 12px; margin: 6px 8px; }} .legend .bar {{ height: 12px; border-radius: 3px; }}
.legend .ticks {{ display: flex; justify-content: space-between; }} .note {{ font-size: 11px; color: #b45309; }}
</style>
<script src="{script_src}"></script></head><body>
<div id="viewer" data-testid="mol3d"></div>
{legend_html(lo, hi, BOND_SCALE, title)}{note}
<script>
const data = {data};
const viewer = $3Dmol.createViewer(document.getElementById("viewer"), {{backgroundColor: "white"}});
viewer.addModel(data.molblock, "sdf");
viewer.setStyle({{}}, {{sphere: {{scale: 0.22, colorscheme: "Jmol"}}}});
for (const s of data.shapes) {{
  viewer.addCylinder({{start: s.start, end: s.end, radius: s.radius, color: s.color, fromCap: 1, toCap: 1,
                      dashed: s.dashed, dashLength: 0.15, gapLength: 0.15}});
}}
for (const l of data.labels) {{
  viewer.addLabel(l.text, {{position: l.position, fontSize: 11, fontColor: "black", backgroundColor: "white",
                           backgroundOpacity: 0.7, inFront: true}});
}}
viewer.zoomTo(); viewer.render();
window.e3dRendered = true;
</script></body></html>"""
