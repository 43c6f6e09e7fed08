"""A dataset's provenance: the JSON written next to every labelled training file (``DATA.extxyz.json``).

It records the labelling method, the isolated-atom energies (the fixed per-type shifts), the
settings and the frame counts; training reads it for the shifts and the model card.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional


def load_provenance(path: str) -> Optional[Dict[str, object]]:
    p = path + ".json"
    if os.path.exists(p):
        with open(p) as fh:
            return json.load(fh)
    return None
