"""Training Allegro models with nequip-train (Lightning), packaging them, and writing model cards.

``python -m e3d train CONFIG`` = ``nequip-train`` on a committed Hydra config, then
``nequip-package`` of the best checkpoint, then a model card next to the package with
the dataset's provenance, the hyper-parameters, the training time and hardware, and the
held-out test errors read from the run's own CSV log.  Training resumes from
``RUN/last.ckpt`` with ``--resume``.  The same config runs on many GPUs/nodes by
overriding ``trainer.devices``, ``trainer.num_nodes`` and ``trainer.strategy=ddp``.
"""

from __future__ import annotations

import datetime
import glob
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

from .errors import E3DError
from .cards import REPO_ROOT, card_path, read_card

SHIFT_TOLERANCE_EV = 1e-6
METRIC_UNITS = {"per_atom_energy_mae": "eV/atom", "total_energy_mae": "eV/molecule", "forces_mae": "eV/Å"}  # cards


_HYDRA_LOCK = threading.Lock()


def wall_time(text: str) -> str:
    """A wall-time budget as Lightning's Timer wants it (DD:HH:MM:SS, each field two digits at most):
    ``HH:MM:SS`` or ``DD:HH:MM:SS`` with any field over its range (``00:00:120:00``) carried over."""
    fields = str(text).strip().split(":")
    if len(fields) not in (3, 4) or not all(f.isdigit() for f in fields):
        raise E3DError(f"{text!r} is not a wall time: give DD:HH:MM:SS or HH:MM:SS, e.g. 00:02:00:00")
    seconds = sum(int(value) * unit for value, unit in zip(reversed(fields), (1, 60, 3600, 86400)))
    if seconds == 0 or seconds >= 100 * 86400:
        raise E3DError(f"{text!r}: the wall time must be over zero and under 100 days")
    days, rest = divmod(seconds, 86400)
    return f"{days:02d}:{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def load_config(config_path: str, overrides: Optional[List[str]] = None) -> Dict[str, object]:
    """The composed Hydra config (defaults and overrides applied) as a plain dict, without running anything.

    Top-level file paths (``trainval_file``, ``test_file``) and ``data.seed`` come back resolved.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    if not os.path.exists(config_path):
        raise E3DError(f"config not found: {config_path}")
    with _HYDRA_LOCK:  # Hydra's compose state is global: one at a time (e3d study --parallel trains in threads)
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=os.path.dirname(os.path.abspath(config_path)), version_base=None):
                cfg = compose(config_name=os.path.splitext(os.path.basename(config_path))[0],
                              overrides=[o for o in overrides or [] if not o.lstrip("+").startswith("hydra.")])
        except Exception as exc:  # Hydra, OmegaConf and YAML each raise their own kinds for a bad config or override
            raise E3DError(f"{config_path}: cannot compose the config ({' '.join(str(exc).split())})") from None
        finally:
            GlobalHydra.instance().clear()
    out = OmegaConf.to_container(cfg, resolve=False)
    if not isinstance(out.get("training_module"), dict) or "model" not in out["training_module"]:
        raise E3DError(f"{config_path}: not a nequip training config (no training_module.model)")
    for key in ("trainval_file", "test_file", "data.seed"):
        parent, _, leaf = key.rpartition(".")
        where = out.get(parent) if parent else out
        if isinstance(where, dict) and leaf in where:
            where[leaf] = OmegaConf.select(cfg, key)
    model = out["training_module"]["model"]
    for key in model:  # resolve what is static (seed, r_max, …); data statistics stay symbolic
        try:
            value = OmegaConf.select(cfg, f"training_module.model.{key}")
            model[key] = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        except Exception:
            pass
    return out


def configured_shifts(model_cfg: Dict[str, object]) -> Tuple[object, bool]:
    """(per-type shifts μ, trainable) of a model config: its own, or a fine-tuning run's new ones."""
    for m in model_cfg.get("modifiers") or []:
        if m.get("modifier") == "modify_PerTypeScaleShift" and m.get("shifts") is not None:
            return m["shifts"], bool(m.get("shifts_trainable", False))
    return model_cfg.get("per_type_energy_shifts"), bool(model_cfg.get("per_type_energy_shifts_trainable", False))


