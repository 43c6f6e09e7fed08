"""How close D(sum) − D(parent) in the BDE table is to the Δ model's own D_ij (docs/E3D_METHOD.md §4i).

    python bench/delta_geometry_term.py [--sum dft-delta] [--parent xtb-emergence-4k]

`e3d bde` evaluates every model at its own minimum, so on a row of precomputed/bde.parquet
D(sum) − D(parent) = D_Δ(at the sum's minimum) + [D_parent(sum's minimum) − D_parent(own minimum)].
This prints the second term over the sum's headline rows (kcal/mol): how much of the inheritance
table's "D_ij − parent's" column is geometry rather than the Δ model.
"""

import argparse
import os

import numpy as np
import pandas as pd

from e3d.bde import model_geometry
from e3d.cards import MODELS_DIR, REPO_ROOT
from e3d.edges import edge_energies
from e3d.model import load_model
from e3d.pairs import pair_table, part_column
from e3d.references import ReferenceCache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sum", default="dft-delta")
    ap.add_argument("--parent", default="xtb-emergence-4k", help="the sum's GFN2-xTB part")
    args = ap.parse_args()
    bde = pd.read_parquet(os.path.join(REPO_ROOT, "precomputed", "bde.parquet"))
    rows = bde[(bde["model_id"] == args.sum) & bde["headline"].eq(True)]
    parent = bde[bde["model_id"] == args.parent].set_index("label")["e3d_bde_kcal_mol"]
    model = load_model(os.path.join(MODELS_DIR, f"{args.sum}.sum.json"))
    column = part_column(args.parent)
    term = []
    for smiles, group in rows.groupby("parent_smiles"):
        mol, _ = model_geometry(model, smiles, ReferenceCache())  # the sum's minimum, as `e3d bde` finds it
        (result,) = edge_energies(model, [mol])
        pairs = pair_table(result).set_index(["i", "j"])  # a sum's table carries its parts' D_ij
        for row in group.itertuples():
            i, j = sorted((int(row.atom_i), int(row.atom_j)))
            term.append(pairs.loc[(i, j), column] - parent[row.label])
    term = np.abs(np.array(term))
    print(f"{args.sum} − {args.parent}, {len(term)} headline bonds: |D_parent(sum's minimum) − D_parent(own minimum)| "
          f"mean {term.mean():.2f}, median {np.median(term):.2f}, max {term.max():.2f} kcal/mol")


if __name__ == "__main__":
    main()
