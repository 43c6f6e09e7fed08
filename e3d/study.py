"""The emergence study: which data, cutoff, size and training make bond energies emerge (issue #11).

``python -m e3d study configs/study/emergence.yaml`` trains every run of the study that is not
finished (resumable, within a wall-time budget per call) and writes one table.  A run trains until
its validation curve converges (:mod:`e3d.convergence`: ≥ 2 learning-rate cuts, then < 2 % better
over the 10 validations after the second; the study's or a run's ``convergence`` mapping changes
the test) or its step budget (``steps``, a cap) is spent:

- ``precomputed/study/emergence.parquet`` — one row per run: configuration (cutoff, data kinds,
  molecules, frames, model size, steps, seed), held-out energy/force errors, E3D against the
  labelling method's own BDEs (rigid and relaxed) and against experiment (298 K) on the headline
  rows (common organic bond types the model saw), per-type medians against mean bond enthalpies,
  f_bond, entropy, training time and whether the run converged; the error budget (docs/E3D_METHOD.md
  §4c) and the held-out energy bias per frame kind (``test_bias_<kind>_kcal_mol``: mean signed error
  per frame — radicals vs closed-shell parents is what a BDE is made of); with ``data.test_qm9``, the
  energy and force errors on molecules of QM9's test split (``test_qm9_*``: the training molecules'
  own distribution, never trained on at any size); and in sample (``train_*``: ~2,000 frames of the run's
  own data file, :func:`training_sample`; where the data is here) — the gap between the two is what more
  data could close;
- ``precomputed/study/seed_spread.parquet`` — seed σ(D_ij) per bond type for every configuration
  trained with ≥ 2 seeds alike (same corpus geometries for every member; :func:`seeds_alike`);
  ``quantity_spread.parquet`` the same for every bond-energy quantity of the BDE rows; and
  ``seed_mean.parquet`` the seeds' D_ij averaged bond by bond against the labels' rigid BDE, beside
  the seeds one by one (:func:`e3d.ensemble.seed_mean_parity`: how much of the error averages out);
- ``precomputed/study/configurations.parquet`` — one row per configuration: what sets it, the mean and
  standard deviation over its seeds of the main columns above and its seed σ(D_ij)
  (:func:`configuration_table`); ``scaling.parquet`` the rows of the config's ``scaling`` series;
- ``precomputed/study/curves.parquet`` — validation curves of every run;
- ``precomputed/study/models/ID.nequip.zip`` (+ card) — the trained models, so that the table can be
  regenerated and the app can show them; every run keeps its last and best checkpoints in
  ``precomputed/study/checkpoints/`` so that a later session resumes it (unfinished, or its step
  budget raised in the config while it has not converged).

Data: GFN2-xTB labels of the curated corpus without the BDE-table parents plus the first N QM9
molecules (``e3d data xtb --corpus train-heldout+qm9:N``; nested by construction), built on
demand; smaller data kinds are frame-kind subsets of the same file; ``extra_radical_bonds: K`` adds
the rigid radicals of K more broken bonds per QM9 parent (labelled once, the next seed picks the
bonds; ``…_rad+K.extxyz``); ``model_minima: ID`` adds the run's parents and radicals at run ID's model
minima and half-way there, labelled again (:mod:`e3d.data.model_minima`; ``…_min-ID.extxyz``);
``at_rest: M`` adds the equilibrium frames of QM9 molecules N+1…M (molecules at rest beside the N in
every kind, cut from the M-molecule set, which is built whole where missing; ``…_rest-M.extxyz``).
Train and validation frames are nequip's random 90/10 frame split, or, for a
run with ``split: parent``, split by parent molecule (:func:`e3d.data.build.parent_split`; one validation set
for every seed, drawn with the study's data seed), with ``curated_repeats: K`` the curated molecules' train
frames K times.  A run with ``init_from: ID``
fine-tunes run ID's model (with its own ``overrides``, e.g. loss weights) instead of starting afresh;
a run with ``config: FILE`` trains with that config instead of the study's ``base_config`` (e.g. the
edge prior's, configs/emergence_edge_prior.yaml).
"""

from __future__ import annotations

import datetime
import glob
import json
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import yaml

from .convergence import converged, merge_curves
from .data.build import VARIANT_KINDS
from .ensemble import seed_sigma_by_group
from .errors import E3DError
from .cards import MODEL_SUFFIXES, REPO_ROOT
from .verdict import TARGETS

STUDY_DIR = os.path.join(REPO_ROOT, "precomputed", "study")
RUNS_DIR = os.path.join("runs", "study", "runs")


def load_study(path: str) -> Dict[str, object]:
    if not os.path.exists(path):
        raise E3DError(f"study config not found: {path}")
    with open(path) as fh:
        try:
            study = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise E3DError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(study, dict):
        raise E3DError(f"{path}: the study config must be a mapping with base_config, data and runs")
    for key in ("base_config", "data", "runs"):
        if key not in study:
            raise E3DError(f"{path}: the study config needs '{key}'")
    if not isinstance(study["runs"], list) or not all(isinstance(r, dict) and "id" in r for r in study["runs"]):
        raise E3DError(f"{path}: runs must be a list of mappings, each with an id")
    ids = [r["id"] for r in study["runs"]]
    if len(set(ids)) != len(ids):
        raise E3DError(f"{path}: run ids must be unique")
    for r in study["runs"]:
        if r.get("kinds", "radicals") not in VARIANT_KINDS:
            raise E3DError(f"run {r['id']}: kinds must be one of {', '.join(VARIANT_KINDS)}")
        if r.get("split", "frames") not in SPLITS:
            raise E3DError(f"run {r['id']}: split must be one of {', '.join(SPLITS)}")
        if int(r.get("curated_repeats", 1)) > 1 and r.get("split") != "parent":
            raise E3DError(f"run {r['id']}: curated_repeats needs split: parent (repeated frames on both sides "
                           "of a frame split would be validated on what was trained)")
        if int(r.get("at_rest", 0)) and int(r["at_rest"]) <= int(r["n_qm9"]):
            raise E3DError(f"run {r['id']}: at_rest ({r['at_rest']}) must exceed n_qm9 ({r['n_qm9']}): it adds "
                           "the equilibrium frames of the molecules beyond them")
        if "config" in r and not os.path.exists(run_config(study, r)):
            raise E3DError(f"run {r['id']}: config {r['config']} not found")
    groups = {describe(r)["group"] for r in study["runs"]}
    unknown = [g for g in study.get("scaling", []) if g not in groups]
    if unknown:
        raise E3DError(f"{path}: scaling names configurations no run belongs to: {', '.join(unknown)}")
    return study