def training_split(card: Dict[str, object], n_frames: int) -> Optional[Tuple[str, Dict[str, List[int]]]]:
    """Which frames of a model's training file nequip trained on and which it validated on: its seeded random
    split (``data.split_dataset`` of ``trainval_file``, nequip's own ``RandomSplitAndIndexDataset``) redone from
    the card's config and overrides, as (the file, {"train": indices, "val": indices, …}) for a file of
    ``n_frames`` frames (relative paths in a card are relative to the repository, as in
    :func:`~e3d.cards.parent_path`).  None where the card has no config here or the run had no such split (the study's
    parent split writes separate files, each side measured on its own)."""
    from nequip.data.dataset.utils import RandomSplitAndIndexDataset

    config = card_config(card)
    if config is None:
        return None
    data = config.get("data") or {}
    split = data.get("split_dataset")
    if not isinstance(split, dict) or split.get("file_path") != "${trainval_file}" or data.get("seed") is None:
        return None
    fractions = {k: v for k, v in split.items() if k != "file_path"}
    sides = {name: list(RandomSplitAndIndexDataset(range(n_frames), fractions, name, int(data["seed"])).indices)
             for name in fractions}
    return training_file(card, config), sides


def card_config(card: Dict[str, object]) -> Optional[Dict[str, object]]:
    """The training config a model's card names, composed with its overrides; None where it is not here."""
    config_path = card.get("config") and os.path.join(REPO_ROOT, card["config"])
    if not config_path or not os.path.exists(config_path):
        return None
    return load_config(config_path, card.get("overrides"))


def training_file(card: Dict[str, object], config: Optional[Dict[str, object]] = None) -> Optional[str]:
    """The training file (``trainval_file``) a model's card names, as an absolute path (a relative one is relative
    to the repository); None where the card has no config here."""
    config = config if config is not None else card_config(card)
    if config is None or not config.get("trainval_file"):
        return None
    return os.path.join(REPO_ROOT, str(config["trainval_file"]))  # an absolute path stays as it is


def finetuned_from(model_cfg: Dict[str, object]) -> Optional[str]:
    """The model a fine-tuning run started from (None for a fresh model)."""
    base = model_cfg.get("model") if isinstance(model_cfg.get("model"), dict) else {}
    path = base.get("package_path") or base.get("checkpoint_path")
    return os.path.relpath(path, REPO_ROOT) if path else None


def check_isolated_atom_shifts(config: Dict[str, object], dataset_provenance: Optional[Dict[str, object]]) -> bool:
    """True when the config's fixed per-type shifts equal the dataset's isolated-atom energies."""
    shifts, trainable = configured_shifts(config["training_module"]["model"])
    if not isinstance(shifts, dict) or trainable:
        return False
    if not dataset_provenance or "isolated_atom_energies_eV" not in dataset_provenance:
        return False
    ref = dataset_provenance["isolated_atom_energies_eV"]
    return all(t in ref and abs(float(v) - float(ref[t])) < SHIFT_TOLERANCE_EV for t, v in shifts.items())


def dataset_shift_override(config: Dict[str, object]) -> Optional[str]:
    """For ``per_type_energy_shifts: from_dataset``: a Hydra override with the dataset's isolated atoms."""
    from .provenance import load_provenance

    if config["training_module"]["model"].get("per_type_energy_shifts") != "from_dataset":
        return None
    prov = load_provenance(config.get("trainval_file", ""))
    if not prov or "isolated_atom_energies_eV" not in prov:
        raise E3DError(f"per_type_energy_shifts: from_dataset, but {config.get('trainval_file')}.json "
                       "has no isolated_atom_energies_eV")
    refs = prov["isolated_atom_energies_eV"]
    types = config["model_type_names"]
    missing = [t for t in types if t not in refs]
    if missing:
        raise E3DError(f"the dataset has no isolated-atom energy for {', '.join(missing)}; "
                       f"set model_type_names to elements among {', '.join(refs)}")
    body = ",".join(f"{t}:{float(refs[t])!r}" for t in types)
    return f"training_module.model.per_type_energy_shifts={{{body}}}"


