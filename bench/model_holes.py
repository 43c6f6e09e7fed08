"""How far below the species' GFN2-xTB minimum a model's own relaxation lands, over the BDE table's species.

    python bench/model_holes.py MODEL [MODEL ...] [--table CSV] [--limit N]

For each model trained with forces and each species of the table (parents and fragments), the model relaxes the
species from its RDKit geometry as `e3d bde` does (`e3d.calculator.relax_with_model`) and the script prints the
drop ΔE = E_model(its minimum) − E_model(GFN2-xTB minimum) in eV: quantiles over the sound relaxations, the species
whose relaxation changed its bonds, and those more than HOLE_EV below (`e3d.bde.minimum_problem`: a hole in the
model's surface; `e3d bde` then reads the species at the GFN2-xTB minimum and says so in the `geometry` column).
"""

import argparse

import numpy as np
import pandas as pd
from rdkit import Chem

from _common import machine

from e3d.bde import HOLE_EV, MODEL_HOLE, XTB_FALLBACK, minimum_problem
from e3d.calculator import model_energy, relax_with_model
from e3d.corpus import BDE_REFERENCE
from e3d.errors import E3DError
from e3d.geometry import BOND_FACTOR, covalent_ratio
from e3d.model import load_model
from e3d.molecule import from_smiles, validate
from e3d.references import ReferenceCache, sound_minimum, xtb_minimum


def nonbonded_closest(geom):
    """The atom pair the molecule's graph does not bond that is closest relative to its covalent radii: its ratio
    distance / (r_cov,i + r_cov,j) and "ratio (A1···B2 d Å)"."""
    ratio = covalent_ratio(geom.numbers, geom.positions)
    ratio[Chem.GetAdjacencyMatrix(geom.rdmol).astype(bool)] = np.inf
    np.fill_diagonal(ratio, np.inf)
    if not np.isfinite(ratio).any():
        return np.inf, "inf (no non-bonded pair)"
    i, j = np.unravel_index(np.argmin(ratio), ratio.shape)
    d = np.linalg.norm(geom.positions[i] - geom.positions[j])
    return ratio[i, j], f"{ratio[i, j]:.2f} ({geom.symbols[i]}{i + 1}···{geom.symbols[j]}{j + 1} {d:.2f} Å)"


def drops(model, species, cache):
    rows = []
    for smi in species:
        try:
            validate(from_smiles(smi), model.usable_type_names)
        except E3DError:
            continue  # an element the model has no type for
        relaxed, labeller = relax_with_model(from_smiles(smi), model), xtb_minimum(smi, cache)
        drop = model_energy(relaxed, model) - model_energy(labeller, model) if sound_minimum(labeller) else np.nan
        rows.append({"species": smi, "drop_eV": drop, "problem": minimum_problem(model, relaxed, labeller),
                     "closest": nonbonded_closest(relaxed)[1]})
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--table", default=BDE_REFERENCE)
    ap.add_argument("--limit", type=int, default=0, help="first N species only (0: all)")
    args = ap.parse_args()
    try:  # every model first: a wrong path is named before minutes of relaxations
        models = {path: load_model(path) for path in args.models}
    except E3DError as exc:
        ap.error(str(exc))
    table = pd.read_csv(args.table)
    species = sorted(set(table.parent_smiles) | set(table.fragment_a) | set(table.fragment_b))
    species = species[:args.limit] if args.limit else species
    print(machine())
    print(f"{len(species)} species of {args.table}; hole: more than {HOLE_EV} eV below the GFN2-xTB minimum")
    cache = ReferenceCache()
    minima = {smi: xtb_minimum(smi, cache) for smi in species}
    closest = min((nonbonded_closest(g), smi) for smi, g in minima.items() if sound_minimum(g))
    print(f"closest non-bonded pair at the sound GFN2-xTB minima: {closest[0][1]} in {closest[1]}; "
          f"e3d.geometry.graph_changes calls a pair closer than {BOND_FACTOR} × the sum of covalent radii a new bond")
    for path, model in models.items():
        d = drops(model, species, cache)
        sound = d[d.problem != XTB_FALLBACK].drop_eV.dropna()
        q = np.percentile(sound, [50, 90, 99]) if len(sound) else [np.nan] * 3
        holes = d[d.problem == MODEL_HOLE].sort_values("drop_eV")
        broke = d[d.problem == XTB_FALLBACK]
        print(f"\n{path}: {len(d)} species; ΔE (eV) over {len(sound)} with their bonds kept: median {q[0]:+.3f}, "
              f"90th pct {q[1]:+.3f}, 99th pct {q[2]:+.3f}, lowest {sound.min():+.2f}")
        for name, rows in ((f"bonds changed: {len(broke)}", broke), (f"holes (ΔE < −{HOLE_EV}): {len(holes)}", holes)):
            print(f"  {name}" + "".join(f"\n    {r.species:20s} {r.drop_eV:+7.2f} eV, closest non-bonded pair "
                                        f"{r.closest}" for r in rows.itertuples()))
        between = d[(d.problem == "") & (d.drop_eV < -0.3)].sort_values("drop_eV")
        listed = ", ".join(f"{r.species} {r.drop_eV:+.2f}" for r in between.itertuples())
        print(f"  kept, between −0.3 and −{HOLE_EV} eV: {len(between)}" + (f" ({listed})" if listed else ""))


if __name__ == "__main__":
    main()
