"""The shipped model family: configs/family.yaml → precomputed/models/*.nequip.zip + cards + index.json.

``python -m e3d family train`` builds missing datasets and trains missing models in the
manifest's order; ``python -m e3d family index`` rewrites the index from the cards.  The
xTB variants are nested subsets of one labelled set (filtered by frame kind), so they
differ only in what they teach.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from typing import Dict, List, Optional

import yaml

from .errors import E3DError
from .composite import SUM_SUFFIX, mean_spec
from .cards import MODELS_DIR, REPO_ROOT, mean_card, parent_id, pretraining, read_card, sum_card

FAMILY_FILE = os.path.join(REPO_ROOT, "configs", "family.yaml")
XTB_DATA = os.path.join("runs", "data")
# labelled sets that cost CPU-hours (the DFT frames: ~1 h on 2 cores) ship with the repo, with their provenance
SHIPPED_LABELS = os.path.join(REPO_ROOT, "precomputed", "labels")
PART_ROLE = "delta"  # a Δ model (e3d/data/delta.py) ships as part of a sum, not as a model of its own


def load_family(path: str = FAMILY_FILE) -> Dict[str, object]:
    with open(path) as fh:
        return yaml.safe_load(fh)


def model_file(model_id: str, models_dir: str = MODELS_DIR) -> str:
    return os.path.join(models_dir, f"{model_id}.nequip.zip")


def member_file(entry: Dict[str, object], models_dir: str = MODELS_DIR) -> str:
    """A member's model file: its package, or for a sum of models (``sum_of``, e3d/composite.py) or a seed
    mean (``mean_of``) its sum file."""
    if entry.get("sum_of") or entry.get("mean_of"):
        return os.path.join(models_dir, f"{entry['id']}{SUM_SUFFIX}")
    return model_file(str(entry["id"]), models_dir)


def subset_by_kind(in_path: str, variant: str, out_path: str) -> int:
    """Frames of ``in_path`` whose ``kind`` belongs to ``variant`` (nested variants), with provenance."""
    from .data.build import VARIANT_KINDS, subset_frames

    return subset_frames(in_path, out_path, kinds=VARIANT_KINDS[variant], variant=variant)["n_frames"]


def labelled_set(data: Dict[str, object], split: str) -> str:
    """runs/data/{labeller}_radicals_{corpus}_{split}.extxyz for an entry with a named corpus pair
    (``delta-on-MODEL_radicals_…`` for residual Δ-labels, ``on: MODEL``).
    A corpus ``a+b`` trains on the union of the two labelled sets and tests on the first one's test set."""
    corpus = str(data["corpus"]) if split == "trainval" else corpus_parts(data)[0]
    labeller = f"{data['labeller']}-on-{data['on']}" if data.get("on") else data["labeller"]
    return os.path.join(XTB_DATA, f"{labeller}_radicals_{corpus}_{split}.extxyz")


def corpus_parts(data: Dict[str, object]) -> List[str]:
    """The corpora an entry's training set unites (``train-small+train-heavy4`` → both; one name → itself)."""
    return str(data["corpus"]).split("+")


