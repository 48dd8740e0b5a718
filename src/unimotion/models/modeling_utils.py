"""Shared save/load machinery for every model (diffusers-style).

A checkpoint is a directory::

    config.json          the model's config dataclass + "_model_type" + "_unimotion_version"
    model.safetensors    the weights (never a pickle)
    Mean.npy, Std.npy    normalisation statistics of the data the model reads/writes (optional)
    NOTICE               attribution / licence of the training data (optional)
    ...                  model-specific extras (tokenizer files, ...) written by ``_save_extra``

Subclasses set ``config_class`` (a dataclass) and ``model_type`` (a unique string) and take the config as
the only required constructor argument. ``load_pretrained(path)`` opens any checkpoint by its model type.

Loading treats the directory as untrusted (:meth:`PretrainedModel.from_pretrained`): JSON and NOTICE files
are size-capped (:mod:`unimotion.limits`); the ``.safetensors`` header is read and validated first and the
architecture the config describes is built on the *meta* device (no memory) and compared with it, so a
config that disagrees with the weights is refused before anything is allocated; ``safetensors`` failures
become :class:`~unimotion.errors.CheckpointError`; and weights holding NaN/Inf are refused by tensor name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_model, save_file, save_model
from torch import nn

from .. import __version__, limits
from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError, LimitError, UnimotionError
from ..motion.stats import NormStats
from ..utils.io import atomic_dir, read_json_limited, read_text_limited, write_text

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NOTICE_FILE = "NOTICE"

M = TypeVar("M", bound="PretrainedModel")


class CheckpointLimitError(CheckpointError, LimitError):
    """A checkpoint file exceeds a limit of :mod:`unimotion.limits` (JSON, NOTICE, tokenizer, header size)."""


#: bytes per element of the safetensors dtypes
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
                      "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def read_checkpoint_json(path: Path, what: str = "checkpoint file") -> dict[str, Any]:
    """A checkpoint's JSON file (config.json, pipeline.json, ...), size-capped, as a dict."""
    try:
        raw = read_json_limited(path, "CHECKPOINT_MAX_JSON_BYTES", what, error=CheckpointLimitError)
    except UnimotionError as exc:
        if isinstance(exc, (CheckpointError, OSError)):
            raise
        raise CheckpointError(str(exc)) from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(raw).__name__}")
    return raw


def check_config_numbers(raw: Any, where: str, _path: str = "") -> None:
    """Refuse integers beyond CHECKPOINT_MAX_CONFIG_INT anywhere in a config (before any dataclass validation
    or constructor can loop over, or allocate, that many of something)."""
    if isinstance(raw, bool):
        return
    if isinstance(raw, int):
        limits.check("CHECKPOINT_MAX_CONFIG_INT", abs(raw), f"{where}: {_path or 'a value'} = {raw} is larger",
                     error=CheckpointLimitError)
    elif isinstance(raw, dict):
        for key, value in raw.items():
            check_config_numbers(value, where, f"{_path}.{key}" if _path else str(key))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            check_config_numbers(value, where, f"{_path}[{i}]")


def read_notice(path: Path) -> str:
    """A checkpoint's NOTICE, refused above CHECKPOINT_MAX_NOTICE_BYTES (never read whole whatever its size)."""
    try:
        return read_text_limited(path, "CHECKPOINT_MAX_NOTICE_BYTES", "NOTICE", error=CheckpointLimitError)
    except UnimotionError as exc:
        if isinstance(exc, (CheckpointError, OSError)):
            raise
        raise CheckpointError(str(exc)) from None


