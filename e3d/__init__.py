"""E3D Explorer: what has an Allegro potential learned about chemical bonds?

Small composable functions, in the order data flows (see E3D_METHOD.md):

    model = load_model()                      # .nequip.zip / .ckpt / AOTInductor .pt2 / sum of models .sum.json
    mols = [from_smiles("CCO")]               # or read_molecules("file.sdf")
    results = edge_energies(model, mols)      # e_{i→j} (eV), sum rule checked
    bonds = bond_table(results[0])            # ε_ij (eV), D_ij (kcal/mol), bond types
"""

import importlib

# Names are imported on first use (PEP 562): `import e3d` stays light (no torch) for the dashboard,
# which reads cards and tables before it needs a model (bench/app_latency.py, cold start).
_EXPORTS = {
    "errors": ["E3DError", "InputError", "ModelError", "SumRuleError"],
    "model": ["E3DModel", "load_model"],
    "cards": ["default_model_path"],
    "molecule": ["Molecule", "from_smiles", "read_molecules", "molecules_from_bytes", "validate"],
    "edges": ["EdgeEnergies", "edge_energies"],
    "pairs": ["pair_table", "bond_table", "decomposability", "bond_type_label"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__version__ = "0.1.0"
__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    try:  # e3d.molecule, e3d.pairs … as attributes, like a package that imported them
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":  # a submodule's own missing dependency: say that
            raise
        raise AttributeError(f"module 'e3d' has no attribute {name!r}") from None


def __dir__():
    return sorted(list(globals()) + __all__)
