"""E3D Explorer: what has an Allegro potential learned about chemical bonds?

Small composable functions, in the order data flows (see E3D_METHOD.md):

    model = load_model()                      # .nequip.zip / .ckpt / AOTInductor .pt2
    mols = [from_smiles("CCO")]               # or read_molecules("file.sdf")
    results = edge_energies(model, mols)      # e_{i→j} (eV), sum rule checked
    bonds = bond_table(results[0])            # ε_ij (eV), D_ij (kcal/mol), bond types
"""

from .errors import E3DError, InputError, ModelError, SumRuleError
from .model import E3DModel, load_model, default_model_path
from .molecule import Molecule, from_smiles, read_molecules, molecules_from_bytes, validate
from .edges import EdgeEnergies, edge_energies
from .pairs import pair_table, bond_table, decomposability, bond_type_label

__version__ = "0.1.0"

__all__ = [
    "E3DError", "InputError", "ModelError", "SumRuleError",
    "E3DModel", "load_model", "default_model_path",
    "Molecule", "from_smiles", "read_molecules", "molecules_from_bytes", "validate",
    "EdgeEnergies", "edge_energies",
    "pair_table", "bond_table", "decomposability", "bond_type_label",
]
