"""Loading an Allegro/nequip model and everything E3D needs to read its edge energies.

:class:`E3DModel` wraps the torch module with the per-type factors of E3D_METHOD §1:

    e_{i→j} = s_{t_i} · ẽ_ij / sqrt(2·N̄_{t_i})        (ẽ: the raw ``edge_energy`` readout)

read from the model's own ``EdgewiseReduce`` and ``PerTypeScaleShift`` modules, never
assumed.  A model card (``<model>.card.json`` beside the file) carries provenance:
dataset, level of theory, how the shifts μ_t were chosen, test errors.

Model files (.nequip.zip, .ckpt) are pickles: load only files you trust.  The app never
loads a model that a user uploads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .cards import MODEL_SUFFIXES, default_model_path, read_card
from .composite import SUM_SUFFIX, SumOfModels, read_sum, sum_chain
from .errors import ModelError

def pick_device(device: Optional[str] = None) -> torch.device:
    """``auto``/None: a CUDA GPU if there is one, else the CPU; anything else must name a device this torch has."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        out = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelError(f"device {device!r}: not a device name (use cpu, cuda, cuda:N or auto)") from None
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r}: no CUDA GPU is available to this torch (use cpu or auto)")
    if out.type == "cuda" and out.index is not None and out.index >= torch.cuda.device_count():
        raise ModelError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    if out.type not in ("cpu", "cuda"):
        raise ModelError(f"device {device!r}: E3D runs on cpu or cuda")
    return out