SPLITS = ("frames", "parent")  # nequip's random frame split; by parent molecule (e3d.data.build.parent_split)


def _size_tag(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def dataset_path(study: Dict[str, object], n_qm9: int, kinds: str = "radicals", extra_radical_bonds: int = 0,
                 model_minima: str = "", at_rest: int = 0) -> str:
    folder = study["data"].get("dir", os.path.join("runs", "data", "study"))
    suffix = ("" if kinds == "radicals" else f"_{kinds}") + (f"_rad+{extra_radical_bonds}" if extra_radical_bonds else "")
    suffix += f"_min-{_model_tag(model_minima)}" if model_minima else ""
    suffix += f"_rest-{_size_tag(at_rest)}" if at_rest else ""
    return os.path.join(folder, f"xtb_radicals_heldout_qm9-{_size_tag(n_qm9)}{suffix}.extxyz")


def _model_tag(ref: str) -> str:
    """A study run id, or a model file's name without its folder and suffix (a file-name part)."""
    name = os.path.basename(ref)
    return next((name.removesuffix(s) for s in MODEL_SUFFIXES if name.endswith(s)), name)


def run_dataset(study: Dict[str, object], run: Dict[str, object]) -> str:
    return dataset_path(study, int(run["n_qm9"]), run.get("kinds", "radicals"), int(run.get("extra_radical_bonds", 0)),
                        run.get("model_minima", ""), int(run.get("at_rest", 0)))


def molecules_at_rest(run: Dict[str, object]) -> int:
    """QM9 molecules whose equilibrium frames a run trains on: ``at_rest`` where set, else ``n_qm9``."""
    return int(run.get("at_rest", 0)) or int(run["n_qm9"])


def prepare_data(study: Dict[str, object], run: Dict[str, object], progress: bool = True) -> str:
    """The run's training file, built (GFN2-xTB labels) or cut (frame kinds) if it is not there; for a
    ``split: parent`` run also its train and validation files (:func:`split_files`)."""
    from .data.build import parent_split

    out = _prepare_frames(study, run, progress)
    if run.get("split") == "parent":
        parent_split(out, **_split_settings(study, run))
    return out


def _split_settings(study: Dict[str, object], run: Dict[str, object]) -> Dict[str, object]:
    return {"seed": int(study["data"].get("seed", 0)), "curated_repeats": int(run.get("curated_repeats", 1))}


def split_files(study: Dict[str, object], run: Dict[str, object]) -> Optional[Tuple[str, str]]:
    """(train, validation) files of a ``split: parent`` run; None for nequip's frame split."""
    from .data.build import parent_split_paths

    if run.get("split") != "parent":
        return None
    return parent_split_paths(run_dataset(study, run), **_split_settings(study, run))


def trained_frames(study: Dict[str, object], run: Dict[str, object]) -> str:
    """The file a run's training frames come from: its train split (``split: parent``) or its whole set
    (nequip's frame split: nine frames in ten trained on) — what the in-sample error is taken on."""
    split = split_files(study, run)
    return split[0] if split else run_dataset(study, run)


def _prepare_frames(study: Dict[str, object], run: Dict[str, object], progress: bool = True) -> str:
    from .data.build import build_dataset, combine_frames, corpus_items, env_workers, subset_frames, xtb_labeller

    n, kinds, extra = int(run["n_qm9"]), run.get("kinds", "radicals"), int(run.get("extra_radical_bonds", 0))
    full = dataset_path(study, n)
    settings = {k: study["data"][k] for k in ("n_thermal", "n_stretch", "n_radical_bonds") if k in study["data"]}
    seed = int(study["data"].get("seed", 0))
    if not os.path.exists(full + ".json"):  # the provenance is written last: its absence means unfinished
        corpus = "+".join(filter(None, [study["data"].get("corpus"), f"qm9:{n}"]))
        build_dataset(corpus_items(corpus), full, xtb_labeller(), variant="radicals",
                      seed=seed, progress=progress, resume=True, workers=env_workers(), **settings)
    out = run_dataset(study, run)
    if out == full or os.path.exists(out + ".json"):
        return out
    if run.get("at_rest"):  # the run's frames + the equilibrium frames of the molecules beyond its n_qm9
        plain = _prepare_frames(study, {k: v for k, v in run.items() if k != "at_rest"}, progress)
        m = int(run["at_rest"])
        rest = _prepare_frames(study, {"id": run["id"], "n_qm9": m, "kinds": "eq"}, progress)
        beyond = rest.replace(".extxyz", f"_beyond-{_size_tag(n)}.extxyz")
        if not os.path.exists(beyond + ".json"):
            import ase.io

            have = {a.info.get("parent") for a in ase.io.iread(plain)}
            subset_frames(rest, beyond, kinds=("eq",), exclude_parents=have)
        combine_frames([plain, beyond], out)
        return out
    if run.get("model_minima"):  # the run's frames without them + its species at another run's model minima
        from .data.model_minima import build_model_minima

        plain = _prepare_frames(study, {k: v for k, v in run.items() if k != "model_minima"}, progress)
        minima = plain.replace(".extxyz", f"_minima-{_model_tag(run['model_minima'])}.extxyz")
        if not os.path.exists(minima + ".json"):
            build_model_minima(plain, study_model(run["model_minima"], f"run {run['id']}: model_minima"), minima,
                               progress=progress, workers=env_workers())
        combine_frames([plain, minima], out)
        return out
    base = full if kinds == "radicals" else dataset_path(study, n, kinds)
    if base != full and not os.path.exists(base + ".json"):
        subset_frames(full, base, kinds=VARIANT_KINDS[kinds], variant=kinds)
    if not extra:
        return base
    # more broken bonds of the QM9 parents (other bonds: the next seed), their rigid radicals only
    supplement = full.replace(".extxyz", f"_radicals-supplement{extra}.extxyz")
    if not os.path.exists(supplement + ".json"):
        build_dataset(corpus_items(f"qm9:{n}"), supplement, xtb_labeller(), variant="radicals", seed=seed + 1,
                      progress=progress, resume=True, workers=env_workers(), kinds=("radical",),
                      **dict(settings, n_radical_bonds=extra))
    combine_frames([base, supplement], out)
    return out


def run_overrides(study: Dict[str, object], run: Dict[str, object], trainval: str,
                  extra: Sequence[str] = ()) -> List[str]:
    """Hydra overrides of a run: its data, seed, cutoff and step budget, ``extra``, then its own.
    ``trainval_file`` is the whole set either way (the model card's provenance and training domain)."""
    out = [f"trainval_file={trainval}", f"test_file={study['data']['test']}", f"seed={int(run.get('seed', 1))}",
           f"cutoff_radius={float(run.get('r_max', 3.0))}", f"++trainer.max_steps={int(run['steps'])}"]
    split = split_files(study, run)
    if split:
        out += ["~data.split_dataset", f"+data.train_file_path={split[0]}", f"+data.val_file_path={split[1]}"]
    return out + list(extra) + list(run.get("overrides", []))


def init_model(run: Dict[str, object], study_dir: str = STUDY_DIR) -> Optional[str]:
    """The model a run fine-tunes (``init_from``: another run's id in the study, or a model file), or None."""
    parent = run.get("init_from")
    return study_model(str(parent), f"run {run['id']}: init_from", study_dir) if parent else None


def study_model(ref: str, what: str, study_dir: str = STUDY_DIR) -> str:
    """The model file ``ref`` names: a study run's model, or a model file (``what`` names the asker in the error)."""
    path = ref if os.path.exists(ref) else model_path(ref, study_dir)
    if not os.path.exists(path):
        raise E3DError(f"{what} {ref!r} is neither a study run with a model nor a model file")
    return path


def lineage(study: Dict[str, object], run: Dict[str, object], study_dir: Optional[str] = None) -> List[Dict[str, object]]:
    """The runs a run is fine-tuned from (``init_from`` study run ids, followed back), oldest first, then
    the run itself.  A fine-tune starts from its parent's model as it is when the fine-tune begins, so with
    ``study_dir`` the walk stops at a run that has begun there (a model or a checkpoint): its ancestors are
    not needed again (an unfinished ancestor is not resumed for a descendant that already started)."""
    by_id = {r["id"]: r for r in study["runs"]}
    chain = [run]
    while chain[0].get("init_from") in by_id and not (study_dir and _begun(chain[0]["id"], study_dir)):
        parent = by_id[chain[0]["init_from"]]
        if parent in chain:
            raise E3DError(f"run {run['id']}: init_from goes round in a circle")
        chain.insert(0, parent)
    return chain


def _begun(run_id: str, study_dir: str) -> bool:
    return os.path.exists(model_path(run_id, study_dir)) or os.path.exists(checkpoint_path(run_id, study_dir))


def model_path(run_id: str, study_dir: str = STUDY_DIR) -> str:
    return os.path.join(study_dir, "models", f"{run_id}.nequip.zip")


def checkpoint_path(run_id: str, study_dir: str = STUDY_DIR, which: str = "last") -> str:
    return os.path.join(study_dir, "checkpoints", f"{run_id}.{which}.ckpt")


def restart_timer(checkpoint: str) -> Dict[str, object]:
    """Forget the wall time a checkpoint has spent, so that ``max_time`` is a budget per call (Lightning
    restores its Timer callback's elapsed time on resume and would stop a resumed run at once).  Returns the
    checkpoint as it now is (epoch, global_step, … for whoever reports where the run goes on from)."""
    import torch

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)  # our own nequip-train checkpoint
    callbacks = ckpt.get("callbacks", {})
    timers = [k for k in callbacks if "Timer" in str(k)]
    if timers:
        for k in timers:
            del callbacks[k]
        torch.save(ckpt, checkpoint)
    return ckpt