def read_safetensors_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Name → (dtype, shape) of every tensor of a ``.safetensors`` file, from its header alone.

    The header is size-capped (``SAFETENSORS_MAX_HEADER_BYTES``) and validated: known dtypes, non-negative
    shapes, data offsets inside the file that match each tensor's byte size. Raises CheckpointError.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path} is not a safetensors file (only {len(head)} bytes)")
            (n,) = struct.unpack("<Q", head)
            limits.check("SAFETENSORS_MAX_HEADER_BYTES", n, f"{path} declares a header", error=CheckpointLimitError)
            if 8 + n > size:
                raise CheckpointError(f"{path} is truncated: its header declares {n:,} bytes, the file holds {size - 8:,}")
            raw = f.read(n)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: the safetensors header is not valid JSON ({str(exc)[:120]})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the safetensors header is not a JSON object")
    data_size = size - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"{path}: tensor {name[:80]!r}"
        if not isinstance(entry, dict):
            raise CheckpointError(f"{where}: malformed header entry")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(f"{where}: unknown dtype {str(dtype)[:20]!r}")
        if (not isinstance(shape, list) or len(shape) > 16
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**48 for d in shape)):
            raise CheckpointError(f"{where}: malformed shape {str(shape)[:60]}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise CheckpointError(f"{where}: malformed data_offsets")
        begin, end = offsets
        nbytes = math.prod(shape) * SAFETENSORS_DTYPES[dtype]
        if not 0 <= begin <= end <= data_size or end - begin != nbytes:
            raise CheckpointError(f"{where}: data offsets {offsets} do not match its shape {shape} ({dtype}) inside "
                                  f"the file's {data_size:,} data bytes")
        out[name] = (dtype, tuple(shape))
    return out


@contextlib.contextmanager
def _registration_budget(max_objects: int, what: str) -> Iterator[None]:
    """Abort building a model that registers more than ``max_objects`` parameters, buffers and modules
    (a config describing vastly more than its weights file holds)."""
    from torch.nn.modules import module as module_mod

    count = [0]

    def hook(*_args: Any) -> None:
        count[0] += 1
        if count[0] > max_objects:
            raise CheckpointError(f"{what}: the config describes a model far larger than its weights file "
                                  f"(more than {max_objects:,} parameters, buffers and modules)")

    handles = [module_mod.register_module_parameter_registration_hook(hook),
               module_mod.register_module_buffer_registration_hook(hook),
               module_mod.register_module_module_registration_hook(hook)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _compare_with_header(model: nn.Module, header: dict[str, tuple[str, tuple[int, ...]]], optional,
                         what: str) -> None:
    """Every (non-optional) tensor of ``model``'s state dict is in ``header`` with the same shape, and the
    header holds nothing else. Tied tensors (one object, several names) need only one of their names."""
    groups: dict[int, list[str]] = {}
    tensors: dict[int, torch.Tensor] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(t), []).append(name)
        tensors[id(t)] = t
    missing, mismatched, known = [], [], set()
    for key, names in groups.items():
        known.update(names)
        present = [n for n in names if n in header]
        if not present:
            if not all(optional(n) for n in names):
                missing.append(names[0])
            continue
        want = tuple(tensors[key].shape)
        for n in present:
            if header[n][1] != want:
                mismatched.append(f"{n}: file {list(header[n][1])} vs config {list(want)}")
    unexpected = [n for n in header if n not in known]
    if missing or mismatched or unexpected:
        parts = []
        if mismatched:
            parts.append(f"shapes differ ({'; '.join(mismatched[:4])}{'; ...' if len(mismatched) > 4 else ''})")
        if missing:
            parts.append(f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}")
        raise CheckpointError(f"{what} does not match its config.json: " + ", ".join(parts))

# model_type -> "module:Class", so that load_pretrained can import a class on demand.
KNOWN_MODEL_TYPES: dict[str, str] = {
    "cma_vae": "unimotion.models.autoencoders.cma_vae:CMAVAE",
    "mld_vae": "unimotion.models.autoencoders.mld_vae:MLDVAE",
    "vq_vae": "unimotion.models.autoencoders.vq_vae:VQVAE",
    "retrieval_evaluator": "unimotion.models.evaluators.retrieval:RetrievalEvaluator",
    "guo_t2m_evaluator": "unimotion.models.evaluators.guo_t2m:GuoT2MEvaluator",
    "keypoint_net": "unimotion.models.evaluators.keypoints:KeypointNet",
    "unimotion": "unimotion.models.unimotion.model:UniMotionModel",
    "unimo_motion_tokenizer": "unimotion.models.unimo.motion_tokenizer:MotionTokenizer",
    "unimo_video_tokenizer": "unimotion.models.unimo.video_tokenizer:VideoTokenizer",
    "unimo": "unimotion.models.unimo.model:UniMoModel",
}
_REGISTRY: dict[str, type[PretrainedModel]] = {}

# attribute of a parameter whose gradient is multiplied by a fixed tensor (see ``scale_gradient``)
GRAD_SCALE_ATTR = "_unimotion_grad_scale"


def scale_gradient(param: nn.Parameter, scale: torch.Tensor) -> torch.utils.hooks.RemovableHandle:
    """Multiply ``param``'s gradient by ``scale`` (broadcastable; 0 freezes entries). Returns the hook handle.

    The scale is also recorded on the parameter (``GRAD_SCALE_ATTR``): sharded training (FSDP2 replaces the
    parameters, so hooks on the originals never fire) applies it to the gradient shards instead.
    """
    scale = scale.detach()
    setattr(param, GRAD_SCALE_ATTR, scale)
    return param.register_hook(lambda g, scale=scale: g * scale.to(g.device, g.dtype))


class PretrainedModel(nn.Module):
    """Base class: a config dataclass in, ``save_pretrained``/``from_pretrained`` out."""

    config_class: ClassVar[type]
    model_type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model_type = cls.__dict__.get("model_type")
        if model_type:
            _REGISTRY[model_type] = cls

    def __init__(self, config: Any):
        super().__init__()
        if not dataclasses.is_dataclass(config):
            raise ConfigError(f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config)}")
        self.config = config
        self.stats: NormStats | None = None  # normalisation of the data this model reads/writes
        self.notice: str | None = None  # attribution of the training data, written as NOTICE

    # ------------------------------------------------------------------ parameters
    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, path: str | os.PathLike, overwrite: bool = True,
                        state_dict: dict[str, torch.Tensor] | None = None) -> Path:
        """Write the checkpoint directory atomically (a half-written checkpoint never replaces a good one).

        ``state_dict``: the weights to write instead of ``self.state_dict()`` (the full weights gathered from
        a sharded model; tied names are written once, as for an ordinary model).
        """
        path = Path(path)
        with atomic_dir(path, overwrite=overwrite) as tmp:
            config = {"_model_type": self.model_type, "_unimotion_version": __version__, **to_dict(self.config)}
            write_text(tmp / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
            metadata = {"format": "pt", "model_type": self.model_type}
            if state_dict is None:
                save_model(self, str(tmp / WEIGHTS_FILE), metadata=metadata)
            else:
                save_file(self._untied(state_dict), str(tmp / WEIGHTS_FILE), metadata=metadata)
            if self.stats is not None:
                self.stats.save(tmp)
            if self.notice:
                write_text(tmp / NOTICE_FILE, self.notice)
            self._save_extra(tmp)
        return path

    def _save_extra(self, directory: Path) -> None:
        """Hook: write model-specific files (tokenizer, ...) into the checkpoint directory."""

    def _untied(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state_dict`` with one name per tensor the module shares between names (the first in sorted
        order, as ``safetensors.torch.save_model`` keeps), contiguous."""
        names: dict[int, list[str]] = {}
        for name, t in [*self.named_parameters(remove_duplicate=False), *self.named_buffers(remove_duplicate=False)]:
            names.setdefault(id(t), []).append(name)
        drop = {n for group in names.values() if len(group) > 1 for n in sorted(group)[1:]}
        return {k: v.detach().contiguous() for k, v in state_dict.items() if k not in drop}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load_config(cls, path: str | os.PathLike) -> Any:
        path = Path(path)
        cfg_path = path / CONFIG_FILE
        if not cfg_path.is_file():
            raise CheckpointError(f"{path} is not a unimotion checkpoint: {CONFIG_FILE} is missing")
        raw = read_checkpoint_json(cfg_path, CONFIG_FILE)
        check_config_numbers(raw, str(cfg_path))
        model_type = raw.pop("_model_type", None)
        raw.pop("_unimotion_version", None)
        if model_type != cls.model_type:
            raise CheckpointError(
                f"{path} holds a '{str(model_type)[:40]}' checkpoint, not '{cls.model_type}' ({cls.__name__})"
            )
        return from_dict(cls.config_class, raw)

    @classmethod
    def from_pretrained(cls: type[M], path: str | os.PathLike, device: str | torch.device = "cpu") -> M:
        """Load config, weights, statistics and notice from a checkpoint directory (untrusted: see the
        module docstring — the config is checked against the weights' header before the model is built)."""
        path = Path(path)
        config = cls.load_config(path)
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise CheckpointError(f"{path}: {WEIGHTS_FILE} is missing")
        header = read_safetensors_header(weights)
        cls._check_config_against_weights(config, path, header)
        model = cls._from_config_and_directory(config, path)
        try:
            missing, unexpected = load_model(model, str(weights), strict=False, device="cpu")
        except Exception as exc:  # safetensors' SafetensorError, shape mismatches (RuntimeError), OS errors
            if isinstance(exc, UnimotionError):
                raise
            raise CheckpointError(f"{weights} cannot be loaded into {cls.__name__}: {str(exc).splitlines()[0][:300]}") from None
        missing = [k for k in missing if not model._is_optional_key(k)]
        if missing or unexpected:
            raise CheckpointError(
                f"{weights} does not match {cls.__name__}({cls.config_class.__name__}): "
                f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}"
            )
        _check_finite_weights(model, header, weights)
        if NormStats.exists(path):
            try:
                model.stats = NormStats.load(path)
            except UnimotionError as exc:
                if isinstance(exc, CheckpointError):
                    raise
                raise CheckpointError(f"{path}: normalisation statistics: {exc}") from None
        if (path / NOTICE_FILE).is_file():
            model.notice = read_notice(path / NOTICE_FILE)
        model._load_extra(path)
        return model.to(device).eval()

    @classmethod
    def _check_config_against_weights(cls, config: Any, path: Path,
                                      header: dict[str, tuple[str, tuple[int, ...]]]) -> None:
        """Build the architecture on the meta device (no memory) and compare it with the weights' header."""
        what = f"{path / WEIGHTS_FILE}"
        budget = 8 * len(header) + 4096
        try:
            with _registration_budget(budget, what), torch.device("meta"):
                skeleton = cls._from_config_and_directory(config, path)
        except UnimotionError:
            raise
        except Exception as exc:  # a hostile config breaks the constructor in its own way
            if not (isinstance(exc, (RuntimeError, NotImplementedError)) and "meta tensor" in str(exc)):
                raise CheckpointError(f"{path / CONFIG_FILE} describes a {cls.__name__} that cannot be built: "
                                      f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
            # an architecture that cannot be built on the meta device: build it for real, still bounded by
            # the registration budget (shapes are then compared by load_model)
            with _registration_budget(budget, what):
                skeleton = cls._from_config_and_directory(config, path)
        _compare_with_header(skeleton, header, skeleton._is_optional_key, what)

    @classmethod
    def _from_config_and_directory(cls: type[M], config: Any, directory: Path) -> M:
        """Hook: build the (randomly initialised) architecture; weights are loaded afterwards."""
        return cls(config)

    def _load_extra(self, directory: Path) -> None:
        """Hook: read model-specific files written by ``_save_extra``."""

    def _is_optional_key(self, key: str) -> bool:
        """Hook: state-dict keys that may be absent from a checkpoint (e.g. frozen, externally loaded parts)."""
        return False


def _check_finite_weights(model: nn.Module, header: dict[str, tuple[str, tuple[int, ...]]], weights: Path) -> None:
    """Refuse weights holding NaN/Inf, naming the tensors (only tensors read from the file are checked)."""
    bad = []
    for name, t in model.state_dict().items():
        if name in header and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad.append(name)
    if bad:
        raise CheckpointError(f"{weights}: non-finite values (NaN/Inf) in {len(bad)} tensor(s): "
                              f"{bad[:8]}{'...' if len(bad) > 8 else ''}")


def model_class(model_type: str) -> type[PretrainedModel]:
    """The class registered for ``model_type`` (importing its module if needed)."""
    if model_type not in _REGISTRY and model_type in KNOWN_MODEL_TYPES:
        module, name = KNOWN_MODEL_TYPES[model_type].split(":")
        importlib.import_module(module)
    if model_type not in _REGISTRY:
        raise CheckpointError(f"unknown model type '{model_type}'; known: {sorted(KNOWN_MODEL_TYPES)}")
    return _REGISTRY[model_type]


def load_pretrained(path: str | os.PathLike, device: str | torch.device = "cpu") -> PretrainedModel:
    """Open any unimotion checkpoint directory, whatever its model type."""
    path = Path(path)
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise CheckpointError(f"{path} is not a unimotion checkpoint: {CONFIG_FILE} is missing")
    model_type = read_checkpoint_json(cfg_path, CONFIG_FILE).get("_model_type")
    if not isinstance(model_type, str):
        raise CheckpointError(f"{cfg_path} has no '_model_type'")
    return model_class(model_type).from_pretrained(path, device=device)


@dataclasses.dataclass
class ModelOutput:
    """Base of the dataclass outputs returned by models (fields may be None)."""

    def to_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))