@dataclasses.dataclass
class E3DModel:
    """A loaded model plus the constants that turn its raw edge readout into eV."""

    module: torch.nn.Module
    path: str
    kind: str  # "package" | "checkpoint" | "aotinductor"
    type_names: List[str]
    r_max: float
    dtype: torch.dtype
    device: torch.device
    scales: np.ndarray  # s_t per type (eV), length n_types
    shifts: np.ndarray  # μ_t per type (eV)
    avg_num_neighbors: np.ndarray  # N̄_t per type
    extra_energy_terms: List[str]  # modules adding energy outside the edges (e.g. ZBL)
    card: Dict[str, object]
    parts: List["E3DModel"] = dataclasses.field(default_factory=list, repr=False, compare=False)  # a sum's models
    part_weights: List[float] = dataclasses.field(default_factory=list, repr=False, compare=False)  # and their weights
    # one forward pass at a time: energy_only() switches the force pass off on the shared module, and
    # the app shares one loaded model between all sessions (threads)
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def edge_factor(self) -> np.ndarray:
        """Per-type factor s_t / sqrt(2·N̄_t) applied to raw edge readouts."""
        return self.scales / np.sqrt(2.0 * self.avg_num_neighbors)

    @property
    def usable_type_names(self) -> List[str]:
        """Types the model can be trusted with: finite factors, and seen in training (per its card)."""
        ok = np.isfinite(self.edge_factor) & np.isfinite(self.shifts)
        seen = self.card.get("training_elements")
        return [t for t, good in zip(self.type_names, ok) if good and (seen is None or t in seen)]

    @property
    def max_heavy_atoms(self) -> Optional[int]:
        """Heavy atoms of the largest molecule in the training set (card), None if unknown."""
        return (self.card.get("training_domain") or {}).get("max_heavy_atoms")

    @property
    def bond_types_seen(self) -> Optional[Dict[str, int]]:
        """Bond types (element pair + order, ``C-H``, ``C=O``, ``C:C``) in the training molecules and
        how many bonds of each the model saw at equilibrium (card); None if unknown."""
        seen = (self.card.get("training_domain") or {}).get("bond_types")
        return dict(seen) if seen else None

    def unseen_bond_types(self, bond_types) -> List[str]:
        """The given bond types the model never saw in training (empty if its card does not say)."""
        seen = self.bond_types_seen
        return [] if seen is None else sorted({t for t in bond_types if t not in seen})

    def extrapolation_note(self, heavy_atoms: int, label: str) -> Optional[str]:
        """A warning when a molecule is larger than every molecule the model trained on (from its card)."""
        largest = self.max_heavy_atoms
        if largest is None or heavy_atoms <= largest:
            return None
        return (f"{label} has {heavy_atoms} heavy atoms, more than any molecule {self.name} was trained on "
                f"(≤ {largest}): its bond energies are extrapolated.")

    @property
    def name(self) -> str:
        return str(self.card.get("id") or os.path.basename(self.path))

    @property
    def shifts_are_isolated_atoms(self) -> Optional[bool]:
        """From the card: were μ_t fixed to the labelling method's isolated-atom energies? None if unknown."""
        ref = self.card.get("energy_shifts", {})
        if isinstance(ref, dict) and "isolated_atoms" in ref:
            return bool(ref["isolated_atoms"])
        return None

    @property
    def shift_reference(self) -> str:
        """Human-readable account of μ_t (shown by ``info`` and next to every number in the app)."""
        known = self.shifts_are_isolated_atoms
        if known is None:
            return "unknown (no model card): bond energies may be meaningless"
        if not known:
            return "NOT isolated-atom energies: bond energies are not physical (see E3D_METHOD §2)"
        return self.card.get("energy_shifts", {}).get("reference") or "isolated atoms"

    def type_index(self, symbols) -> np.ndarray:
        lookup = {t: k for k, t in enumerate(self.type_names)}
        return np.array([lookup[s] for s in symbols], dtype=np.int64)

    def info(self) -> Dict[str, object]:
        """What the model is (the ``e3d info`` output)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "type_names": self.type_names,
            "usable_types": self.usable_type_names,
            "r_max_angstrom": self.r_max,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            # a sum's module outputs physical edge energies: the factors are its parts', the shifts their sum
            "energy_scales_eV": self._per_part("scales") if self.parts else dict(zip(self.type_names, map(float, self.scales))),
            "energy_shifts_eV": dict(zip(self.type_names, map(float, self.shifts))),
            "avg_num_neighbors": (self._per_part("avg_num_neighbors") if self.parts
                                  else dict(zip(self.type_names, map(float, self.avg_num_neighbors)))),
            "shifts_reference": self.shift_reference,
            "extra_energy_terms": self.extra_energy_terms or "none",
            **({"sum_of": [p.path for p in self.parts], "part_weights": self.part_weights} if self.parts else {}),
            "card": self.card,
        }

    @property
    def part_names(self) -> List[str]:
        """A sum's parts by id (``#k`` added where two parts share one), in order; [] for a single model."""
        names = [p.name for p in self.parts]
        return [n if names.count(n) == 1 else f"{n}#{k + 1}" for k, n in enumerate(names)]

    def _per_part(self, field: str) -> Dict[str, Dict[str, float]]:
        return {n: dict(zip(p.type_names, map(float, getattr(p, field)))) for n, p in zip(self.part_names, self.parts)}

    @contextlib.contextmanager
    def energy_only(self):
        """Skip the autograd force pass (bond energies need energies only); holds the model's lock,
        so a concurrent force evaluation (:class:`e3d.calculator.E3DCalculator`) waits instead of
        finding the force pass switched off."""
        with self.lock:
            yield from self._without_derivatives()

    def _without_derivatives(self):
        fso = [m for m in self.module.modules() if hasattr(m, "do_derivatives")]
        saved = [m.do_derivatives for m in fso]
        try:
            for m in fso:
                m.do_derivatives = False
            yield
        finally:
            for m, s in zip(fso, saved):
                m.do_derivatives = s


def _per_type(values: torch.Tensor, n_types: int, what: str) -> np.ndarray:
    v = values.detach().double().cpu().reshape(-1).numpy()
    if v.size == 1:
        return np.full(n_types, float(v[0]))
    if v.size != n_types:
        raise ModelError(f"model's {what} has {v.size} entries for {n_types} types")
    return v