def steps_done(run_dir: str) -> int:
    """Optimiser steps of a run so far: its CSV log's last step, or its last checkpoint's global step
    (the log is the later one when max_steps stops a run between checkpoints; only the checkpoint
    survives a session)."""
    import torch

    steps = 0
    logs = glob.glob(os.path.join(run_dir, "csv", "version_*", "metrics.csv"))
    if logs:
        steps = int(max(pd.read_csv(f)["step"].max() for f in logs)) + 1
    last = os.path.join(run_dir, "last.ckpt")
    if os.path.exists(last):
        # our own checkpoint, written by nequip-train (never a user's file); Lightning pickles hyper-parameters
        steps = max(steps, int(torch.load(last, map_location="cpu", weights_only=False)["global_step"]))
    return steps


def convergence_rule(study: Dict[str, object], run: Dict[str, object]) -> Dict[str, object]:
    """Parameters of the convergence test for a run (:func:`e3d.convergence.converged`): the study's
    ``convergence`` mapping, then the run's own; the defaults where neither sets one."""
    return {**study.get("convergence", {}), **run.get("convergence", {})}


def run_finished(study: Dict[str, object], run: Dict[str, object], steps: int,
                 curve: pd.DataFrame) -> Tuple[bool, bool]:
    """(finished, converged) of a run with ``steps`` done and this validation ``curve``: finished when
    its step budget is spent or its curve has converged (:func:`convergence_rule`)."""
    done = converged(curve, **convergence_rule(study, run))
    return steps >= int(run["steps"]) or done, done


