"""ASE calculator over an :class:`~e3d.model.E3DModel`: energy, forces, and E3D's edge energies.

Used to relax molecules with the model itself (the parent geometry of a learned BDE is
the model's own minimum) and for bond-stretch scans.
"""

from __future__ import annotations

import numpy as np
from nequip.data import AtomicDataDict
from nequip.integrations.ase import NequIPCalculator

from .model import E3DModel


class E3DCalculator(NequIPCalculator):
    """nequip's ASE calculator over an :class:`E3DModel`, on the model's own neighbour list.

    Besides nequip's ``energy``, ``free_energy``, ``energies`` and ``forces`` (eV, eV/Å), each call
    leaves E3D's results: ``edge_index`` (2 × n_edges, i → j) and ``edge_energies``, e_{i→j} in eV
    (the raw readout times the model's edge factor, docs/E3D_METHOD.md), whose sum plus the atoms'
    shifts μ is ``energy`` (the sum rule).
    """

    def __init__(self, model: E3DModel, **kwargs):
        super().__init__(model.module, device=model.device, **kwargs)
        self.e3d_model = model

    def atoms_to_data(self, atoms) -> AtomicDataDict.Type:
        from .edges import atoms_to_data

        data = atoms_to_data(atoms.get_chemical_symbols(), atoms.positions, self.e3d_model)
        return AtomicDataDict.to_(data, self.device)

    def call_model(self, data: AtomicDataDict.Type) -> AtomicDataDict.Type:
        self._edge_index = data[AtomicDataDict.EDGE_INDEX_KEY].cpu().numpy()  # compiled models do not return it
        with self.e3d_model.lock:  # not while another thread has the force pass switched off (E3DModel.energy_only)
            return self.model(data)

    def save_extra_outputs(self, out: AtomicDataDict.Type) -> None:
        types = self.e3d_model.type_index(self.atoms.get_chemical_symbols())
        raw = out[AtomicDataDict.EDGE_ENERGY_KEY].detach().double().cpu().numpy().reshape(-1)
        self.results["edge_index"] = self._edge_index
        self.results["edge_energies"] = self.e3d_model.edge_factor[np.asarray(types)[self._edge_index[0]]] * raw


def relax_with_model(mol, model: E3DModel, fmax: float = 0.01, steps: int = 500):
    """The molecule at the model's local minimum (BFGS; same graph)."""
    from .geometry import SYMMETRY_BREAK, relax

    return relax(mol, E3DCalculator(model), fmax=fmax, steps=steps, displace=SYMMETRY_BREAK)


def model_energy(mol, model: E3DModel) -> float:
    atoms = mol.to_ase()
    atoms.calc = E3DCalculator(model)
    return float(atoms.get_potential_energy())

