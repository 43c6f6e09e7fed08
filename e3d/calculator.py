"""ASE calculator over an :class:`~e3d.model.E3DModel`: energy, forces, and E3D's edge energies.

Used to relax molecules with the model itself (the parent geometry of a learned BDE is
the model's own minimum) and for bond-stretch scans.
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from .model import E3DModel


class E3DCalculator(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self, model: E3DModel, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from nequip.data import AtomicDataDict

        from .edges import atoms_to_data

        super().calculate(atoms, properties, system_changes)
        model = self.model
        data = atoms_to_data(self.atoms.get_chemical_symbols(), self.atoms.positions, model)
        with model.lock:  # not while another thread has the force pass switched off (E3DModel.energy_only)
            out = model.module(AtomicDataDict.to_(data, model.device))
        self.results = {
            "energy": float(out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().double().sum()),
            "forces": out[AtomicDataDict.FORCE_KEY].detach().double().cpu().numpy().reshape(-1, 3),
        }


def relax_with_model(mol, model: E3DModel, fmax: float = 0.01, steps: int = 500):
    """The molecule at the model's local minimum (BFGS; same graph)."""
    from .geometry import relax

    return relax(mol, E3DCalculator(model), fmax=fmax, steps=steps)


def model_energy(mol, model: E3DModel) -> float:
    atoms = mol.to_ase()
    atoms.calc = E3DCalculator(model)
    return float(atoms.get_potential_energy())

