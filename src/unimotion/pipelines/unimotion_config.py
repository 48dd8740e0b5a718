"""The settings file of a UniMotion pipeline folder (``pipeline.json``), readable without torch.

:mod:`unimotion.pipelines.unimotion` loads the models; the command line reads this first, so that every
argument (lengths against the pipeline's frame rate and minimums, input files) is checked before any model
or heavy library is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import CheckpointError, LimitError, UnimotionError

__all__ = ["PIPELINE_FILE", "PIPELINE_TYPE", "PipelineConfig", "default_pipeline_path", "read_pipeline_config"]

PIPELINE_FILE = "pipeline.json"
PIPELINE_TYPE = "unimotion"


class _PipelineFileLimit(CheckpointError, LimitError):
    """pipeline.json is larger than CHECKPOINT_MAX_JSON_BYTES (unimotion.limits)."""


@dataclass
class PipelineConfig:
    """Settings saved in ``pipeline.json``.

    Attributes:
        fps: frame rate of the motions (BandaiML / HumanML3D: 20).
        default_seconds: length of a generated motion when none is given (text → motion).
        default_continuation_seconds: length of a predicted continuation when none is given.
        min_frames: shortest motion generated (one latent step covers ``rate`` frames).
        min_input_frames: shortest motion (in feature frames) accepted for captioning and editing.
        min_context_frames: shortest observation (in feature frames) accepted for prediction.
        num_steps / cfg_scale: sampling defaults (None: the model's ``flow`` config).
        max_new_tokens: caption length limit (M2T).
        rigid: put generated joints on the skeleton of ``Skeleton.npy`` (constant bone lengths; skipped
            when the pipeline has no skeleton).
        clean_contacts: remove the slide of planted feet and lift frames out of the floor.
        contacts: what plants a foot for the clean-up: ``height`` (below 5 cm) or ``flags`` (the
            features' contact channels too); see :func:`unimotion.motion.postprocess.finish_motion`.
        join_frames: prediction — frames over which the continuation is blended onto the observation.
        info: free-form provenance (training data, stages, budget).
    """

    fps: float = 20.0
    default_seconds: float = 5.0
    default_continuation_seconds: float = 3.0
    min_frames: int = 4
    min_input_frames: int = 20
    min_context_frames: int = 8
    num_steps: int | None = None
    cfg_scale: float | None = None
    max_new_tokens: int = 48
    rigid: bool = True
    clean_contacts: bool = True
    contacts: Literal["height", "flags"] = "flags"  # chosen on val: docs/results/postprocess_bandaiml.md
    join_frames: int = 10
    info: dict[str, Any] = field(default_factory=dict)


def read_pipeline_config(path: str | os.PathLike) -> PipelineConfig:
    """The :class:`PipelineConfig` of a pipeline folder (``CheckpointError`` naming what is wrong)."""
    from ..config import from_dict

    path = Path(path)
    cfg_path = path / PIPELINE_FILE
    if not cfg_path.is_file():
        hint = ("; the demo checkpoint ships with the repository (checkpoints/unimotion_bandaiml) or is "
                "trained with `unimotion train unimotion --config configs/unimotion/bandaiml.yaml`")
        raise CheckpointError(f"{path} is not a UniMotion pipeline: {PIPELINE_FILE} is missing{hint}")
    from ..utils.io import read_json_limited

    try:  # size-capped like every checkpoint file (unimotion.limits), without importing torch
        raw = read_json_limited(cfg_path, "CHECKPOINT_MAX_JSON_BYTES", PIPELINE_FILE, error=_PipelineFileLimit)
    except UnimotionError as exc:
        if isinstance(exc, (CheckpointError, OSError)):
            raise
        raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.pop("_pipeline", None) != PIPELINE_TYPE:
        raise CheckpointError(f"{cfg_path} does not describe a UniMotion pipeline")
    raw.pop("_unimotion_version", None)
    raw.pop("dtype", None)
    return from_dict(PipelineConfig, raw)


def default_pipeline_path() -> Path:
    """The demo checkpoint ``unimotion_bandaiml`` in ``$UNIMOTION_CHECKPOINTS`` or in the source checkout's
    ``checkpoints/`` (:func:`unimotion.utils.paths.default_checkpoint`); an installed package has no default
    and the :class:`~unimotion.errors.CheckpointError` says how to give one."""
    from ..utils.paths import default_checkpoint

    return default_checkpoint("unimotion_bandaiml", "pass the pipeline folder (--checkpoint DIR / from_pretrained(DIR))")
