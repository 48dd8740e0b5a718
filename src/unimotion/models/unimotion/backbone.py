"""The LLM backbone: any Hugging Face causal LM (Qwen2 / Llama families) from a local path or from a config.

Three ways to specify it (:class:`BackboneConfig`):

* ``pretrained_path``: a local Hugging Face directory (e.g. Qwen2.5-1.5B-Instruct). Loaded with
  ``local_files_only=True`` — never a hub download. Its tokenizer is used unless another is given.
* ``preset``: a named architecture built with random weights — ``"tiny-qwen2"`` (the project default: a
  ~3 M-parameter Qwen2 that trains on a CPU) or ``"qwen2.5-1.5b"`` (the architecture values of
  Qwen2.5-1.5B-Instruct: hidden 1536, 28 layers, 12 heads, 2 KV heads, FFN 8960, vocab 151936, RoPE θ 1e6,
  tied embeddings, RMSNorm ε 1e-6). ``overrides`` replace any value (tests shrink the 1.5B preset this way).
* ``hf_config``: an inline Hugging Face config dict (must contain ``model_type``), also built randomly.

The vocabulary is resized to the tokenizer (the special tokens of :mod:`.tokenizer` are usually new).

Checkpoints never point back to the original path: :class:`~.model.UniMotionModel` saves the *resolved*
Hugging Face config beside its weights and rebuilds the backbone from it (:func:`build_backbone_from_hf_dict`).

Trainability: ``freeze_base`` freezes every base weight (the paper trains routed LoRA on a frozen LLM);
``unfreeze_layers`` re-enables whole decoder layers (Stage 3's partial unfreezing — which layers is not in the
paper); ``embeddings`` = "new_tokens" trains the embedding rows that were not pretrained (all of them for a
randomly initialised backbone, only the added special tokens for a pretrained one), "all" or "none".
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ...errors import CheckpointError, ConfigError
from ..modeling_utils import scale_gradient

__all__ = ["BackboneConfig", "PRESETS", "resolve_hf_config", "build_backbone", "build_backbone_from_hf_dict",
           "decoder_layers", "set_backbone_trainability"]

PRESETS: dict[str, dict[str, Any]] = {
    "tiny-qwen2": {
        "model_type": "qwen2",
        "hidden_size": 256,
        "intermediate_size": 768,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "vocab_size": 1024,  # replaced by the tokenizer size
    },
    # Architecture of Qwen/Qwen2.5-1.5B-Instruct (config.json of the release).
    "qwen2.5-1.5b": {
        "model_type": "qwen2",
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "max_window_layers": 21,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "use_sliding_window": False,
        "vocab_size": 151936,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
    },
}


@dataclass
class BackboneConfig:
    """Which causal LM to use and what of it trains. Exactly one of pretrained_path / preset / hf_config."""

    pretrained_path: str | None = None
    preset: str | None = "tiny-qwen2"
    hf_config: dict[str, Any] | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    freeze_base: bool = True
    unfreeze_layers: list[int] = field(default_factory=list)
    embeddings: Literal["new_tokens", "all", "none"] = "new_tokens"
    pad_vocab_to_multiple_of: int = 64

    def __post_init__(self) -> None:
        if (self.pretrained_path is not None or self.hf_config is not None) and self.preset == "tiny-qwen2":
            self.preset = None  # the default preset gives way to an explicit path / inline config
        given = [n for n in ("pretrained_path", "preset", "hf_config") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ConfigError(f"backbone: give exactly one of pretrained_path, preset, hf_config (got {given or 'none'})")
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"backbone.preset {self.preset!r} is unknown; presets: {sorted(PRESETS)}")
        if self.hf_config is not None and "model_type" not in self.hf_config:
            raise ConfigError("backbone.hf_config must contain 'model_type' (e.g. 'qwen2' or 'llama')")
        if self.pad_vocab_to_multiple_of < 1:
            raise ConfigError("backbone.pad_vocab_to_multiple_of must be >= 1")


def _round_up(n: int, m: int) -> int:
    return ((n + m - 1) // m) * m


def resolve_hf_config(config: BackboneConfig, vocab_size: int):
    """The ``transformers`` config for a preset / inline config, with the vocabulary sized for the tokenizer."""
    from transformers import AutoConfig

    if config.preset is not None:
        values = copy.deepcopy(PRESETS[config.preset])
    elif config.hf_config is not None:
        values = copy.deepcopy(config.hf_config)
    else:
        raise ConfigError("resolve_hf_config is for preset / hf_config backbones")
    values.update(copy.deepcopy(config.overrides))
    model_type = values.pop("model_type")
    values["vocab_size"] = _round_up(max(int(values.get("vocab_size", 0)), vocab_size), config.pad_vocab_to_multiple_of)
    try:
        hf = AutoConfig.for_model(model_type, **values)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"backbone: cannot build a '{model_type}' config from {sorted(values)}: {exc}") from exc
    return hf


def _from_config(hf_config, attn_implementation: str) -> nn.Module:
    from transformers import AutoModelForCausalLM

    hf_config._attn_implementation = attn_implementation
    return AutoModelForCausalLM.from_config(hf_config, attn_implementation=attn_implementation, trust_remote_code=False)


def build_backbone(config: BackboneConfig, vocab_size: int) -> tuple[nn.Module, int]:
    """Build the causal LM. Returns ``(model, num_pretrained_tokens)``.

    ``num_pretrained_tokens`` is the number of embedding rows that hold pretrained values (0 for a randomly
    initialised backbone); rows from there on are new (added special tokens, padding).
    """
    if config.pretrained_path is None:
        hf = resolve_hf_config(config, vocab_size)
        return _from_config(hf, config.attn_implementation), 0
    from transformers import AutoModelForCausalLM

    path = Path(config.pretrained_path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"backbone.pretrained_path {path} is not a Hugging Face model directory (no config.json)")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, attn_implementation=config.attn_implementation, dtype=torch.float32,
            trust_remote_code=False,  # a folder with custom modelling code is refused, never executed
        )
    except Exception as exc:  # OSError, ValueError, safetensors errors, refused remote code, ...
        raise CheckpointError(f"cannot load the backbone from {path}: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}") from None
    pretrained_rows = model.get_input_embeddings().weight.shape[0]
    if vocab_size > pretrained_rows:
        model.resize_token_embeddings(_round_up(vocab_size, config.pad_vocab_to_multiple_of), mean_resizing=False)
    return model, pretrained_rows


def build_backbone_from_hf_dict(hf_dict: dict[str, Any], attn_implementation: str) -> nn.Module:
    """Rebuild a (random-weight) backbone from a saved ``config.to_dict()`` — used when loading a checkpoint."""
    from transformers import AutoConfig

    values = dict(hf_dict)
    model_type = values.pop("model_type", None)
    if model_type is None:
        raise CheckpointError("the saved backbone config has no model_type")
    for key in ("transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype"):
        values.pop(key, None)
    try:
        hf = AutoConfig.for_model(model_type, **values)
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"the saved backbone config cannot be read: {str(exc)[:300]}") from None
    return _from_config(hf, attn_implementation)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layer list of a Qwen2/Llama-style causal LM (``model.model.layers``)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"{type(model).__name__} has no model.layers; only Qwen2/Llama-style LMs are supported")
    return layers


def set_backbone_trainability(
    model: nn.Module,
    config: BackboneConfig,
    num_pretrained_tokens: int,
    new_token_ids: list[int] | tuple[int, ...] = (),
) -> list:
    """Apply ``freeze_base`` / ``unfreeze_layers`` / ``embeddings``. Returns the gradient hooks it registered.

    With ``embeddings="new_tokens"`` the rows below ``num_pretrained_tokens`` keep their pretrained values
    (their gradient is zeroed), except the rows of ``new_token_ids`` (tokens added to a pretrained tokenizer
    inside its padded embedding table, e.g. the modality tokens in Qwen's 151,936-row table).
    """
    hooks = []
    for p in model.parameters():
        p.requires_grad_(not config.freeze_base)
    layers = decoder_layers(model)
    for idx in config.unfreeze_layers:
        if not -len(layers) <= idx < len(layers):
            raise ConfigError(f"backbone.unfreeze_layers: layer {idx} does not exist ({len(layers)} layers)")
        for p in layers[idx].parameters():
            p.requires_grad_(True)
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tables = [emb] + ([out.weight] if out is not None and out.weight is not emb else [])
    if config.embeddings == "none":
        if config.freeze_base:
            for w in tables:
                w.requires_grad_(False)
    else:
        for w in tables:
            w.requires_grad_(True)
        if config.embeddings == "new_tokens" and num_pretrained_tokens > 0:
            keep = torch.zeros(emb.shape[0], dtype=torch.bool)
            keep[:num_pretrained_tokens] = True
            ids = [i for i in new_token_ids if 0 <= i < emb.shape[0]]
            if ids:
                keep[torch.tensor(ids, dtype=torch.long)] = False

            scale = (~keep).to(emb.dtype)[:, None]  # (V, 1): 0 on the rows that keep their pretrained values
            for w in tables:
                hooks.append(scale_gradient(w, scale))
    return hooks


def is_local_model_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / "config.json").is_file()
