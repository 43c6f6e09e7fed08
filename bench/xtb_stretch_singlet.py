"""Do the training sets' stretched frames agree with their radical frames? (docs/STUDY_LOG.md "Session 26")

    python bench/xtb_stretch_singlet.py [--factors 1.0 1.3 1.6 2.0 2.3]

A stretched frame is the closed-shell molecule labelled as a singlet (`e3d.data.frames.stretched`, factor 0.85–2.0 of
the bond length); a radical frame is one rigid fragment, a doublet.  For a bond stretched beyond a model's cutoff the
model sees two separate fragments, so the labels should give E(singlet) ≈ E(A•) + E(B•) there.  Prints, per bond and
stretch factor, GFN2-xTB's E(singlet) − E(A•) − E(B•) and E(triplet) − E(A•) − E(B•) at the same positions (kcal/mol;
restricted singlet: tblite has no broken-symmetry guess).
"""

import argparse

from e3d.data import xtb
from e3d.fragments import locate_bond, split_at_bond
from e3d.geometry import stretch_bond
from e3d.molecule import from_smiles
from e3d.units import KCAL_PER_EV

BONDS = [("CC", "[CH3]", "[CH3]"), ("CO", "[CH3]", "[OH]"), ("C", "[CH3]", "[H]"), ("CCO", "[CH2]C", "[OH]")]


def energy(mol, multiplicity=None) -> float:
    return xtb.energy_and_forces(mol.numbers, mol.positions, mol.charge, multiplicity or mol.multiplicity)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factors", type=float, nargs="+", default=[1.0, 1.3, 1.6, 2.0, 2.3])
    args = ap.parse_args()
    print(f"{'parent':>7} {'bond':>12} {'factor':>6} {'r (Å)':>6} {'singlet − A − B':>16} {'triplet − A − B':>16}")
    for smiles, a, b in BONDS:
        parent = from_smiles(smiles)
        i, j = locate_bond(parent, a, b)
        r0 = float(((parent.positions[i] - parent.positions[j]) ** 2).sum() ** 0.5)
        for f in args.factors:
            mol = stretch_bond(parent, i, j, r0 * f)
            radicals = sum(energy(frag) for frag in split_at_bond(mol, i, j))
            print(f"{smiles:>7} {a + '–' + b:>12} {f:6.2f} {r0 * f:6.2f} {(energy(mol) - radicals) * KCAL_PER_EV:16.1f} "
                  f"{(energy(mol, 3) - radicals) * KCAL_PER_EV:16.1f}")


if __name__ == "__main__":
    main()