def train_run(study: Dict[str, object], run: Dict[str, object], max_time: Optional[str] = None,
              study_dir: str = STUDY_DIR, progress: bool = True) -> str:
    """Train (or resume) one run until its curve converges, its step budget is spent or ``max_time``
    (DD:HH:MM:SS or HH:MM:SS, :func:`e3d.train.wall_time`) has passed; package it.

    Returns ``"finished"`` (step budget spent), ``"converged"`` (stopped by the convergence test,
    :mod:`e3d.convergence`), ``"interrupted"`` (time budget spent: the last checkpoint is kept under
    ``study_dir/checkpoints`` and the best model so far is packaged, marked unfinished) or ``"done"``
    (the model was already there, converged or at its step budget).
    """
    from .cards import read_card
    from .train import run_training, wall_time

    max_time = wall_time(max_time) if max_time else None  # before any work: a bad budget fails fast
    out = model_path(run["id"], study_dir)
    kept = read_card(out)  # the earlier sessions' curve and hours, before packaging rewrites the card
    if run_finished(study, run, kept.get("study", {}).get("steps_done", 0), _kept_curve(kept))[0]:
        return "done"  # (a budget raised since then resumes an unconverged run from its kept checkpoints)
    trainval = prepare_data(study, run, progress)
    run_dir = os.path.join(RUNS_DIR, run["id"])
    os.makedirs(run_dir, exist_ok=True)
    if not os.path.exists(os.path.join(run_dir, "last.ckpt")) and os.path.exists(checkpoint_path(run["id"], study_dir)):
        for which in ("last", "best"):  # a new session: the kept checkpoints go back into the run folder
            shutil.copy(checkpoint_path(run["id"], study_dir, which), os.path.join(run_dir, f"{which}.ckpt"))
    resume = os.path.exists(os.path.join(run_dir, "last.ckpt"))
    if resume:
        restart_timer(os.path.join(run_dir, "last.ckpt"))
    history = os.path.abspath(os.path.join(run_dir, "curve_before.json"))  # for the stop rule: earlier sessions
    with open(history, "w") as f:
        json.dump(merge_curves(_kept_curve(kept), read_curve(run_dir)).to_dict("records"), f)
    stop = ["convergence.enabled=true", f"convergence.history={history}",
            *(f"convergence.{k}={v}" for k, v in convergence_rule(study, run).items())]
    overrides = run_overrides(study, run, trainval, [f"trainer.max_time={max_time or 'null'}",
                                                     "trainer.enable_progress_bar=false", *stop])
    # a fine-tune is built the same way every time (its parent's model), so that its checkpoint fits on resume
    init_from = init_model(run, study_dir)
    run_training(run_config(study, run), run_dir, overrides, resume=resume, init_from=init_from)
    return package_run(study, run, study_dir, kept=kept)  # packaged once (the card reads the whole data file)


def train_runs(study: Dict[str, object], runs: Sequence[Dict[str, object]], max_time: Optional[str] = None,
               parallel: int = 1, study_dir: str = STUDY_DIR, progress: bool = True) -> List[str]:
    """:func:`train_run` over ``runs``, up to ``parallel`` at once (one nequip-train process each; on a
    CPU give each its own core, OMP_NUM_THREADS=1).  Their datasets are built first, one after the
    other, because runs share them.  Returns the statuses in the order of ``runs``."""
    from concurrent.futures import ThreadPoolExecutor

    for run in runs:
        prepare_data(study, run, progress)
    test = study["data"].get("test")
    if runs and test and not os.path.exists(test):  # nequip tests each run at its end: fail before hours of training
        raise E3DError(f"the study's held-out test set {test} is missing: build it first (the study config names the "
                       "command, `python -m e3d data xtb --corpus eval --seed 2 --out …`)")
    with ThreadPoolExecutor(max(1, int(parallel))) as pool:  # threads: each waits on its own subprocess
        return list(pool.map(lambda run: train_run(study, run, max_time, study_dir, progress), runs))


def package_run(study: Dict[str, object], run: Dict[str, object], study_dir: str = STUDY_DIR,
                kept: Optional[Dict[str, object]] = None) -> str:
    """Package a run's best checkpoint into the study (also for a run trained by hand with ``e3d train``
    into ``runs/study/runs/ID``); keep its last and best checkpoints for a later session."""
    from .cards import read_card
    from .train import finish_run, write_card

    run_dir = os.path.join(RUNS_DIR, run["id"])
    if not os.path.exists(os.path.join(run_dir, "best.ckpt")):
        raise E3DError(f"run {run['id']}: no checkpoint in {run_dir}")
    out = model_path(run["id"], study_dir)
    # the earlier sessions' curve and hours live in the card that packaging rewrites: ``kept`` is the card
    # as it was before this session's training (train_run reads it first)
    kept = read_card(out) if kept is None else kept
    earlier = _kept_curve(kept)
    sessions = _merged_sessions(_kept_sessions(kept), _run_dir_sessions(run_dir))
    trainval = run_dataset(study, run)
    card = finish_run(run_config(study, run), run_dir, out, run["id"],
                      run_overrides(study, run, trainval))
    steps = steps_done(run_dir)
    curve = merge_curves(earlier, read_curve(run_dir))
    finished, done = run_finished(study, run, steps, curve)
    card["study"] = {"study": study.get("name"), "finished": finished, "converged": done,
                     "steps_done": steps, **describe(run), "init_from_steps": _init_from_steps(run, kept, study_dir),
                     "curve": curve.to_dict("records"), "training_hours": sum(sessions.values()), "sessions": sessions}
    write_card(out, card)
    for which in ("last", "best"):  # kept also when finished (0.6 MB each): a raised step budget resumes it
        saved = checkpoint_path(run["id"], study_dir, which)
        os.makedirs(os.path.dirname(saved), exist_ok=True)
        shutil.copy(os.path.join(run_dir, f"{which}.ckpt"), saved)
    return "finished" if steps >= int(run["steps"]) else "converged" if done else "interrupted"


def _init_from_steps(run: Dict[str, object], kept: Dict[str, object], study_dir: str) -> Optional[int]:
    """Steps the run's ``init_from`` study run had done when this fine-tune began (its parent may train on
    later): read from the parent's card at the fine-tune's first packaging, then kept; None when unknown
    (fine-tunes packaged before session 17, or not a study parent)."""
    from .cards import read_card

    if kept.get("study"):
        return kept["study"].get("init_from_steps")
    parent = run.get("init_from")
    if not parent or not os.path.exists(model_path(str(parent), study_dir)):
        return None
    return read_card(model_path(str(parent), study_dir)).get("study", {}).get("steps_done")


_TRAIN_START = "TRAIN RUN START"  # nequip-train's log line as it starts or resumes a training (train.log)


def _run_dir_sessions(run_dir: str) -> Dict[str, float]:
    """Hours of each training of a run in ``run_dir``, keyed by its start (UTC, ISO): from each start nequip-train
    logged in train.log to the last write of the metrics its CSV logger kept then (csv/version_*/metrics.csv). A
    training that a session's end cut off, never packaged, counts too: its log and metrics stay in the directory."""
    log = os.path.join(run_dir, "train.log")
    starts = []
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            for line in f:
                if _TRAIN_START in line and line.startswith("["):
                    stamp = line[1:line.index("]")].replace(",", ".")
                    starts.append(datetime.datetime.fromisoformat(stamp).astimezone(datetime.timezone.utc))
    out: Dict[str, float] = {}
    for metrics in glob.glob(os.path.join(run_dir, "csv", "version_*", "metrics.csv")):
        end = datetime.datetime.fromtimestamp(os.path.getmtime(metrics), datetime.timezone.utc)
        began = max((s for s in starts if s <= end), default=None)
        if began is not None:
            key = began.isoformat(timespec="seconds")
            out[key] = max(out.get(key, 0.0), (end - began).total_seconds() / 3600)
    return out