def prepare_data(entry: Dict[str, object]) -> None:
    """Build the dataset an entry trains on, if it is not there yet."""
    from .corpus import evaluation_corpus, training_corpus
    from .data.build import build_xtb_dataset

    data = entry.get("data", {})
    if data.get("labeller") == "delta":  # Δ-labels: the DFT sets minus GFN2-xTB's labels (or model's) on their geometries
        from .data.delta import build_delta

        high = {k: v for k, v in data.items() if k != "on"} | {"labeller": "dft"}
        prepare_data({**entry, "data": high})
        on = model_file(str(data["on"])) if data.get("on") else None
        for split in ("trainval", "test"):
            if not os.path.exists(labelled_set(data, split) + ".json"):
                build_delta(labelled_set(high, split), labelled_set(data, split), progress=False, on_model=on)
    elif "test_corpus" in data:  # a named corpus pair, labelled by xtb or dft (same seeds: the same geometries)
        from .corpus import CORPORA
        from .data.build import build_dataset, combine_frames, dft_labeller, env_workers, xtb_labeller

        labeller = dft_labeller(data.get("level")) if data["labeller"] == "dft" else xtb_labeller()
        settings = {k: data[k] for k in ("n_thermal", "n_stretch", "n_radical_bonds") if k in data}
        parts = corpus_parts(data)
        sets = [(labelled_set({**data, "corpus": part}, "trainval"), part, 1) for part in parts]
        sets.append((labelled_set(data, "test"), data["test_corpus"], 2))
        for path, corpus, seed in sets:
            shipped = os.path.join(SHIPPED_LABELS, os.path.basename(path))
            if not os.path.exists(path + ".json") and os.path.exists(shipped + ".json"):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                for suffix in ("", ".json"):
                    shutil.copy(shipped + suffix, path + suffix)
            if not os.path.exists(path + ".json"):  # the provenance is written last: its absence means unfinished
                build_dataset(CORPORA[corpus](), path, labeller, variant="radicals", seed=seed,
                              workers=env_workers(), resume=True, **settings)
        union = labelled_set(data, "trainval")
        if len(parts) > 1 and not os.path.exists(union + ".json"):
            combine_frames([path for path, _, _ in sets[:-1]], union)
    elif data.get("labeller") == "xtb":
        extended = data.get("corpus") == "extended"
        tag = "_extended" if extended else ""
        base = os.path.join(XTB_DATA, f"xtb_radicals{tag}_trainval.extxyz")
        test = os.path.join(XTB_DATA, "xtb_radicals_test.extxyz")
        if not os.path.exists(base):
            build_xtb_dataset(training_corpus(extended), base, variant="radicals", seed=1)
        if not os.path.exists(test):
            build_xtb_dataset(evaluation_corpus(), test, variant="radicals", seed=2)
        variant = data.get("variant", "radicals")
        target = os.path.join(XTB_DATA, f"xtb_{variant}{tag}_trainval.extxyz")
        if not os.path.exists(target):
            subset_by_kind(base, variant, target)
    elif data.get("labeller") == "qm9":
        from .data.qm9 import build_qm9_datasets

        if not os.path.exists(os.path.join(XTB_DATA, "qm9", "qm9_H298_test.extxyz")):
            build_qm9_datasets(os.path.join(XTB_DATA, "qm9"), target="H298")


def refresh_training_domains(models_dir: str = MODELS_DIR, only: Optional[List[str]] = None) -> Dict[str, str]:
    """Recompute each shipped card's ``training_domain`` from its training file where that file is here (cards
    written before :func:`e3d.pairs.frame_bond_types` refused frames whose SMILES has other atoms), then the sums'
    and seed means' from their parts (:func:`e3d.cards.common_domain`); ``only``: these members.  Returns {model id:
    "updated", "unchanged" or "no training file here"}."""
    from .cards import common_domain
    from .train import training_domain, training_file, write_card

    for model_id in only or []:
        _entry(model_id)  # an unknown id is refused
    status: Dict[str, str] = {}
    for entry in load_family()["models"]:  # the family lists a sum's or mean's parts before it
        path = member_file(entry, models_dir)
        if (only and entry["id"] not in only) or not os.path.exists(path):
            continue
        card = read_card(path)
        parts = entry.get("mean_of") or entry.get("sum_of")
        if parts:
            domain = common_domain([read_card(member_file(_entry(str(p)), models_dir)) for p in parts])
        else:
            file = training_file(card)
            domain = training_domain(file) if file else None
        if domain is None:
            status[str(entry["id"])] = "no training file here"
            continue
        changed = domain != card.get("training_domain")
        status[str(entry["id"])] = "updated" if changed else "unchanged"
        if changed:
            write_card(path, {**card, "training_domain": domain})
    return status


def _entry(model_id: str) -> Dict[str, object]:
    family = load_family()
    for entry in family["models"]:
        if entry["id"] == model_id:
            return entry
    raise E3DError(f"unknown model id {model_id}; the family has {', '.join(m['id'] for m in family['models'])}")


def study_run(entry: Dict[str, object]):
    """(study, run) of a member that ships a run of the emergence study (``data: {study, run}``), else None."""
    data = entry.get("data", {})
    if "study" not in data:
        return None
    from .study import load_study

    study = load_study(os.path.join(REPO_ROOT, data["study"]))
    run = next((r for r in study["runs"] if r["id"] == data.get("run")), None)
    if run is None:
        raise E3DError(f"{entry['id']}: {data['study']} has no run {data.get('run')!r}")
    return study, run


def entry_overrides(entry: Dict[str, object]) -> List[str]:
    """Hydra overrides a member trains with: its own, or the study run's (data, seed, cutoff, loss weights)."""
    found = study_run(entry)
    if found is None:  # seeds of one recipe share its overrides (a YAML anchor) and differ in ``seed``;
        # a variant lists the anchor and its changes ([*recipe, x=1]), a variant of it the same: nesting is flattened
        return _flat(entry.get("overrides", [])) + ([f"seed={int(entry['seed'])}"] if "seed" in entry else [])
    from .study import run_dataset, run_overrides

    study, run = found
    return run_overrides(study, run, run_dataset(study, run))


