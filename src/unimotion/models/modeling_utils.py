"""Shared save/load machinery for every model (diffusers-style).

A checkpoint is a directory::

    config.json          the model's config dataclass + "_model_type" + "_unimotion_version"
    model.safetensors    the weights (never a pickle)
    Mean.npy, Std.npy    normalisation statistics of the data the model reads/writes (optional)
    NOTICE               attribution / licence of the training data (optional)
    ...                  model-specific extras (tokenizer files, ...) written by ``_save_extra``

Subclasses set ``config_class`` (a dataclass) and ``model_type`` (a unique string) and take the config as
the only required constructor argument. ``load_pretrained(path)`` opens any checkpoint by its model type.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors.torch import load_model, save_file, save_model
from torch import nn

from .. import __version__
from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from ..motion.stats import NormStats
from ..utils.io import atomic_dir, write_text

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NOTICE_FILE = "NOTICE"

M = TypeVar("M", bound="PretrainedModel")

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
        try:
            raw = json.loads(cfg_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from exc
        model_type = raw.pop("_model_type", None)
        raw.pop("_unimotion_version", None)
        if model_type != cls.model_type:
            raise CheckpointError(
                f"{path} holds a '{model_type}' checkpoint, not '{cls.model_type}' ({cls.__name__})"
            )
        return from_dict(cls.config_class, raw)

    @classmethod
    def from_pretrained(cls: type[M], path: str | os.PathLike, device: str | torch.device = "cpu") -> M:
        """Load config, weights, statistics and notice from a checkpoint directory."""
        path = Path(path)
        config = cls.load_config(path)
        model = cls._from_config_and_directory(config, path)
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise CheckpointError(f"{path}: {WEIGHTS_FILE} is missing")
        try:
            missing, unexpected = load_model(model, str(weights), strict=False, device="cpu")
        except RuntimeError as exc:  # shape mismatches
            raise CheckpointError(f"{weights} does not match {cls.__name__}: {exc}") from exc
        missing = [k for k in missing if not model._is_optional_key(k)]
        if missing or unexpected:
            raise CheckpointError(
                f"{weights} does not match {cls.__name__}({cls.config_class.__name__}): "
                f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}"
            )
        if NormStats.exists(path):
            model.stats = NormStats.load(path)
        if (path / NOTICE_FILE).is_file():
            model.notice = (path / NOTICE_FILE).read_text(encoding="utf-8")
        model._load_extra(path)
        return model.to(device).eval()

    @classmethod
    def _from_config_and_directory(cls: type[M], config: Any, directory: Path) -> M:
        """Hook: build the (randomly initialised) architecture; weights are loaded afterwards."""
        return cls(config)

    def _load_extra(self, directory: Path) -> None:
        """Hook: read model-specific files written by ``_save_extra``."""

    def _is_optional_key(self, key: str) -> bool:
        """Hook: state-dict keys that may be absent from a checkpoint (e.g. frozen, externally loaded parts)."""
        return False


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
    try:
        model_type = json.loads(cfg_path.read_text(encoding="utf-8")).get("_model_type")
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from exc
    return model_class(model_type).from_pretrained(path, device=device)


@dataclasses.dataclass
class ModelOutput:
    """Base of the dataclass outputs returned by models (fields may be None)."""

    def to_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))
