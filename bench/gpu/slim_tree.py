"""Fit the checkout into the device tool's 64 MiB for a GPU run, then put it back (run HERE).

The tool sends every tracked file, and ``precomputed/`` alone outgrew the limit (189 MB on 2026-12-04).
``hide`` moves what the GPU run does not read (every model but the main one and its parts, the study's
models and checkpoints, the demo tables but ``molecules.parquet``) into the ignored ``.gpu_hidden/``
and drops it from the index; ``restore`` moves it back and resets the index, leaving ``git status`` as
it was.  Never commit between the two.
    python bench/gpu/slim_tree.py hide      # before the device call
    python bench/gpu/slim_tree.py restore   # right after it
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HIDDEN = os.path.join(ROOT, ".gpu_hidden")
MODELS = os.path.join("precomputed", "models")
KEEP_TABLES = {os.path.join("precomputed", "molecules.parquet")}


def main_model_files() -> set[str]:
    """index.json and the main model's closure: sum files, their parts and the cards beside them."""
    from e3d.cards import card_path
    from e3d.composite import is_sum_path, model_files

    index = os.path.join(ROOT, MODELS, "index.json")
    main = os.path.join(ROOT, MODELS, json.load(open(index))["main"])
    files = [main] + (model_files(main) if is_sum_path(main) else [])
    return {os.path.relpath(f, ROOT) for f in [index, *files, *map(card_path, files)]}


def hidden_paths() -> list[str]:
    keep = main_model_files() | KEEP_TABLES
    tracked = subprocess.run(["git", "ls-files", "-z", "precomputed"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split("\0")
    return [p for p in tracked if p and p not in keep]


def hide() -> None:
    if os.path.exists(HIDDEN):
        sys.exit(f"error: {HIDDEN} exists: run `restore` first")
    paths = hidden_paths()
    for p in paths:
        os.makedirs(os.path.dirname(os.path.join(HIDDEN, p)), exist_ok=True)
        shutil.move(os.path.join(ROOT, p), os.path.join(HIDDEN, p))
    subprocess.run(["git", "rm", "-q", "--cached", "--"] + paths, cwd=ROOT, check=True)
    print(f"hid {len(paths)} files in {HIDDEN}; run `python {sys.argv[0]} restore` after the device call")


def restore() -> None:
    if not os.path.exists(HIDDEN):
        sys.exit(f"error: nothing to restore ({HIDDEN} is missing)")
    moved = []
    for base, _, files in os.walk(HIDDEN):
        for f in files:
            rel = os.path.relpath(os.path.join(base, f), HIDDEN)
            os.makedirs(os.path.dirname(os.path.join(ROOT, rel)), exist_ok=True)
            shutil.move(os.path.join(base, f), os.path.join(ROOT, rel))
            moved.append(rel)
    subprocess.run(["git", "reset", "-q", "--", "precomputed"], cwd=ROOT, check=True)
    shutil.rmtree(HIDDEN)
    print(f"restored {len(moved)} files")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("hide", "restore"):
        sys.exit(__doc__)
    {"hide": hide, "restore": restore}[sys.argv[1]]()