def _flat(items: List[object]) -> List[str]:
    return [o for item in items for o in (_flat(item) if isinstance(item, list) else [item])]


def ship_run(model_id: str, run_dir: str, models_dir: str = MODELS_DIR) -> Dict[str, object]:
    """Package an existing training run of a family member (e.g. a long run started by hand)."""
    from .train import finish_run, finetune_overrides, load_config, write_card

    entry = _entry(model_id)
    out = model_file(model_id, models_dir)
    config_path = os.path.join(REPO_ROOT, entry["config"])
    overrides = entry_overrides(entry)
    if entry.get("init_from"):  # the card says where a fine-tune started, with the shifts it switched to
        overrides += finetune_overrides(model_file(entry["init_from"], models_dir), load_config(config_path, overrides))
    card = finish_run(config_path, run_dir, out, model_id=model_id, overrides=overrides)
    card.update(role=entry.get("role"), ensemble=entry.get("ensemble"))
    write_card(out, card)
    write_index(models_dir)
    return card


def train_family(only: Optional[List[str]] = None, models_dir: str = MODELS_DIR, retrain: bool = False) -> List[str]:
    """Train the manifest's missing models (or ``only`` these ids); returns the ids trained."""
    from .train import train, write_card

    family = load_family()
    for model_id in only or []:
        _entry(model_id)
    done = []
    for entry in family["models"]:
        if only and entry["id"] not in only:
            continue
        out = member_file(entry, models_dir)
        if os.path.exists(out) and not retrain:
            continue
        found = study_run(entry)
        if entry.get("sum_of") or entry.get("mean_of"):  # a sum or mean of shipped models: nothing to train
            write_sum(entry, models_dir)
        elif found is not None:  # trained by the study (with the runs it fine-tunes), shipped from it
            _train_from_study(entry, *found, out)
        else:
            parent = entry.get("init_from")  # a member fine-tuned from another (listed, so trained, before it)
            if parent and not os.path.exists(model_file(parent, models_dir)):
                raise E3DError(f"{entry['id']}: fine-tunes {parent}, which is not trained: train it first")
            prepare_data(entry)
            run_dir = os.path.join("runs", "train", entry["id"])
            if retrain and os.path.isdir(run_dir):
                shutil.rmtree(run_dir)
            train(os.path.join(REPO_ROOT, entry["config"]), run_dir, out, model_id=entry["id"],
                  overrides=entry_overrides(entry) + ["trainer.enable_progress_bar=false"],
                  resume=os.path.exists(os.path.join(run_dir, "last.ckpt")),  # an interrupted run continues
                  init_from=model_file(parent, models_dir) if parent else None)
        card = read_card(out)
        card.update(role=entry.get("role"), ensemble=entry.get("ensemble"))
        write_card(out, card)
        write_index(models_dir)
        done.append(entry["id"])
    return done