def _merged_sessions(kept: Dict[str, float], measured: Dict[str, float]) -> Dict[str, float]:
    """The kept sessions (a card's, from earlier packagings) with those measured in the run directory
    (:func:`_run_dir_sessions`) in place of the same trainings: two trainings of one run never overlap in time, so
    a kept one whose span overlaps a measured one is that training (cards before session 44 began a session at its
    config's time, seconds before the log's start; keys are whole seconds, hence the 1 s)."""
    def _span(key: str, hours: float) -> Optional[Tuple[float, float]]:
        try:
            began = datetime.datetime.fromisoformat(key).timestamp()
        except ValueError:  # "earlier": a total from before sessions were kept
            return None
        return began, began + 3600 * hours + 1.0

    spans = [_span(k, h) for k, h in measured.items()]
    out = {}
    for key, hours in kept.items():
        span = _span(key, hours)
        if span is None or not any(a <= span[1] and span[0] <= b for a, b in spans):
            out[key] = hours
    return {**out, **measured}


def _kept_sessions(card: Dict[str, object]) -> Dict[str, float]:
    """Training hours per session kept in a study model's card, keyed by the session's start (so that
    packaging a run twice in one session counts its hours once); older cards kept only a total."""
    study = card.get("study", {})
    if study.get("sessions"):
        return dict(study["sessions"])
    return {"earlier": float(study["training_hours"])} if study.get("training_hours") else {}


def _kept_curve(card: Dict[str, object]) -> pd.DataFrame:
    """The curve of earlier sessions, kept in a study model's card (runs/ ends with a session)."""
    return pd.DataFrame(card.get("study", {}).get("curve") or [])


def packaged_curve(card: Dict[str, object], run_dir: str) -> pd.DataFrame:
    """The validation curve of a packaged study model: the card's copy merged with the run folder's log, up to the
    model's ``steps_done`` — a run stopped by hand after it was packaged has logged epochs that are not this model's."""
    log, steps = read_curve(run_dir), int(card.get("study", {}).get("steps_done", 0))
    if steps and "step" in log:  # cut before merging: a resumed epoch's later validation must not replace the card's
        log = log[log["step"] <= steps]
    return merge_curves(_kept_curve(card), log).reset_index(drop=True)


def run_config(study: Dict[str, object], run: Dict[str, object]) -> str:
    """The training config of a run: its own ``config`` (e.g. the edge prior's) or the study's ``base_config``."""
    return os.path.join(REPO_ROOT, run.get("config", study["base_config"]))


def describe(run: Dict[str, object]) -> Dict[str, object]:
    """The configuration columns of a run."""
    extra = int(run.get("extra_radical_bonds", 0))
    kinds = run.get("kinds", "radicals") + (f" (+{extra} broken bonds per QM9 parent)" if extra else "")
    if run.get("model_minima"):
        kinds += f" (+ its species at {run['model_minima']}'s minima)"
    if run.get("at_rest"):
        kinds += f" (+ QM9 molecules {int(run['n_qm9']) + 1:,}–{int(run['at_rest']):,} at rest)"
    split, repeats = "frames", int(run.get("curated_repeats", 1))
    if run.get("split") == "parent":
        split = "by parent" + (f", curated ×{repeats}" if repeats > 1 else "")
    return {"r_max": float(run.get("r_max", 3.0)), "kinds": kinds, "extra_radical_bonds": extra, "split": split,
            "n_qm9": int(run["n_qm9"]), "seed": int(run.get("seed", 1)), "steps": int(run["steps"]),
            "model_size": run.get("size", "default"), "init_from": str(run.get("init_from", "")),
            "config": run.get("config", ""), "group": run.get("group", run["id"].rsplit("-s", 1)[0])}


# --------------------------------------------------------------------------- evaluation


def read_curve(run_dir: str) -> pd.DataFrame:
    """Validation curve (epoch, step, validation metrics, learning rate) of a run's CSV log."""
    logs = sorted(glob.glob(os.path.join(run_dir, "csv", "version_*", "metrics.csv")))
    if not logs:
        return pd.DataFrame()
    df = pd.concat([pd.read_csv(f) for f in logs], ignore_index=True)
    cols = [c for c in df.columns if c.startswith("val0_epoch/")]
    val = df.dropna(subset=cols, how="all")[["epoch", "step", *cols]].groupby("epoch", as_index=False).last()
    val = val.rename(columns={c: c.split("/", 1)[1] for c in cols})
    # logged a step or so beside the epoch's validation (the learning rate one step after; the throughput at
    # the epoch's end, which a resumed run logs one step before its validation)
    for extra in ("lr-Adam", "train_frames_per_s"):
        if extra in df:
            logged = df.dropna(subset=[extra]).groupby("step", as_index=False)[extra].last()
            val = pd.merge_asof(val.sort_values("step"), logged.sort_values("step"), on="step",
                                direction="nearest", tolerance=2)
    return val.rename(columns={"lr-Adam": "learning_rate"})


TRAIN_SAMPLE_FRAMES = 2000  # in-sample errors: about this many frames of a run's data file


