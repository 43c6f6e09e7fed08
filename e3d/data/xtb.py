"""GFN2-xTB labels with tblite: energies (eV) and forces (eV/Å), spin-polarised.

Settings are fixed for every frame of a dataset (recorded in its provenance):
GFN2-xTB, electronic temperature 300 K, spin polarisation scaling 1.0 (so open-shell
fragments and the isolated-atom references are treated consistently).
"""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

import numpy as np

from ..errors import E3DError
from ..units import ANGSTROM_PER_BOHR, EV_PER_HARTREE, KELVIN_PER_HARTREE

METHOD = "GFN2-xTB"
ELECTRONIC_TEMPERATURE_K = 300.0
SPIN_POLARIZATION = 1.0

# unpaired electrons of each element's ground-state atom (H doublet, C triplet, N quartet ...)
ATOM_GROUND_STATE_UNPAIRED = {"H": 1, "B": 1, "C": 2, "N": 3, "O": 2, "F": 1, "Si": 2, "P": 3,
                              "S": 2, "Cl": 1, "Br": 1, "I": 1}


def provenance() -> Dict[str, object]:
    import importlib.metadata

    return {
        "method": METHOD,
        "program": f"tblite {importlib.metadata.version('tblite')}",
        "electronic_temperature_K": ELECTRONIC_TEMPERATURE_K,
        "spin_polarization": SPIN_POLARIZATION,
        "atom_reference": "GFN2-xTB isolated atoms, ground-state multiplicity, spin-polarised (tblite)",
        "energy_unit": "eV",
        "forces_unit": "eV/Å",
    }


def energy_and_forces(numbers, positions, charge: int = 0, multiplicity: int = 1
                      ) -> Tuple[float, np.ndarray]:
    """Single point: total energy (eV) and forces (eV/Å) for positions in Å."""
    from tblite.interface import Calculator

    calc = Calculator(METHOD, np.asarray(numbers, dtype=int),
                      np.asarray(positions, dtype=float) / ANGSTROM_PER_BOHR,
                      charge=float(charge), uhf=int(multiplicity) - 1)
    calc.set("verbosity", 0)
    calc.set("temperature", ELECTRONIC_TEMPERATURE_K / KELVIN_PER_HARTREE)
    if SPIN_POLARIZATION:
        calc.add("spin-polarization", SPIN_POLARIZATION)
    try:
        res = calc.singlepoint()
    except Exception as exc:  # tblite raises its own runtime error on SCF failure
        raise E3DError(f"GFN2-xTB failed: {exc}") from None
    energy = float(res.get("energy")) * EV_PER_HARTREE
    forces = -np.asarray(res.get("gradient")) * EV_PER_HARTREE / ANGSTROM_PER_BOHR
    return energy, forces


def isolated_atom_energies(elements: Iterable[str]) -> Dict[str, float]:
    """Spin-polarised ground-state isolated-atom energies (eV): the per-type shifts μ_t."""
    from ase.data import atomic_numbers

    out = {}
    for el in elements:
        if el not in ATOM_GROUND_STATE_UNPAIRED:
            raise E3DError(f"no ground-state multiplicity known for element {el}")
        out[el] = energy_and_forces([atomic_numbers[el]], np.zeros((1, 3)), 0,
                                    ATOM_GROUND_STATE_UNPAIRED[el] + 1)[0]
    return out


def xtb_calculator(charge: int = 0, multiplicity: int = 1):
    """tblite's ASE calculator with the labelling settings above.  It keeps one tblite calculation
    across geometry steps, so each SCF restarts from the previous wavefunction
    (bench/xtb_relax.py measures the saving in relaxations)."""
    from tblite.ase import TBLite

    return TBLite(method=METHOD, charge=int(charge), multiplicity=int(multiplicity),
                  electronic_temperature=ELECTRONIC_TEMPERATURE_K, spin_polarization=SPIN_POLARIZATION or None,
                  verbosity=0)
