"""Every unit conversion used in E3D, in one place.

Energies inside E3D are eV, lengths Å.  Bond energies shown to chemists are kcal/mol.
"""

KCAL_PER_EV = 23.060547830619  # 1 eV = 23.0605 kcal/mol (CODATA 2018 via ASE)
EV_PER_KCAL = 1.0 / KCAL_PER_EV
KJ_PER_KCAL = 4.184
EV_PER_HARTREE = 27.211386245988
ANGSTROM_PER_BOHR = 0.529177210903
KELVIN_PER_HARTREE = 315775.02480407


def ev_to_kcal(x):
    return x * KCAL_PER_EV


def kcal_to_ev(x):
    return x * EV_PER_KCAL