def write_sum(entry: Dict[str, object], models_dir: str = MODELS_DIR) -> Dict[str, object]:
    """A sum-of-models member (``sum_of: [base, Δ model]``) or a seed mean (``mean_of: [seed, seed, …]``, weights
    1/N): its sum file and card, with its held-out errors on its ``data``'s test set (the high level's labels)."""
    from .evaluate import evaluate
    from .model import load_model
    from .train import METRIC_UNITS, write_card

    mean = bool(entry.get("mean_of"))
    parts = [str(p) for p in entry["mean_of" if mean else "sum_of"]]
    files = [member_file(_entry(p), models_dir) for p in parts]  # packages, or (a mean of sums) sum files
    missing = [p for p, f in zip(parts, files) if not os.path.exists(f)]
    if missing:
        raise E3DError(f"{entry['id']}: {'averages' if mean else 'sums'} {', '.join(missing)}, not trained yet: "
                       f"train {'them' if len(missing) > 1 else 'it'} first")
    names = [os.path.basename(f) for f in files]
    path = member_file(entry, models_dir)
    with open(path, "w") as fh:
        json.dump(mean_spec(names) if mean else {"parts": names}, fh, indent=1)
    prepare_data(entry)
    cards = [read_card(f) for f in files]
    card = (mean_card(str(entry["id"]), parts, cards) if mean else
            sum_card(str(entry["id"]), parts, cards,
                     dataset=os.path.basename(labelled_set(entry["data"], "trainval"))))  # the high level's frames
    test = labelled_set(entry["data"], "test")
    card["metrics"] = {"test": evaluate(load_model(path, device="cpu"), test)}
    card.update(metric_units=METRIC_UNITS, test_file=test,  # (runs/data/…: relative to the repository)
                created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    write_card(path, card)
    return card


def _train_from_study(entry: Dict[str, object], study: Dict[str, object], run: Dict[str, object], out: str) -> None:
    """Train a member's study run to its step budget — first the runs it fine-tunes from
    (:func:`e3d.study.lineage`) — and copy the study's model and card (under the member's id) into the family."""
    from .study import STUDY_DIR, lineage, model_path, train_run
    from .train import write_card

    for step in lineage(study, run, STUDY_DIR):
        if train_run(study, step) == "interrupted":  # (no wall-time budget here: only if training stopped early)
            raise E3DError(f"{entry['id']}: study run {step['id']} stopped before its step budget")
    shutil.copy(model_path(run["id"]), out)
    write_card(out, {**read_card(model_path(run["id"])), "id": entry["id"]})


def write_index(models_dir: str = MODELS_DIR) -> Dict[str, object]:
    """precomputed/models/index.json: the main model and one line per shipped model (from the cards)."""
    family = load_family()
    entries = []
    for entry in family["models"]:
        path = member_file(entry, models_dir)
        if not os.path.exists(path) or entry.get("role") == PART_ROLE:  # Δ models are read through their sums
            continue
        card = read_card(path)
        entries.append({
            "id": entry["id"],
            "file": os.path.basename(path),
            "role": entry.get("role"),
            "ensemble": entry.get("ensemble"),
            "dataset": card.get("dataset"),
            "level_of_theory": card.get("level_of_theory"),
            "n_training_frames": card.get("n_training_frames"),
            "test": (card.get("metrics") or {}).get("test", {}),
        })
    main_id = family.get("main")
    index = {"main": next((e["file"] for e in entries if e["id"] == main_id), None),
             "models": entries}
    os.makedirs(models_dir, exist_ok=True)
    with open(os.path.join(models_dir, "index.json"), "w") as fh:
        json.dump(index, fh, indent=1)
    return index


def read_index(models_dir: str = MODELS_DIR) -> Dict[str, object]:
    path = os.path.join(models_dir, "index.json")
    if not os.path.exists(path):
        return {"main": None, "models": []}
    with open(path) as fh:
        return json.load(fh)


def shipped_cards(models_dir: str = MODELS_DIR) -> Dict[str, Dict[str, object]]:
    """The model card of every shipped model, by id, in the index's order."""
    return {m["id"]: read_card(os.path.join(models_dir, m["file"])) for m in read_index(models_dir)["models"]}


def card_summary(card: Dict[str, object]) -> Dict[str, object]:
    """The facts of a model card a reader compares, with units, rounded for reading."""
    metrics = card.get("metrics") or {}
    test = metrics.get("test") or {}
    hyper = card.get("hyperparameters") or {}
    domain = card.get("training_domain") or {}
    origin = pretraining(card)  # "fine-tuned from …", "sum of …" or ""
    rnd = lambda v, k: None if v is None else round(float(v), k)  # noqa: E731
    return {
        "dataset": card.get("dataset"), "level of theory": card.get("level_of_theory"),
        "training frames": card.get("n_training_frames"),
        "fine-tuned from": origin.removeprefix("fine-tuned from ") if parent_id(card) else None,
        "sum of": origin.removeprefix("sum of ") if card.get("sum_of") else None,
        "mean of": origin.removeprefix("mean of ") if card.get("mean_of") else None,
        "atom reference (μ)": (card.get("energy_shifts") or {}).get("reference"),
        "largest training molecule (heavy atoms)": domain.get("max_heavy_atoms"),
        "bond types seen": len(domain.get("bond_types") or {}) or None,
        "r_max (Å)": hyper.get("r_max"), "precision": hyper.get("model_dtype"),
        "layers": hyper.get("num_layers"), "scalar features": hyper.get("num_scalar_features"),
        "test energy MAE (meV/atom)": rnd(1000 * test["per_atom_energy_mae"], 1) if "per_atom_energy_mae" in test else None,
        "test force MAE (eV/Å)": rnd(test.get("forces_mae"), 3),
        "epochs": metrics.get("epochs"),
        "training time (h)": rnd((card.get("training_time_s") or 0) / 3600, 2) if card.get("training_time_s") else None,
        "hardware": card.get("hardware"), "created": card.get("created"),
    }