def read_metrics(run_dir: str) -> Dict[str, Dict[str, float]]:
    """Last validation and the test metrics from a run's Lightning CSV log."""
    import glob

    import pandas as pd

    files = sorted(glob.glob(os.path.join(run_dir, "csv", "version_*", "metrics.csv")))
    if not files:
        return {}
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    val_cols = [c for c in df.columns if c.startswith("val0_epoch/")]
    last_val_step = df.dropna(subset=val_cols, how="all")["step"].max() if val_cols else None
    out = {}
    for prefix, key in (("val0_epoch/", "validation"), ("test0_epoch/", "test")):
        cols = [c for c in df.columns if c.startswith(prefix)]
        rows = df.dropna(subset=cols, how="all") if cols else []
        if key == "test" and len(rows) and last_val_step is not None:
            # a test pass logged before later training (an earlier session of a resumed run) is stale
            rows = rows[rows["step"] >= last_val_step]
        if len(rows):
            out[key] = {c[len(prefix):]: float(v) for c, v in rows[cols].iloc[-1].items() if pd.notna(v)}
    epochs = df.dropna(subset=val_cols, how="all")["epoch"] if val_cols else []
    out["epochs"] = int(epochs.max()) + 1 if len(epochs) else 0  # epochs with a validation pass
    return out


def hardware() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()}× {torch.cuda.get_device_name(0)}"
    threads = os.environ.get("OMP_NUM_THREADS", str(torch.get_num_threads()))
    return f"CPU ({platform.processor() or platform.machine()}), {threads} thread(s)"


def write_card(model_path: str, card: Dict[str, object]) -> str:
    path = card_path(model_path)
    with open(path, "w") as fh:
        json.dump(card, fh, indent=1, default=str)
    return path


def training_domain(trainval_path: str) -> Optional[Dict[str, object]]:
    """What the model trained on: the largest molecule (atoms, heavy atoms) and the bond types of the
    equilibrium parents with their counts.  Beyond either, E3D extrapolates."""
    import ase.io

    from .pairs import frame_bond_types

    if not os.path.exists(trainval_path):
        return None
    sizes, types = [], {}
    for a in ase.io.iread(trainval_path):
        sizes.append((len(a), int((a.numbers > 1).sum())))
        if a.info.get("kind", "eq") == "eq":
            for t, n in (frame_bond_types(a) or {}).items():
                types[t] = types.get(t, 0) + n
    return {"max_atoms": max(n for n, _ in sizes), "max_heavy_atoms": max(h for _, h in sizes),
            "bond_types": dict(sorted(types.items()))}


