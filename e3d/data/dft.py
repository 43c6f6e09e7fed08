"""DFT labels with PySCF: energies (eV) and forces (eV/Å), unrestricted Kohn–Sham.

Open shells (radicals) and stretched bonds need a broken-symmetry solution: they are UKS,
singlets are also solved from a HOMO/LUMO-mixed guess (the lower solution is kept), then an
internal stability analysis (lowest orbital-Hessian root) runs and, while it finds a lower
solution, the SCF restarts from it (up to ``STABILITY_ROUNDS``).  Closed-shell molecules at
or near their minimum (relaxed and thermally displaced parents, reference single points) are
RKS: their restricted solution is the stable one, and the analysis would cost three times the
SCF (``near_minimum=True``; tests check the full path gives the same energy there).
Isolated-atom references use the same functional, basis and settings at each atom's
ground-state multiplicity.

Levels used by E3D (a method string is ``FUNCTIONAL/BASIS``):

- ``B3LYP/def2-SVP``: the CPU training set (``python -m e3d data dft``);
- ``B3LYP/6-31G(2df,p)``: QM9's level, for the QM9 models' reference BDEs.  Gaussian's
  B3LYP uses VWN3 in the local correlation, PySCF's ``b3lyp`` VWN5: we use PySCF's ``b3lypg``
  (the Gaussian definition) so that the level matches QM9's labels.
"""

from __future__ import annotations

import functools
import warnings
from typing import Dict, Iterable, Tuple

import numpy as np

from ..errors import E3DError
from ..units import ANGSTROM_PER_BOHR, EV_PER_HARTREE
from .xtb import ATOM_GROUND_STATE_UNPAIRED

TRAINING_LEVEL = "B3LYP/def2-SVP"
XC_NAMES = {"B3LYP": "b3lypg"}  # the Gaussian B3LYP (VWN3), as in QM9 and most literature
STABILITY_ROUNDS = 3
CONV_TOL = 1e-9  # hartree


@functools.lru_cache(maxsize=None)
def split_level(level: str) -> Tuple[str, str]:
    """(PySCF functional, basis) of ``FUNCTIONAL/BASIS``; both checked against PySCF, so a typo fails before
    any SCF (and before a data build has written anything)."""
    from pyscf import gto
    from pyscf.dft import libxc

    if "/" not in level:
        raise E3DError(f"DFT level must be FUNCTIONAL/BASIS, not {level!r}")
    name, basis = level.split("/", 1)
    xc = XC_NAMES.get(name.upper(), name)
    try:
        libxc.parse_xc(xc)
    except (KeyError, ValueError):
        raise E3DError(f"DFT level {level!r}: PySCF does not know the functional {name!r}") from None
    try:
        with warnings.catch_warnings():  # PySCF suggests installing basis-set-exchange (which would download)
            warnings.simplefilter("ignore")
            gto.basis.load(basis, "H")
    except Exception:  # BasisNotFoundError, or a parse error of a basis-set file name
        raise E3DError(f"DFT level {level!r}: PySCF does not know the basis set {basis!r}") from None
    return xc, basis


def provenance(level: str = TRAINING_LEVEL) -> Dict[str, object]:
    import importlib.metadata

    xc, basis = split_level(level)
    return {
        "method": level,
        "program": f"PySCF {importlib.metadata.version('pyscf')}",
        "functional": xc, "basis": basis,
        "reference": "UKS with a HOMO/LUMO-mixed guess for singlets and an internal stability analysis, "
                     "restarted from any lower solution (broken symmetry), for radicals and stretched bonds; "
                     "RKS for closed-shell molecules at or near their minimum",
        "scf_conv_tol_hartree": CONV_TOL, "grids": "PySCF default (level 3)",
        "atom_reference": f"{level} isolated atoms, ground-state multiplicity, UKS (PySCF)",
        "energy_unit": "eV",
        "forces_unit": "eV/Å",
    }


