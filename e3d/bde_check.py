"""A user's BDE table scored as the CLI's `e3d bde` and the app's upload page both do it.

Rows of ``label, parent_smiles, fragment_a, fragment_b[, bde_kcal_mol]`` → :func:`e3d.bde.bde_table` with the
shipped labelling-method energies, the labels' bond-additive fit where one ships for the model's training set,
each parent's additivity gap, and the ``headline`` mask the metrics are taken on (docs/E3D_METHOD.md §4c–d).
"""

from __future__ import annotations

import io
import os
from typing import Optional

import pandas as pd

from .additivity import ON_DEMAND_METHODS, with_additivity_gap
from .bde import bde_table, headline_mask, with_additive_fit
from .bondtypes import baseline_per_type
from .corpus import REFERENCE_ENERGIES
from .errors import InputError
from .model import E3DModel
from .molecule import decode_text
from .precompute import DEFAULT_OUT, read_table
from .references import ReferenceCache


def read_bde_csv(raw: bytes, name: str) -> pd.DataFrame:
    """A BDE table from CSV bytes (a file's or an upload's); what is not one is refused naming ``name``."""
    text = decode_text(raw, name)
    try:
        return pd.read_csv(io.StringIO(text))
    except Exception as exc:  # pandas' ParserError, EmptyDataError, …
        raise InputError(f"{name}: not a readable CSV ({exc})") from None


def check_bde_table(model: E3DModel, table: pd.DataFrame, reference: Optional[str] = "auto", thermal: bool = True,
                    additivity_gap: bool = False, progress: bool = False) -> pd.DataFrame:
    """``table``'s rows with the model's and the labelling method's BDEs (``reference=None``: the model's only),
    the 298 K columns (``thermal``), the additive fit, the additivity gaps (``additivity_gap``: computed for DFT
    labels too, two PySCF single points per bond not shipped) and ``headline``; bad rows carry an ``error``."""
    if not len(table):  # a user's table (an internal caller's empty selection still gets an empty table back)
        raise InputError("BDE table has no rows (only a header)")
    cache = ReferenceCache.load(os.path.join(DEFAULT_OUT, REFERENCE_ENERGIES))  # known species' energies ship
    out = bde_table(model, table, reference=reference, progress=progress, thermal=thermal, cache=cache)
    out = with_additive_fit(out, baseline_per_type(read_table(DEFAULT_OUT, "baseline"), model.card.get("dataset")))
    if out["reference_method"].notna().any():
        compute = (*ON_DEMAND_METHODS, *out["reference_method"].dropna().unique()) if additivity_gap \
            else ON_DEMAND_METHODS
        out = with_additivity_gap(out, cache, progress=progress, compute=compute)
    return out.assign(headline=headline_mask(out, model))