def make_card(model_id: str, config_path: str, config: Dict[str, object], run_dir: str,
              dataset_provenance: Optional[Dict[str, object]], train_seconds: Optional[float],
              extra: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    model_cfg = dict(config["training_module"]["model"])
    hyper = {k: v for k, v in model_cfg.items()
             if not k.startswith("per_type_energy") and k not in ("_target_", "model", "modifiers")}
    parent = finetuned_from(model_cfg)
    if parent:  # a fine-tune keeps its parent's architecture, written in the parent's card
        hyper = read_card(os.path.join(REPO_ROOT, parent)).get("hyperparameters", hyper)
    labels = (dataset_provenance or {}).get("labels", {})
    shifts, shifts_trainable = configured_shifts(model_cfg)
    card = {
        "id": model_id,
        "dataset": (dataset_provenance or {}).get("dataset", config.get("trainval_file", "?")),
        "dataset_variant": (dataset_provenance or {}).get("variant"),
        "n_training_frames": (dataset_provenance or {}).get("n_frames"),
        "level_of_theory": labels.get("method", "unknown"),
        "labels": labels,
        "config": os.path.relpath(config_path),
        "hyperparameters": hyper,
        "training_elements": (dataset_provenance or {}).get("elements"),
        "training_domain": training_domain(str(config.get("trainval_file", ""))),
        "energy_shifts": {
            "isolated_atoms": check_isolated_atom_shifts(config, dataset_provenance),
            "reference": labels.get("atom_reference"),
            "values_eV": shifts,
            "trainable": shifts_trainable,
        },
        "finetuned_from": parent,
        "fresh_readout": bool(parent and config.get("fresh_readout")),  # the parent's edge readout re-drawn
        "metrics": read_metrics(run_dir),
        "metric_units": METRIC_UNITS,
        "training_time_s": None if train_seconds is None else round(train_seconds, 1),
        "hardware": hardware(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    card.update(extra or {})
    return card


def nequip_script(name: str) -> list[str]:
    """Command of a nequip console script (``nequip-train``) in this interpreter's environment.

    The script beside the interpreter where pip installed one (the venv need not be on PATH), else its
    module through this interpreter (wheels installed with ``pip --target``, as on the GPU machine).
    """
    path = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(path):
        return [path]
    return [sys.executable, "-m", "nequip.scripts." + name.removeprefix("nequip-")]


def dying_with_parent(cmd: List[str]) -> List[str]:
    """``cmd`` run so that the kernel sends it SIGTERM when the thread that started it dies: a killed
    ``e3d train`` or ``e3d study --train`` leaves no trainer writing its run folder (util-linux ``setpriv``;
    ``cmd`` as is where that is missing). Not ``preexec_fn``: the study starts trainings from threads."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--", *cmd] if setpriv else list(cmd)


def package(checkpoint: str, out_path: str) -> str:
    if not out_path.endswith(".nequip.zip"):
        raise E3DError("packaged model path must end with .nequip.zip")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    subprocess.run([*nequip_script("nequip-package"), "build", checkpoint, out_path], check=True,
                   stdout=subprocess.DEVNULL)
    return out_path


def finetune_overrides(init_from: str, config: Dict[str, object]) -> List[str]:
    """Hydra overrides that start a run from a trained model's weights instead of a fresh one, with its
    per-type shifts μ switched to the new dataset's isolated atoms first (nequip's fine-tuning:
    ``modify_PerTypeScaleShift`` over ``ModelFromPackage``/``ModelFromCheckpoint``).  Pretrain on
    cheap labels (GFN2-xTB), fine-tune on better ones (DFT): the edges keep what they learned and
    E = Σe + Σμ holds with the new labels' atoms."""
    from .provenance import load_provenance

    if not os.path.exists(init_from):
        raise E3DError(f"--init-from: no model at {init_from}")
    if init_from.endswith(".nequip.zip"):
        base = f"{{_target_:nequip.model.ModelFromPackage,package_path:'{os.path.abspath(init_from)}'"
    elif init_from.endswith(".ckpt"):
        base = f"{{_target_:nequip.model.ModelFromCheckpoint,checkpoint_path:'{os.path.abspath(init_from)}'"
    else:
        raise E3DError(f"--init-from: {init_from} is neither a packaged model (.nequip.zip) nor a checkpoint (.ckpt)")
    compile_mode = config["training_module"]["model"].get("compile_mode")
    base += (f",compile_mode:{compile_mode}" if compile_mode else "") + "}"
    prov = load_provenance(str(config.get("trainval_file", ""))) or {}
    atoms = prov.get("isolated_atom_energies_eV")
    if not atoms:
        raise E3DError(f"--init-from: {config.get('trainval_file')}.json has no isolated_atom_energies_eV "
                       "to switch the shifts to")
    shifts = ",".join(f"{t}:{float(v)!r}" for t, v in atoms.items())
    return ["~training_module.model",
            f"+training_module.model={{_target_:nequip.model.modify,model:{base},"
            f"modifiers:[{{modifier:modify_PerTypeScaleShift,shifts:{{{shifts}}}}}]}}"]


def train(config_path: str, run_dir: str, out_path: str, model_id: Optional[str] = None,
          overrides: Optional[List[str]] = None, resume: bool = False,
          init_from: Optional[str] = None) -> Dict[str, object]:
    """Run nequip-train on CONFIG into RUN_DIR, package the best checkpoint to OUT, write its card.

    ``init_from``: a trained model (.nequip.zip or .ckpt) to fine-tune (:func:`finetune_overrides`)."""
    overrides, elapsed = run_training(config_path, run_dir, overrides, resume, init_from)
    return finish_run(config_path, run_dir, out_path, model_id, overrides, elapsed)


def steps_to_lr_floor(config: Dict[str, object], n_frames: int) -> Optional[int]:
    """Fewest optimiser steps in which a plateau scheduler can take the learning rate to its floor.

    Each cut needs ``patience + 1`` validations without gain and a validation comes every
    ``check_val_every_n_epoch`` epochs, so on a small set ``patience`` (in epochs) is few steps: the 571-frame
    DFT fine-tunes reached the floor ~3,000 steps into 20,000 (docs/STUDY_LOG.md, session 23).  None when the
    config has no such scheduler or its numbers are not plain values."""
    def number(x):
        return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None

    module, data, trainer = (config.get(k) or {} for k in ("training_module", "data", "trainer"))
    sched = (module.get("lr_scheduler") or {}).get("scheduler") or {}
    if not str(sched.get("_target_", "")).endswith("ReduceLROnPlateau"):
        return None
    lr, min_lr = number((module.get("optimizer") or {}).get("lr")), number(sched.get("min_lr"))
    factor, patience = number(sched.get("factor", 0.1)), number(sched.get("patience", 10))
    fraction = number((data.get("split_dataset") or {}).get("train", 1.0))
    batch = number((data.get("train_dataloader") or {}).get("batch_size", 1))
    every = number(trainer.get("check_val_every_n_epoch", 1))
    if None in (lr, min_lr, factor, patience, fraction, batch, every) or not (0 < factor < 1) or not 0 < min_lr < lr:
        return None
    steps_per_epoch = math.ceil(n_frames * fraction / batch)
    limit = number(trainer.get("limit_train_batches"))
    if isinstance(limit, int) and limit > 1:
        steps_per_epoch = min(steps_per_epoch, limit)
    cuts = math.ceil(math.log(min_lr / lr) / math.log(factor))
    return cuts * (patience + 1) * every * steps_per_epoch


def lr_floor_note(config: Dict[str, object], n_frames: int) -> Optional[str]:
    """A warning when the learning rate can reach its floor within a quarter of a step-capped run."""
    floor = steps_to_lr_floor(config, n_frames)
    max_steps = (config.get("trainer") or {}).get("max_steps")
    if floor is None or not isinstance(max_steps, int) or max_steps <= 0 or floor >= max_steps / 4:
        return None
    patience = config["training_module"]["lr_scheduler"]["scheduler"]["patience"]
    enough = math.ceil((patience + 1) * max_steps / 2 / floor) - 1  # the floor no sooner than half-way
    return (f"the plateau scheduler (patience {patience} epochs; {n_frames} frames in the train/validation file) "
            f"can take the learning rate to its floor within {floor:,} of the run's {max_steps:,} steps, and the rest "
            f"would train at that floor; for a set this small raise training_module.lr_scheduler.scheduler.patience "
            f"(≥ {enough} keeps the floor past half the run)")


def run_training(config_path: str, run_dir: str, overrides: Optional[List[str]] = None, resume: bool = False,
                 init_from: Optional[str] = None) -> Tuple[List[str], float]:
    """Run nequip-train on CONFIG into RUN_DIR (no packaging: :func:`finish_run`).  Returns the overrides
    it ran with, less the dataset's shift override (the card's record), and its wall time in seconds."""
    from .provenance import load_provenance

    overrides = list(overrides or [])
    config = load_config(config_path, overrides)
    if init_from:
        overrides += finetune_overrides(init_from, config)
    shift_override = None if init_from else dataset_shift_override(config)
    if shift_override:
        overrides.append(shift_override)
    n_frames = (load_provenance(config.get("trainval_file", "")) or {}).get("n_frames")
    note = lr_floor_note(config, n_frames) if isinstance(n_frames, int) else None
    if note:
        print(f"warning: {note}", file=sys.stderr)
    cmd = [*nequip_script("nequip-train"),
           "-cp", os.path.dirname(os.path.abspath(config_path)),
           "-cn", os.path.splitext(os.path.basename(config_path))[0],
           f"hydra.run.dir={os.path.abspath(run_dir)}", *overrides]
    last = os.path.join(run_dir, "last.ckpt")
    if resume:
        if not os.path.exists(last):
            raise E3DError(f"--resume: no checkpoint at {last}")
        cmd.append(f"++ckpt_path={os.path.abspath(last)}")
    elif glob.glob(os.path.join(run_dir, "*.ckpt")):
        # Lightning would write best-v1.ckpt beside the old best.ckpt, and the stale one would be packaged
        raise E3DError(f"{run_dir} holds checkpoints of an earlier run: pass --resume to continue it, "
                       "or delete the folder to start afresh")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    # configs name e3d's own callbacks (e3d.throughput): importable even where e3d is not installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    t0 = time.time()
    proc = subprocess.run(dying_with_parent(cmd), env=env)
    elapsed = time.time() - t0
    if proc.returncode != 0:
        raise E3DError(f"nequip-train failed (exit {proc.returncode}); see {run_dir}/train.log")
    return [o for o in overrides if o != shift_override], elapsed


def finish_run(config_path: str, run_dir: str, out_path: str, model_id: Optional[str] = None,
               overrides: Optional[List[str]] = None, train_seconds: Optional[float] = None) -> Dict[str, object]:
    """Package RUN_DIR/best.ckpt to OUT and write its card (also for runs started by hand)."""
    from .provenance import load_provenance

    overrides = list(overrides or [])
    config = load_config(config_path, overrides)
    shift_override = dataset_shift_override(config)
    if shift_override and shift_override not in overrides:
        config = load_config(config_path, overrides + [shift_override])
    if train_seconds is None:
        train_seconds = _logged_training_seconds(run_dir)
    package(os.path.join(run_dir, "best.ckpt"), out_path)
    card = make_card(model_id or os.path.basename(out_path).replace(".nequip.zip", ""), config_path, config,
                     run_dir, load_provenance(config.get("trainval_file", "")), train_seconds,
                     extra={"overrides": overrides} if overrides else None)
    if "test" not in card["metrics"] and os.path.exists(str(config.get("test_file", ""))):
        from .evaluate import evaluate
        from .model import load_model

        # a run stopped before nequip's own test stage: measure the held-out errors here
        card["metrics"]["test"] = evaluate(load_model(out_path, device="cpu"), config["test_file"])
        card["metrics"]["test_source"] = f"e3d evaluate on {os.path.basename(config['test_file'])}"
    write_card(out_path, card)
    return card


def _logged_training_seconds(run_dir: str) -> Optional[float]:
    """Wall time between the first and last lines of nequip's train.log (for runs not timed here)."""
    import re

    path = os.path.join(run_dir, "train.log")
    if not os.path.exists(path):
        return None
    stamps = re.findall(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", open(path).read(), flags=re.M)
    if len(stamps) < 2:
        return None
    t0, t1 = (datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S") for s in (stamps[0], stamps[-1]))
    return (t1 - t0).total_seconds()