def _scf(numbers, positions, charge: int, multiplicity: int, level: str, stability: bool = True):
    from pyscf import dft, gto
    from pyscf.scf.stability import uhf_internal

    xc, basis = split_level(level)
    mol = gto.M(atom=[(int(z), tuple(map(float, p))) for z, p in zip(numbers, positions)], unit="Angstrom",
                basis=basis, charge=int(charge), spin=int(multiplicity) - 1, verbose=0)
    restricted = multiplicity == 1 and not stability  # closed-shell minimum: RKS, same energy, half the cost

    def solve(dm=None):
        mf = dft.RKS(mol) if restricted else dft.UKS(mol)
        mf.xc, mf.conv_tol = xc, CONV_TOL
        mf.kernel(dm)
        return mf

    mf = solve()
    if stability and multiplicity == 1 and len(mf.mo_occ[0]) > (mf.mo_occ[0] > 0).sum():
        # broken-symmetry candidate (Gaussian's guess=mix): α and β HOMO/LUMO rotated oppositely by 45°;
        # PySCF's internal stability analysis alone misses this instability of stretched singlets
        homo = int(np.where(mf.mo_occ[0] > 0)[0][-1])
        mixed = []
        for c, sign in ((mf.mo_coeff[0], 1.0), (mf.mo_coeff[1], -1.0)):
            c = c.copy()
            h, lu = c[:, homo].copy(), c[:, homo + 1].copy()
            c[:, homo], c[:, homo + 1] = (h + sign * lu) / np.sqrt(2), (lu - sign * h) / np.sqrt(2)
            mixed.append(c)
        candidate = solve(mf.make_rdm1(mixed, mf.mo_occ))
        if candidate.converged and candidate.e_tot < mf.e_tot - 1e-7:
            mf = candidate
    rotations = 0 if restricted else sum(int((occ > 0).sum() * (occ == 0).sum()) for occ in mf.mo_occ)
    for _ in range(STABILITY_ROUNDS if stability and rotations else 0):  # (one-orbital atoms have none)
        mo, stable = uhf_internal(mf, nroots=1, return_status=True)  # the lowest root decides; 3× cheaper than 3
        if stable:
            break
        mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
    if not mf.converged:
        raise E3DError(f"{level} SCF did not converge")
    return mf


def energy(numbers, positions, charge: int = 0, multiplicity: int = 1, level: str = TRAINING_LEVEL,
           stability: bool = True) -> float:
    """Single-point total energy (eV), positions in Å (``stability=False``: skip the analysis, for minima)."""
    return float(_scf(numbers, positions, charge, multiplicity, level, stability).e_tot) * EV_PER_HARTREE


def energy_and_forces(numbers, positions, charge: int = 0, multiplicity: int = 1, level: str = TRAINING_LEVEL,
                      near_minimum: bool = False) -> Tuple[float, np.ndarray]:
    """Single point: total energy (eV) and forces (eV/Å) for positions in Å.

    ``near_minimum``: a closed-shell molecule at or thermally displaced from its minimum (RKS).
    """
    mf = _scf(numbers, positions, charge, multiplicity, level, stability=not (near_minimum and multiplicity == 1))
    gradient = mf.nuc_grad_method().kernel()  # hartree/bohr
    return float(mf.e_tot) * EV_PER_HARTREE, -np.asarray(gradient) * EV_PER_HARTREE / ANGSTROM_PER_BOHR


def isolated_atom_energies(elements: Iterable[str], level: str = TRAINING_LEVEL) -> Dict[str, float]:
    """Ground-state isolated-atom energies (eV) at ``level``: the per-type shifts μ_t."""
    from ase.data import atomic_numbers

    out = {}
    for el in elements:
        if el not in ATOM_GROUND_STATE_UNPAIRED:
            raise E3DError(f"no ground-state multiplicity known for element {el}")
        out[el] = energy([atomic_numbers[el]], np.zeros((1, 3)), 0, ATOM_GROUND_STATE_UNPAIRED[el] + 1, level)
    return out
