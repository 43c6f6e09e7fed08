"""Content-keyed caches of computed tables: a result is reused only for byte-identical inputs.

The key hashes the bytes of every input file and a JSON dump of every other input (settings, code
versions that a caller bumps when its tables change content). ``precompute`` keeps each shipped
model's tables this way (runs/precompute_cache/), ``study`` each run's evaluation
(runs/study_eval_cache/): adding one model recomputes that model only.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Optional, Sequence

import pandas as pd


def content_key(paths: Sequence[Optional[str]], *extras: object) -> str:
    """16 hex digits of the SHA-256 of the files' bytes (an absent file hashes as its name) and of each of
    ``extras`` as JSON (what JSON cannot hold, by ``str``)."""
    h = hashlib.sha256()
    for path in paths:
        if path and os.path.exists(path):
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        else:
            h.update(f"<absent {path}>".encode())
    for extra in extras:  # one after the other (a key precompute computed before this module existed is kept)
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def load_tables(folder: str, names: Sequence[str]) -> Optional[Dict[str, pd.DataFrame]]:
    """The tables ``names`` saved in ``folder``, or None unless every one is there."""
    files = {n: os.path.join(folder, f"{n}.parquet") for n in names}
    if not all(os.path.exists(f) for f in files.values()):
        return None
    return {n: pd.read_parquet(f) for n, f in files.items()}


def save_tables(folder: str, tables: Dict[str, pd.DataFrame]) -> None:
    """Each table to ``folder``/NAME.parquet, written whole or not at all (a killed run leaves no half file)."""
    os.makedirs(folder, exist_ok=True)
    for name, df in tables.items():
        path = os.path.join(folder, f"{name}.parquet")
        df.to_parquet(path + ".tmp", index=False)
        os.replace(path + ".tmp", path)
