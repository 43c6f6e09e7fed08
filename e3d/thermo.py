"""Zero-point and 298 K thermal corrections: electronic BDEs → 298 K bond enthalpies.

A model trained on electronic energies learns electronic bond energies D_e; experiment gives
298 K bond dissociation enthalpies.  The bridge, per species X at the labelling method's
minimum (ideal gas, rigid rotor, harmonic oscillator; docs/E3D_METHOD.md §9):

    H_corr(X) = ZPE + H_trans + H_rot + H_vib(T) + pV                          [eV]
    ZPE       = ½ Σ_k ħω_k
    H_vib(T)  = Σ_k ħω_k / (exp(ħω_k / k_B T) − 1)
    H_trans   = 3/2 k_B T;  H_rot = k_B T (linear), 3/2 k_B T (non-linear), 0 (atom);  pV = k_B T

    ΔH_298(A–B) = D_e(A–B) + [H_corr(A•) + H_corr(B•) − H_corr(AB)]

ω_k are the harmonic frequencies of the mass-weighted Hessian (central finite differences of
the method's forces, translations and rotations projected out), unscaled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Tuple

import numpy as np
from ase.data import atomic_masses

from .errors import E3DError
from .molecule import Molecule
from .units import CODATA as units
from .units import KCAL_PER_EV

if TYPE_CHECKING:
    from .references import ReferenceCache

T_298 = 298.15
HESSIAN_STEP = 0.005  # Å
IMAGINARY_TOLERANCE_CM = 50.0  # small imaginary modes from a loose minimum are treated as 0
EV_TO_CM = 1.0 / (units.invcm)  # cm⁻¹ per eV

ForcesFn = Callable[[np.ndarray], np.ndarray]  # positions (N, 3) Å → forces (N, 3) eV/Å


def hessian(positions: np.ndarray, forces_fn: ForcesFn, step: float = HESSIAN_STEP) -> np.ndarray:
    """Cartesian Hessian (3N × 3N, eV/Å²) by central differences of the forces, symmetrised."""
    x0 = np.asarray(positions, dtype=float)
    n = 3 * len(x0)
    h = np.empty((n, n))
    for k in range(n):
        plus, minus = x0.copy().reshape(-1), x0.copy().reshape(-1)
        plus[k] += step
        minus[k] -= step
        f_plus = forces_fn(plus.reshape(-1, 3)).reshape(-1)
        f_minus = forces_fn(minus.reshape(-1, 3)).reshape(-1)
        h[k] = -(f_plus - f_minus) / (2 * step)
    return 0.5 * (h + h.T)


def _rigid_body_modes(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Orthonormal translations and rotations in mass-weighted coordinates (columns)."""
    sqrt_m = np.sqrt(masses)
    centred = positions - (masses[:, None] * positions).sum(0) / masses.sum()
    vectors = []
    for axis in np.eye(3):
        vectors.append((sqrt_m[:, None] * axis).reshape(-1))
        vectors.append((sqrt_m[:, None] * np.cross(axis, centred)).reshape(-1))
    u, sv, _ = np.linalg.svd(np.array(vectors).T, full_matrices=False)
    return u[:, sv > 1e-6 * sv.max()]  # the span: a linear molecule has only two rotations


