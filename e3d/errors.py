"""Errors that carry a message meant for the user (CLI and app show them verbatim)."""


class E3DError(Exception):
    """Base class: anything E3D reports to the user without a traceback."""


class InputError(E3DError):
    """Bad molecule input: invalid SMILES, malformed file, unsupported element, ..."""


DEFAULT_MAX_ATOMS = 250  # the atom limit TooLargeError enforces (here, so light front ends need no RDKit)


class TooLargeError(InputError):
    """A molecule above the atom limit; each front end says how to raise it (CLI flag, app setting)."""


class ModelError(E3DError):
    """A model file that cannot be loaded or does not expose edge energies."""


class SumRuleError(E3DError):
    """E_total != sum of edge energies + sum of shifts beyond tolerance."""