def _readout_modules(module: torch.nn.Module):
    """The model's EdgewiseReduce and PerTypeScaleShift (exactly one each, else not an Allegro model).

    Modules are matched by class name: packaged models import their own copies of the classes.
    """
    reducers = [m for m in module.modules() if type(m).__name__ == "EdgewiseReduce"]
    scale_shifts = [m for m in module.modules() if type(m).__name__ == "PerTypeScaleShift"]
    if len(reducers) != 1 or len(scale_shifts) != 1:
        raise ModelError("not an Allegro model: expected one EdgewiseReduce and one PerTypeScaleShift "
                         f"(found {len(reducers)} and {len(scale_shifts)}); E3D needs per-edge energies")
    return reducers[0], scale_shifts[0]


def _enable_derivatives(module: torch.nn.Module) -> None:
    """Energy-only trained models can still give forces (autograd) at inference."""
    for m in module.modules():
        if hasattr(m, "do_derivatives"):
            m.do_derivatives = True


def _edge_constants(module: torch.nn.Module, n_types: int):
    """Scales, shifts, N̄ and extra energy terms read from an eager nequip/Allegro model."""
    reducer, pts = _readout_modules(module)
    norm = _per_type(reducer.norm_module.norm_const, n_types, "edge-sum normalisation")
    avg_nn = 1.0 / norm**2
    scales = _per_type(pts.scales, n_types, "energy scales") if pts.has_scales else np.ones(n_types)
    shifts = _per_type(pts.shifts, n_types, "energy shifts") if pts.has_shifts else np.zeros(n_types)
    extra = sorted({type(m).__name__ for m in module.modules()
                    if "pair_potential" in type(m).__module__ or type(m).__name__ in ("ZBL", "LennardJones")})
    return scales, shifts, avg_nn, extra


def load_model(path: Optional[str] = None, device: Optional[str] = None, dtype: Optional[str] = None,
               _chain: Sequence[str] = ()) -> E3DModel:
    """Load a ``.nequip.zip`` package, a training ``.ckpt`` or an AOTInductor ``.nequip.pt2``.

    ``dtype`` runs the model in another precision than it was trained in (see :func:`rebuilt_in`).
    ``_chain``: the sum files a part is being loaded for (:func:`~e3d.composite.sum_chain`).
    """
    path = path or default_model_path()
    if str(path).startswith("nequip.net:"):
        raise ModelError("nequip.net model ids download from the internet; download the file and pass its path")
    if not os.path.exists(path):
        raise ModelError(f"model file not found: {path}")
    if not str(path).endswith(MODEL_SUFFIXES):
        raise ModelError(f"{path} is not a model file: give a .nequip.zip, .ckpt, .nequip.pt2 or {SUM_SUFFIX} file")
    if path.endswith(SUM_SUFFIX):
        chain = sum_chain(path, _chain)  # refuses sum files that name each other in a circle
        paths, weights = read_sum(path)
        return sum_of([load_model(p, device=device, dtype=dtype, _chain=chain) for p in paths], path,
                      read_card(path), weights)
    dev = pick_device(device)
    if path.endswith(".pt2"):
        return load_compiled(path, dev)
    kind = "package" if path.endswith(".nequip.zip") else "checkpoint"
    try:
        from nequip.model.saved_models.load_utils import load_saved_model
        from nequip.utils.global_state import set_global_state

        set_global_state()  # nequip's float64 global dtype; idempotent
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = load_saved_model(path)
    except Exception as exc:
        raise ModelError(f"could not load model {path}: {type(exc).__name__}: {exc}") from None
    module.eval()
    module.to(dev)
    _enable_derivatives(module)
    type_names = list(module.type_names)
    meta = module.metadata
    r_max = float(meta["r_max"])
    model_dtype = {"float64": torch.float64, "float32": torch.float32}[meta["model_dtype"]]
    scales, shifts, avg_nn, extra = _edge_constants(module, len(type_names))
    model = E3DModel(module=module, path=path, kind=kind, type_names=type_names, r_max=r_max,
                     dtype=model_dtype, device=dev, scales=scales, shifts=shifts, avg_num_neighbors=avg_nn,
                     extra_energy_terms=extra, card=read_card(path))
    if dtype in (None, str(model_dtype).replace("torch.", "")):
        return model
    if dtype not in ("float32", "float64"):
        raise ModelError(f"dtype must be float32 or float64, not {dtype!r}")
    return rebuilt_in(model, dtype)