def training_sample(data_file: str, n: int = TRAIN_SAMPLE_FRAMES) -> Optional[str]:
    """About ``n`` evenly spaced frames of a run's data file (nine in ten of them its training frames, the
    rest its validation split), written once beside it; None where the data is not here (not shipped)."""
    import ase.io

    if not os.path.exists(data_file):
        return None
    out = data_file.removesuffix(".extxyz") + f".sample{n}.extxyz"
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(data_file):
        with open(data_file + ".json") as f:
            every = max(1, int(json.load(f)["n_frames"]) // n)
        ase.io.write(out + ".part", list(ase.io.iread(data_file, index=f"::{every}")), format="extxyz")
        os.replace(out + ".part", out)
    return out


def _errors(model, frames: Optional[str]) -> Dict[str, float]:
    """Energy and force errors of ``model`` on ``frames``, or {} where there are no such frames."""
    from .evaluate import evaluate

    return evaluate(model, frames) if frames and os.path.exists(frames) else {}


def evaluate_run(model_file: str, bde_rows: pd.DataFrame, molecules, cache,
                 test_file: Optional[str] = None, baseline: Optional[pd.Series] = None,
                 test_qm9_file: Optional[str] = None, train_sample: Optional[str] = None) -> Dict[str, object]:
    """The metric columns of one trained model (see the module docstring); held-out errors on
    ``test_file`` (else from the card), with the mean signed energy error per frame kind, on
    ``test_qm9_file`` and, in sample, on ``train_sample`` (:func:`training_sample`); per-type
    medians of D against mean bond enthalpies and against ``baseline`` (the bond-additive fit to the
    run's own labels, kcal/mol per type)."""
    from .additivity import sum_rule_metrics, with_additivity_gap
    from .bde import (bde_metrics, bde_table, error_budget, flat_metrics, headline_mask, model_quantity,
                      relaxation_term, with_additive_fit)
    from .bondtypes import bond_type_stats, corpus_pairs, type_energy_agreement, weighted_entropy
    from .model import load_model
    from .units import KCAL_PER_EV

    model = load_model(model_file, device="cpu", dtype="float64")
    card = model.card
    test = _errors(model, test_file) or (card.get("metrics") or {}).get("test", {})
    # the other two sets in the precision the model was trained in (the study's recipe: float32, ~2× faster
    # than float64; MAEs are read there, no sum rule)
    as_trained = load_model(model_file, device="cpu")
    test_qm9, in_sample = _errors(as_trained, test_qm9_file), _errors(as_trained, train_sample)
    usable = [m for m in molecules if set(m.symbols) <= set(model.usable_type_names)]
    pairs = corpus_pairs(model, usable)
    stats = bond_type_stats(pairs[pairs["bonded"]])
    bde = with_additivity_gap(bde_table(model, bde_rows, reference="GFN2-xTB", progress=False, cache=cache,
                                        thermal=True), cache, progress=False)
    bde = with_additive_fit(bde, baseline if baseline is not None else pd.Series(dtype=float))
    rows = headline_mask(bde, model)
    metrics = flat_metrics(bde_metrics(bde, model_quantity(model), rows))

    out = {
        "n_frames": card.get("n_training_frames"),
        "test_energy_mae_meV_atom": 1000 * test.get("per_atom_energy_mae", np.nan),
        "test_forces_mae_eV_A": test.get("forces_mae", np.nan),
        "test_qm9_energy_mae_meV_atom": 1000 * test_qm9.get("per_atom_energy_mae", np.nan),
        "test_qm9_forces_mae_eV_A": test_qm9.get("forces_mae", np.nan),
        "train_energy_mae_meV_atom": 1000 * in_sample.get("per_atom_energy_mae", np.nan),
        "train_forces_mae_eV_A": in_sample.get("forces_mae", np.nan),
        "bde_n": int(rows.sum()),
        "f_bond_mean": float(pairs.groupby("molecule")["f_bond"].first().mean()),
        "entropy_weighted_nats": weighted_entropy(stats),
        **type_energy_agreement(stats, baseline if baseline is not None else pd.Series(dtype=float)),
        **{f"test_bias_{k}_kcal_mol": KCAL_PER_EV * test.get(f"{k}_energy_bias", np.nan)
           for k in VARIANT_KINDS["radicals"]},
        **error_budget(bde, rows),
        **relaxation_term(bde, rows),
        **sum_rule_metrics(bde, rows),
    }
    for key in ("d_vs_rigid", "d_vs_relaxed", "d_vs_exp298", "cut_vs_rigid", "cut_vs_relaxed", "cut_vs_exp298",
                "relaxed_est_vs_relaxed", "relaxed_est_vs_exp298", "frag_vs_relaxed", "ref_vs_exp298", "fit_vs_rigid"):
        out[f"{key}_mae"], out[f"{key}_rho"] = metrics.get(f"{key}_mae", np.nan), metrics.get(f"{key}_rho", np.nan)
    return {"out": out, "pairs": pairs, "bde": bde.assign(headline=rows)}


def _baselines(study: Dict[str, object], runs: Sequence[Dict[str, object]], study_dir: str) -> pd.DataFrame:
    """Bond-additive baselines of the runs' datasets (every frame kind shares the equilibrium frames of
    the full set), fitted where the data is here, else kept from ``baseline.parquet`` in the study folder."""
    from .bondtypes import baseline_table

    path = os.path.join(study_dir, "baseline.parquet")
    saved = pd.read_parquet(path) if os.path.exists(path) else None
    files = {os.path.join(REPO_ROOT, dataset_path(study, molecules_at_rest(r))) for r in runs}
    tables = [t for t in (baseline_table(os.path.basename(f), f, saved) for f in sorted(files)) if len(t)]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(table):
        os.makedirs(study_dir, exist_ok=True)
        table.to_parquet(path, index=False)
    return table


SEEDS_ALIKE = 0.75  # an unconverged seed joins its group's spread once it has this fraction of the most steps


def accuracy_vs_energy_error(table: pd.DataFrame, target: float = TARGETS["d_vs_rigid"][1]) -> Dict[str, float]:
    """Across a study's runs, the error budget's accuracy term (mean |model's rigid BDE − labels'|,
    kcal/mol) against the held-out energy error (meV/atom): Pearson r, the least-squares line, and the
    held-out error at which the line reaches ``target`` (the D_ij-vs-rigid MAE target) — how accurate the
    energy must be before the learned bond energies can be (docs/E3D_METHOD.md §4c)."""
    ok = table[["test_energy_mae_meV_atom", "budget_accuracy_mae"]].dropna()
    out = {"n": len(ok), "target": target, "r": np.nan, "slope": np.nan, "intercept": np.nan,
           "needed_meV_atom": np.nan, "best_meV_atom": np.nan}
    if len(ok) < 3:
        return out
    x, y = ok["test_energy_mae_meV_atom"].to_numpy(), ok["budget_accuracy_mae"].to_numpy()
    slope, intercept = np.polyfit(x, y, 1)
    out.update(r=float(np.corrcoef(x, y)[0, 1]), slope=float(slope), intercept=float(intercept),
               needed_meV_atom=float((target - intercept) / slope) if slope > 0 else np.nan,
               best_meV_atom=float(x.min()))
    return out


def seeds_alike(runs: pd.DataFrame) -> List[str]:
    """The runs of one configuration trained alike: converged, or with steps_done ≥ SEEDS_ALIKE × the most.
    A seed far behind the others (a run still catching up across sessions) would show training, not seed,
    spread; a seed the convergence test stopped early is as trained as it gets."""
    converged = runs["converged"].astype(bool) if "converged" in runs else False
    return list(runs.loc[converged | (runs["steps_done"] >= SEEDS_ALIKE * runs["steps_done"].max()), "run_id"])


CONFIGURATION_METRICS = {  # study column → what it measures (units); mean and standard deviation over seeds
    "d_vs_rigid_mae": "D_ij vs rigid labels: MAE (kcal/mol)",
    "d_vs_rigid_rho": "D_ij vs rigid labels: Spearman ρ",
    "d_vs_relaxed_mae": "D_ij vs relaxed labels: MAE (kcal/mol)",
    "d_plus_gap_vs_rigid_mae": "D_ij + G/n (the labels' additivity gap per bond) vs rigid labels: MAE (kcal/mol)",
    "cut_vs_rigid_mae": "fragment cut vs rigid labels: MAE (kcal/mol)",
    "relaxed_est_vs_relaxed_mae": "relaxed estimate vs relaxed labels: MAE (kcal/mol)",
    "relaxation_term_mean": "relaxation term, mean (kcal/mol; < 0: the model relaxes fragments too far)",
    "d_vs_exp298_mae": "D_ij vs experiment (298 K): MAE (kcal/mol)",
    "median_D_r2_vs_mbe": "type medians of D_ij vs mean bond enthalpies: R²",
    "test_energy_mae_meV_atom": "held-out energy MAE (meV/atom)",
    "test_forces_mae_eV_A": "held-out force MAE (eV/Å)",
    "test_qm9_energy_mae_meV_atom": "held-out QM9 molecules (test split): energy MAE (meV/atom)",
    "train_energy_mae_meV_atom": "in sample (its own training data): energy MAE (meV/atom)",
    "median_D_r2_vs_baseline": "type medians vs the labels' bond-additive fit: R²",
    "test_bias_radical_kcal_mol": "held-out radicals: mean signed energy error (kcal/mol per frame)",
    "epochs": "passes over the training frames",
    "training_time_h": "training time (h, one CPU core)",
}


CONFIGURATION_QUANTITIES = {  # configurations.parquet (scaling.parquet) column → label; *_mean has *_std beside it
    **{f"{col}_mean": label for col, label in CONFIGURATION_METRICS.items()},
    "sigma_worst": "seed σ(D_ij), worst bond type (kcal/mol)",
    "sigma_median": "seed σ(D_ij), median over bond types (kcal/mol)",
}


def spread_column(quantity: str) -> Optional[str]:
    """The standard-deviation column beside a :data:`CONFIGURATION_QUANTITIES` column (``x_mean`` → ``x_std``;
    ``relaxation_term_mean_mean`` → ``relaxation_term_mean_std``), None for one without (seed σ)."""
    return quantity[:-len("_mean")] + "_std" if quantity.endswith("_mean") else None


SEED_MEAN_COLUMNS = {  # seed_mean.parquet column → label
    "group": "configuration", "n_seeds": "seeds", "n": "bonds",
    "seed_mean_mae": "seed-mean D̄_ij vs rigid: MAE (kcal/mol)", "seed_mean_rho": "seed-mean D̄_ij vs rigid: ρ",
    "member_mae": "one seed vs rigid (mean over seeds): MAE (kcal/mol)", "member_rho": "one seed vs rigid: ρ"}


CONFIGURATION_COLUMNS = ("r_max", "kinds", "n_qm9", "n_frames", "model_size", "init_from")  # what sets a configuration


def configuration_table(table: pd.DataFrame, spread: pd.DataFrame, groups: Optional[Sequence[str]] = None
                        ) -> pd.DataFrame:
    """One row per configuration (``group``: its runs differ only in the seed), in the order of ``groups``
    (default: every group, in the table's order): what sets it (:data:`CONFIGURATION_COLUMNS`), the seeds
    trained alike (:func:`seeds_alike`), how many converged, each :data:`CONFIGURATION_METRICS` column's mean
    and standard deviation over them, and the seed σ(D_ij) of the group (:func:`seed_sigma_by_group`).
    A group without runs yet has no row."""
    sigma = seed_sigma_by_group(spread)
    rows = []
    for group in (dict.fromkeys(table["group"]) if groups is None else groups):
        runs = table[table["group"] == group]
        if not len(runs):
            continue
        alike = runs[runs["run_id"].isin(seeds_alike(runs))]
        row = {"group": group, **{c: alike[c].iloc[0] for c in CONFIGURATION_COLUMNS if c in alike},
               "seeds": len(alike), "converged": int(alike["converged"].astype(bool).sum()),
               "steps_done_min": int(alike["steps_done"].min())}
        for col in CONFIGURATION_METRICS:
            values = alike[col].astype(float) if col in alike else pd.Series(dtype=float)
            row[f"{col}_mean"] = float(values.mean()) if len(values) else float("nan")
            row[f"{col}_std"] = float(values.std(ddof=1)) if len(values) >= 2 else float("nan")
        if group in sigma.index:
            g = sigma.loc[group]
            row.update(sigma_worst_type=g["worst_type"], sigma_worst=float(g["worst"]),
                       sigma_median=float(g["median"]), sigma_seeds=int(g["n_seeds"]))
        else:
            row.update(sigma_worst_type=None, sigma_worst=float("nan"), sigma_median=float("nan"), sigma_seeds=0)
        rows.append(row)
    return pd.DataFrame(rows)


def scaling_table(table: pd.DataFrame, spread: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """The study's scaling series (``groups``: configurations that differ only in the number of QM9 molecules):
    their :func:`configuration_table` rows, smallest training set first."""
    out = configuration_table(table, spread, groups)
    return out.sort_values("n_qm9", ignore_index=True) if len(out) else out


EVALUATION_VERSION = 2  # bump when evaluate_run's results change for the same inputs (invalidates cached runs)
EVAL_CACHE = os.path.join("runs", "study_eval_cache")


IN_SAMPLE_COLUMNS = ("train_energy_mae_meV_atom", "train_forces_mae_eV_A")


def kept_in_sample(table: pd.DataFrame, previous: Optional[pd.DataFrame]) -> pd.DataFrame:
    """``table`` with the in-sample errors of runs whose training data is not here (NaN) taken from
    ``previous`` (the study table written before) where the same run had the same ``steps_done``, i.e. the
    same weights: the data files are rebuilt on demand for training (16k: ~26 min), not kept for evaluation."""
    if previous is None or not len(table) or not set(IN_SAMPLE_COLUMNS) <= set(previous.columns):
        return table
    old = previous.set_index(["run_id", "steps_done"])[list(IN_SAMPLE_COLUMNS)]
    out = table.copy()
    missing = out[IN_SAMPLE_COLUMNS[0]].isna()
    keys = pd.MultiIndex.from_frame(out.loc[missing, ["run_id", "steps_done"]])
    kept = old.reindex(keys)
    for col in IN_SAMPLE_COLUMNS:
        out.loc[missing, col] = kept[col].to_numpy()
    return out


def _cached_evaluation(cache_dir: Optional[str], run_id: str, shared_key: str, inputs: Sequence[Optional[str]],
                       baseline: pd.Series, evaluate) -> Dict[str, object]:
    """``evaluate()`` (:func:`evaluate_run`'s result), or the one saved for the same inputs: ``shared_key`` (what
    every run is evaluated on), the bytes of the run's own files and the labels' bond-type fit."""
    from .cache import content_key, load_tables, save_tables

    if not cache_dir:
        return evaluate()
    key = content_key(inputs, shared_key, baseline.round(9).to_dict())
    folder = os.path.join(cache_dir, f"{run_id}-{key}")
    saved = load_tables(folder, ("out", "pairs", "bde"))
    if saved is not None:
        return {"out": saved["out"].to_dict(orient="records")[0], "pairs": saved["pairs"], "bde": saved["bde"]}  # dtypes kept
    result = evaluate()
    save_tables(folder, {"out": pd.DataFrame([result["out"]]), "pairs": result["pairs"], "bde": result["bde"]})
    return result


def evaluate_study(study: Dict[str, object], study_dir: str = STUDY_DIR, progress: bool = True,
                   cache_dir: Optional[str] = None) -> pd.DataFrame:
    """Evaluate every packaged run of the study; write the study tables; return the main one.

    ``cache_dir`` keeps each run's evaluation keyed by its inputs' content (the CLI uses runs/study_eval_cache/),
    so that a session which adds or extends one run evaluates that run only."""
    from tqdm.auto import tqdm

    from .bondtypes import baseline_per_type, corpus_molecules
    from .corpus import evaluation_corpus
    from .ensemble import bde_spread, bond_spread, seed_mean_parity, spread_by_quantity, spread_by_type
    from .cards import read_card
    from .bde import BDE_COLUMNS, BDE_VERSION
    from .cache import content_key
    from .corpus import BDE_REFERENCE, REFERENCE_ENERGIES
    from .references import ReferenceCache

    bde_path = study["data"].get("bde_table") or BDE_REFERENCE
    bde_rows = pd.read_csv(bde_path)
    reference_path = os.path.join(REPO_ROOT, "precomputed", REFERENCE_ENERGIES)
    cache = ReferenceCache.load(reference_path)
    corpus = evaluation_corpus()
    molecules = corpus_molecules(corpus)
    test, test_qm9 = study["data"].get("test"), study["data"].get("test_qm9")
    # what every run is evaluated on, hashed once (the held-out sets are MBs)
    shared_key = (content_key([bde_path, reference_path, test, test_qm9], corpus, BDE_COLUMNS, BDE_VERSION,
                              EVALUATION_VERSION)
                  if cache_dir else "")
    rows, curves, all_pairs, all_bde = [], [], [], []
    done = [r for r in study["runs"] if os.path.exists(model_path(r["id"], study_dir))]
    baselines = _baselines(study, done, study_dir)
    for run in tqdm(done, desc="study models", disable=not progress):
        path = model_path(run["id"], study_dir)
        card = read_card(path)
        curve = packaged_curve(card, os.path.join(RUNS_DIR, run["id"]))
        dataset = os.path.basename(dataset_path(study, molecules_at_rest(run)))
        baseline = baseline_per_type(baselines, dataset)
        sample = training_sample(os.path.join(REPO_ROOT, trained_frames(study, run)))
        result = _cached_evaluation(
            cache_dir, run["id"], shared_key, [path, sample], baseline,
            lambda: evaluate_run(path, bde_rows, molecules, cache, test, baseline, test_qm9, sample))
        steps = int(card.get("study", {}).get("steps_done", 0))
        finished, converged = run_finished(study, run, steps, curve)
        # the card's bookkeeping after the cached evaluation (keyed by the model's weights, not its card: a session
        # that finds hours an earlier one could not count repackages the card only)
        rows.append({"run_id": run["id"], **describe(run), "finished": finished,
                     "steps_done": steps, "converged": converged, "epochs": int(len(curve)), **result["out"],
                     "training_time_h": card.get("study", {}).get("training_hours", np.nan)})
        curves.append(curve.assign(run_id=run["id"]))
        all_pairs.append(result["pairs"].assign(model_id=run["id"]))
        all_bde.append(result["bde"].assign(model_id=run["id"]))
    table_path = os.path.join(study_dir, "emergence.parquet")
    table = kept_in_sample(pd.DataFrame(rows), pd.read_parquet(table_path) if os.path.exists(table_path) else None)
    os.makedirs(study_dir, exist_ok=True)
    table.to_parquet(table_path, index=False)
    if curves:
        pd.concat(curves, ignore_index=True).to_parquet(os.path.join(study_dir, "curves.parquet"), index=False)
    spreads, by_quantity, seed_means = [], [], []
    if len(table):
        pairs, bde = pd.concat(all_pairs, ignore_index=True), pd.concat(all_bde, ignore_index=True)
        for group, runs in table.groupby("group"):
            members = seeds_alike(runs)
            if len(members) >= 2:
                spreads.append(spread_by_type(bond_spread(pairs, members)).assign(group=group, n_seeds=len(members)))
                by_quantity.append(spread_by_quantity(bde_spread(bde, members)).assign(
                    group=group, n_seeds=len(members)))
                seed_means.append({"group": group, **seed_mean_parity(bde, members)})
    spread = pd.concat(spreads, ignore_index=True) if spreads else pd.DataFrame()
    if spreads:
        spread.to_parquet(os.path.join(study_dir, "seed_spread.parquet"), index=False)
        pd.concat(by_quantity, ignore_index=True).to_parquet(os.path.join(study_dir, "quantity_spread.parquet"),
                                                             index=False)
        pd.DataFrame(seed_means).to_parquet(os.path.join(study_dir, "seed_mean.parquet"), index=False)
    if len(table):
        configuration_table(table, spread).to_parquet(os.path.join(study_dir, "configurations.parquet"), index=False)
    if len(table) and study.get("scaling"):
        scaling_table(table, spread, study["scaling"]).to_parquet(os.path.join(study_dir, "scaling.parquet"), index=False)
    return table
