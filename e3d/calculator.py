"""ASE calculator over an :class:`~e3d.model.E3DModel`: energy, forces, and E3D's edge energies.

Used to relax molecules with the model itself (the parent geometry of a learned BDE is
the model's own minimum) and for bond-stretch scans.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
from nequip.data import AtomicDataDict
from tqdm.auto import tqdm
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
    (relaxed,) = relax_many_with_model([mol], model, fmax=fmax, steps=steps)
    return relaxed


MAX_BATCH_ATOMS = 2000  # atoms per batched force call of relax_many_with_model


def relax_many_with_model(mols: Sequence, model: E3DModel, fmax: float = 0.01, steps: int = 500,
                          progress: bool = False) -> List:
    """:func:`relax_with_model` of many molecules, each from its own start (:data:`~e3d.geometry.SYMMETRY_BREAK`
    displaced, as :func:`e3d.geometry.relax` does), the force calls batched (:func:`relax_atoms_with_model`)."""
    from .geometry import SYMMETRY_BREAK, displaced

    atoms = [displaced(m, SYMMETRY_BREAK).to_ase() if m.n_atoms > 1 else m.to_ase() for m in mols]
    relax_atoms_with_model(atoms, model, fmax=fmax, steps=steps, progress=progress)
    return [m.with_positions(a.positions) for m, a in zip(mols, atoms)]


def relax_atoms_with_model(atoms: Sequence, model: E3DModel, fmax: float = 0.01, steps: int = 500,
                           progress: bool = False) -> Sequence:
    """ASE atoms relaxed in place with the model: one ASE BFGS per molecule, run as
    :func:`e3d.geometry.relax_atoms` runs it — but the force calls of every molecule not yet converged are one
    batched model call per step (the molecules are separate graphs; on a CPU a small molecule's call is mostly
    overhead, a sum of models' six networks' six times over).  ``progress``: a bar of the molecules done.
    Returns ``atoms``."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.optimize import BFGS

    from .edges import pack_batches
    from .geometry import relax_atoms

    if model.kind == "aotinductor":  # graphs traced for a batch shape: one molecule at a time
        return [relax_atoms(a, E3DCalculator(model), fmax=fmax, steps=steps) for a in atoms]
    optimizers = [BFGS(a, logfile=None) for a in atoms]
    for optimizer in optimizers:
        optimizer.fmax = fmax  # what BFGS.run sets
    taken = [0] * len(atoms)
    active = [k for k, a in enumerate(atoms) if len(a) > 1]
    bar = tqdm(total=len(atoms), initial=len(atoms) - len(active), desc=f"relaxing with {model.name}",
               disable=not progress)
    while active:
        for group in pack_batches([atoms[k] for k in active], MAX_BATCH_ATOMS, size=len):
            chosen = [active[g] for g in group]
            for k, (energy, forces) in zip(chosen, model_energies_and_forces(model, [atoms[k] for k in chosen])):
                atoms[k].calc = SinglePointCalculator(atoms[k], energy=energy, forces=forces)
        still = []
        for k in active:  # ASE's irun: stop when converged or the step budget is spent, else one step
            if taken[k] < steps and not optimizers[k].gradient_converged(optimizers[k].optimizable.get_gradient()):
                optimizers[k].step()
                taken[k] += 1
                still.append(k)
        bar.update(len(active) - len(still))
        active = still
    bar.close()
    return atoms


def model_energies_and_forces(model: E3DModel, frames: Sequence) -> List[Tuple[float, np.ndarray]]:
    """Energy (eV) and forces (eV/Å) of each ASE frame, in one batched model call."""
    import torch

    from .edges import batch_to_data

    data = AtomicDataDict.to_(batch_to_data([(a.get_chemical_symbols(), a.positions) for a in frames], model),
                              model.device)
    with model.lock, torch.enable_grad():
        out = model.module(data)
    energy = out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().double().cpu().numpy().reshape(-1)
    forces = out[AtomicDataDict.FORCE_KEY].detach().double().cpu().numpy()
    bounds = np.cumsum([0] + [len(a) for a in frames])
    return [(float(energy[k]), forces[bounds[k]:bounds[k + 1]]) for k in range(len(frames))]


def model_energy(mol, model: E3DModel) -> float:
    """The model's energy of a molecule (eV): one forward pass with the force pass switched off."""
    from .edges import edge_energies

    (result,) = edge_energies(model, [mol], tolerance=None)
    return result.total_energy