def as_float32(model: E3DModel) -> E3DModel:
    """The same weights in float32 (≈ 2× faster on CPU): :func:`rebuilt_in`."""
    return rebuilt_in(model, "float32")


def rebuilt_in(model: E3DModel, dtype: str) -> E3DModel:
    """The same weights in an Allegro model rebuilt with ``model_dtype=dtype``.

    float32 runs a float64-trained model ≈ 2× faster on CPU; float64 evaluates a float32-trained
    model (trained faster) with a clean sum rule.  nequip fixes a model's precision when it is
    built, so casting weights is not enough: the model is rebuilt (eager) from its card's
    hyper-parameters with the scales, shifts and N̄ read from the loaded model, and its weights
    are copied in (strict).  Scale/shift and positions stay float64 (nequip's mixed precision).
    """
    import copy

    from hydra.utils import get_method

    if model.parts:
        return sum_of([rebuilt_in(p, dtype) for p in model.parts], model.path, model.card, model.part_weights)
    from nequip.utils.global_state import set_global_state

    hyper = copy.deepcopy(model.card.get("hyperparameters") or {})
    if not hyper:
        raise ModelError(f"{model.name}: {dtype} needs the model's hyper-parameters (its model card has none)")
    set_global_state()
    reducer, pts = _readout_modules(model.module)

    def like(values: np.ndarray, stored) -> object:  # a global constant stays global (its shape must match)
        if stored is None or torch.as_tensor(stored).numel() == 1:
            return float(values[0])
        return dict(zip(model.type_names, map(float, values)))

    hyper.pop("compile_mode", None)  # train-time compilation: the rebuilt model is eager
    hyper.update(model_dtype=dtype, type_names=model.type_names,
                 avg_num_neighbors=like(model.avg_num_neighbors, reducer.norm_module.norm_const),
                 per_type_energy_scales=like(model.scales, pts.scales) if pts.has_scales else None,
                 per_type_energy_shifts=like(model.shifts, pts.shifts) if pts.has_shifts else None)
    builder = get_method(hyper.pop("_target_", "allegro.model.AllegroModel"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = builder(**hyper)
        module.load_state_dict(model.module.state_dict(), strict=True)
    except Exception as exc:
        raise ModelError(f"{model.name}: could not rebuild the model in {dtype}: {type(exc).__name__}: {exc}") from None
    scales, shifts, avg_nn, extra = _edge_constants(module, len(model.type_names))
    if not (np.allclose(scales, model.scales) and np.allclose(shifts, model.shifts)
            and np.allclose(avg_nn, model.avg_num_neighbors)):
        raise ModelError(f"{model.name}: the {dtype} rebuild does not reproduce the model's edge constants")
    module.eval().to(model.device)
    _enable_derivatives(module)
    return dataclasses.replace(model, module=module, dtype=getattr(torch, dtype))


def sum_of(parts: List[E3DModel], path: str, card: Dict[str, object],
           weights: Optional[Sequence[float]] = None) -> E3DModel:
    """One model of ``parts`` (weighted; 1 each by default) run on one graph (:mod:`e3d.composite`): they must
    share types and cutoff.  Its module outputs physical edge energies (edge factor 1) and μ_t = Σ w_m μ_{m,t}."""
    first = parts[0]
    weights = [1.0] * len(parts) if weights is None else [float(w) for w in weights]
    for p in parts[1:]:
        if p.type_names != first.type_names:
            raise ModelError(f"{path}: {p.name} has types {p.type_names}, {first.name} {first.type_names}: "
                             "a sum needs one type list")
        if abs(p.r_max - first.r_max) > 1e-9:
            raise ModelError(f"{path}: {p.name} has r_max {p.r_max} Å, {first.name} {first.r_max} Å: "
                             "edge energies add edge by edge only on one cutoff")
    for p in parts:
        if p.kind == "aotinductor" or p.extra_energy_terms:
            raise ModelError(f"{path}: {p.name} cannot be part of a sum (compiled, or energy outside the edges)")
    n = len(first.type_names)
    module = SumOfModels([p.module for p in parts], np.stack([p.edge_factor for p in parts]), first.type_names,
                         dict(getattr(first.module, "metadata", {}) or {}), weights).eval().to(first.device)
    # the loosest precision decides the sum-rule tolerance
    dtype = torch.float32 if any(p.dtype == torch.float32 for p in parts) else torch.float64
    model = E3DModel(module=module, path=path, kind="sum", type_names=first.type_names, r_max=first.r_max,
                     dtype=dtype, device=first.device, scales=np.ones(n),
                     shifts=np.sum([w * p.shifts for w, p in zip(weights, parts)], axis=0),
                     avg_num_neighbors=np.full(n, 0.5), extra_energy_terms=[], card=card, parts=list(parts),
                     part_weights=weights)
    _share_lock(model, model.lock)
    return model


def _share_lock(model: E3DModel, lock) -> None:
    """A sum and its parts (and theirs) run the same modules: one lock, so that a part's energy-only pass
    (:meth:`E3DModel.energy_only` switches the force pass off module by module) never meets the sum's forward."""
    for part in model.parts:
        part.lock = lock
        _share_lock(part, lock)


def edge_constants_sidecar(model: E3DModel) -> Dict[str, object]:
    """What a compiled model loses and E3D needs: written next to AOTInductor files."""
    return {
        "type_names": model.type_names,
        "r_max": model.r_max,
        "dtype": str(model.dtype).replace("torch.", ""),
        "scales": model.scales.tolist(),
        "shifts": model.shifts.tolist(),
        "avg_num_neighbors": model.avg_num_neighbors.tolist(),
        "extra_energy_terms": model.extra_energy_terms,
        "edge_factor_formula": "s_t / sqrt(2 * avg_num_neighbors_t)",
    }


# --------------------------------------------------------------------------- AOTInductor-compiled models

COMPILED_INPUT_FIELDS = ["pos", "edge_index", "atom_types", "cell", "edge_cell_shift", "batch", "num_atoms"]
COMPILED_OUTPUT_FIELDS = ["total_energy", "edge_energy"]
SIDECAR_SUFFIX = ".e3d.json"


def sidecar_path(compiled_path: str) -> str:
    return compiled_path + SIDECAR_SUFFIX


def load_compiled(path: str, device: torch.device) -> "E3DModel":
    """An AOTInductor model written by ``e3d compile``, with its E3D sidecar (scales, shifts, N̄)."""
    from nequip.model.inference_models.aotinductor import load_aotinductor_model

    side = sidecar_path(path)
    if not os.path.exists(side):
        raise ModelError(f"{path}: compiled model has no E3D sidecar {os.path.basename(side)}; "
                         "compile with `python -m e3d compile` so the edge factors travel with it")
    with open(side) as fh:
        meta = json.load(fh)
    try:
        module, _ = load_aotinductor_model(path, device, COMPILED_INPUT_FIELDS, COMPILED_OUTPUT_FIELDS)
    except Exception as exc:
        raise ModelError(f"could not load compiled model {path}: {exc}") from None
    return E3DModel(module=module, path=path, kind="aotinductor", type_names=list(meta["type_names"]),
                    r_max=float(meta["r_max"]), dtype=getattr(torch, meta["dtype"]), device=device,
                    scales=np.array(meta["scales"]), shifts=np.array(meta["shifts"]),
                    avg_num_neighbors=np.array(meta["avg_num_neighbors"]),
                    extra_energy_terms=list(meta["extra_energy_terms"]), card=read_card(path))