def harmonic_modes(positions: np.ndarray, numbers: np.ndarray, hess: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Vibrational quanta ħω_k (eV, imaginary as negative, ascending) of the 3N−6 (3N−5 linear)
    internal modes and their Cartesian displacement vectors (columns, unit norm)."""
    masses = atomic_masses[np.asarray(numbers)]
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(masses), 3)
    mw = hess * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    rigid = _rigid_body_modes(np.asarray(positions, dtype=float), masses)
    projector = np.eye(len(mw)) - rigid @ rigid.T
    eig, vec = np.linalg.eigh(projector @ mw @ projector)
    n_internal = len(mw) - rigid.shape[1]
    keep = np.sort(np.argsort(np.abs(eig))[len(eig) - n_internal:])  # drop the rigid-body zeros
    eig, vec = eig[keep], vec[:, keep] * inv_sqrt_m[:, None]
    scale = units._hbar * 1e10 / np.sqrt(units._e * units._amu)  # √(eV/Å²/amu) → eV
    return np.sign(eig) * scale * np.sqrt(np.abs(eig)), vec / np.linalg.norm(vec, axis=0)


def enthalpy_correction(energies: np.ndarray, n_atoms: int, linear: bool, temperature: float = T_298) -> float:
    """H_corr = ZPE + H_trans + H_rot + H_vib(T) + pV (eV) from vibrational quanta ħω (eV): ASE's
    ideal-gas RRHO enthalpy (its k_B is CODATA 2014's, 4·10⁻⁷ relative from 2018's: < 10⁻⁷ eV here)."""
    from ase.thermochemistry import IdealGasThermo

    worst = -energies.min() * EV_TO_CM if len(energies) else 0.0
    if worst > IMAGINARY_TOLERANCE_CM:
        raise E3DError(f"not a minimum: imaginary mode of {worst:.0f} cm⁻¹")
    geometry = "monatomic" if n_atoms == 1 else ("linear" if linear else "nonlinear")
    thermo = IdealGasThermo(vib_energies=energies[energies > 0], geometry=geometry, vib_selection="all")
    return float(thermo.get_enthalpy(temperature, verbose=False))


def is_linear(positions: np.ndarray, tolerance: float = 1e-3) -> bool:
    if len(positions) <= 2:
        return len(positions) == 2
    centred = positions - positions.mean(0)
    s = np.linalg.svd(centred, compute_uv=False)
    return s[1] < tolerance * s[0]


def species_correction(mol: Molecule, forces_fn: ForcesFn, temperature: float = T_298,
                       relax: Optional[Callable[[Molecule], Molecule]] = None, attempts: int = 3
                       ) -> Tuple[float, np.ndarray]:
    """(H_corr in eV, ħω in eV) of a molecule at the method's minimum.

    A relaxation can stop on a saddle (e.g. an eclipsed rotor of a radical): with ``relax``,
    the geometry is pushed along the imaginary mode and relaxed again, up to ``attempts`` times.
    """
    if mol.n_atoms == 1:
        return enthalpy_correction(np.array([]), 1, False, temperature), np.array([])
    for _ in range(attempts):
        hw, modes = harmonic_modes(mol.positions, mol.numbers, hessian(mol.positions, forces_fn))
        if relax is None or -hw.min() * EV_TO_CM <= IMAGINARY_TOLERANCE_CM:
            break
        push = 0.3 * modes[:, 0].reshape(-1, 3) / np.abs(modes[:, 0]).max()
        mol = relax(mol.with_positions(mol.positions + push))
    return enthalpy_correction(hw, mol.n_atoms, is_linear(mol.positions), temperature), hw


def bde_correction_kcal_mol(h_parent: float, h_a: float, h_b: float) -> float:
    """ΔH_298 − ΔE_e of a homolysis (kcal/mol) from the three species' H_corr (eV)."""
    return (h_a + h_b - h_parent) * KCAL_PER_EV


def xtb_enthalpy_correction(mol: Molecule) -> float:
    """H_corr(298 K) = ZPE + thermal enthalpy (eV) of a species at its tightly relaxed xTB minimum."""
    from .data import xtb
    from .references import xtb_relaxed

    relax = lambda m: xtb_relaxed(m, fmax=0.002)  # noqa: E731  (a loose minimum leaves spurious imaginary modes)
    forces = lambda pos: xtb.energy_and_forces(mol.numbers, pos, mol.charge, mol.multiplicity)[1]  # noqa: E731
    return species_correction(relax(mol), forces, relax=relax)[0]


def thermal_correction(parent_smiles: str, fragment_a: str, fragment_b: str, cache: "ReferenceCache") -> float:
    """ΔH_298 − ΔE_e (kcal/mol) of the homolysis, from GFN2-xTB frequencies (cached per SMILES)."""
    from .references import sound_minimum, xtb_minimum

    for smiles in (parent_smiles, fragment_a, fragment_b):
        if smiles not in cache.thermal:
            try:
                geom = xtb_minimum(smiles, cache)
                cache.thermal[smiles] = xtb_enthalpy_correction(geom) if sound_minimum(geom) else float("nan")
            except E3DError as exc:
                raise E3DError(f"{smiles}: {exc}") from None
    return bde_correction_kcal_mol(*(cache.thermal[s] for s in (parent_smiles, fragment_a, fragment_b)))
