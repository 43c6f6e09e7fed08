"""GFN2-xTB relaxations: a fresh tblite calculation per BFGS step (``energy_and_forces``, SAD guess
each time) against ``tblite.ase.TBLite`` (one calculator kept across steps: each SCF restarts from the
previous step's wavefunction).  Prints BFGS steps, wall time per step (the SCF is the cost of a step)
and the energy difference at the minima.

    OMP_NUM_THREADS=1 python bench/xtb_relax.py [--n 20]
"""

import argparse
import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize import BFGS

import _common  # noqa: F401  (one thread)
from e3d.corpus import training_corpus
from e3d.data import xtb
from e3d.molecule import from_smiles


class FreshXTB(Calculator):
    """The earlier labeller: a new tblite calculator (and SAD guess) for every geometry."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, charge=0, multiplicity=1):
        super().__init__()
        self.charge, self.multiplicity = charge, multiplicity

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e, f = xtb.energy_and_forces(self.atoms.numbers, self.atoms.positions, self.charge, self.multiplicity)
        self.results = {"energy": e, "forces": f}


def relax_all(calc_factory, mols):
    """BFGS steps, seconds and final energies (eV) of relaxing every molecule."""
    steps, energies, t0 = 0, [], time.perf_counter()
    for m in mols:
        atoms = m.to_ase()
        atoms.calc = calc_factory(m)
        opt = BFGS(atoms, logfile=None)
        opt.run(fmax=0.05, steps=200)
        steps += opt.nsteps
        energies.append(atoms.get_potential_energy())
    return steps, time.perf_counter() - t0, np.array(energies)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="corpus molecules to relax")
    args = ap.parse_args()
    mols = [from_smiles(s, name=n) for n, s in training_corpus()[: args.n]]
    s_old, t_old, e_old = relax_all(lambda m: FreshXTB(m.charge, m.multiplicity), mols)
    s_new, t_new, e_new = relax_all(lambda m: xtb.xtb_calculator(m.charge, m.multiplicity), mols)
    print(f"{len(mols)} molecules, BFGS fmax 0.05 eV/Å")
    print(f"fresh calculator per step : {s_old} steps, {t_old:.2f} s ({1000 * t_old / s_old:.1f} ms/step)")
    print(f"tblite.ase.TBLite (restart): {s_new} steps, {t_new:.2f} s ({1000 * t_new / s_new:.1f} ms/step)")
    print(f"speed-up per step {t_old / s_old / (t_new / s_new):.2f}×; "
          f"max |ΔE| at the minima {np.abs(e_old - e_new).max() * 1000:.3f} meV")


if __name__ == "__main__":
    main()
