"""Every unit conversion and physical constant used in E3D, in one place: CODATA 2018 through ASE.

Energies inside E3D are eV, lengths Å.  Bond energies shown to chemists are kcal/mol.
(``ase.units`` itself defaults to CODATA 2014; E3D asks ASE for 2018 everywhere.)
"""

from ase.units import create_units

CODATA = create_units("2018")  # ASE's unit system: eV, Å, amu; kB, invcm, _hbar, _e, _amu …

KCAL_PER_EV = CODATA["mol"] / CODATA["kcal"]  # 1 eV = 23.0605 kcal/mol
KJ_PER_KCAL = 4.184                           # thermochemical calorie (exact)
EV_PER_HARTREE = CODATA["Hartree"]
ANGSTROM_PER_BOHR = CODATA["Bohr"]
KELVIN_PER_HARTREE = CODATA["Hartree"] / CODATA["kB"]
