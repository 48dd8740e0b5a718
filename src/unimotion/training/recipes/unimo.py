"""``unimotion train unimo``: UniMo's autoregressive model on tokenized BandaiML clips (stage 2 of the paper).

Both tokenizers are trained first and frozen (``motion_tokenizer`` / ``video_tokenizer``: checkpoint
directories). The recipe then

1. tokenizes the training clips once and caches them (``data.cache_dir``): the stored 17-frame render of
   every training motion plus ``data.extra_clips_per_motion`` new renders of random windows of the same
   motions (:func:`unimotion.data.unimo.render_extra_clips`; same renderer, camera and appearance
   distributions as the dataset builder) → video codes (K, h, w) and canonical SMPL-X parameters; the
   motion codes are computed from the parameters with the given motion tokenizer;
2. builds :class:`~unimotion.models.unimo.model.UniMoModel` with vocabularies and geometry taken from the
   tokenizers (``model`` holds every other :class:`~unimotion.models.unimo.model.UniMoConfig` field:
   width, depth, ``embedding`` (separate / shared = the uni-emb ablation), ``task_weights`` (joint or
   single-task training), ...);
3. trains with the project :class:`~unimotion.training.trainer.Trainer` (tasks drawn per sample from
   ``task_weights``, next-token CE on the layout's targets);
4. measures V2M (motion capture with the pipeline's default decoding) on ``data.eval_clips`` clips of ``data.eval_split`` against the
   true SMPL-X motion (``<out_dir>/v2m_<split>.json``);
5. with ``export_dir``, writes a pipeline directory (``motion_tokenizer/``, ``video_tokenizer/``,
   ``unimo/``) that :class:`unimotion.pipelines.unimo.UniMoPipeline` opens (``export_dtype="float16"``
   stores the weights at half size; they load back into float32).

``init_from`` starts step 2 from an earlier AR checkpoint instead of a new model (fine-tuning, e.g. the
main model continued with ``model.v2m_motion_inputs=masked``: configs/unimo/unimo_masked_ft.yaml).

    unimotion train unimo --config configs/unimo/unimo.yaml
    unimotion train unimo --config configs/unimo/unimo.yaml --set model.embedding=shared \\
        --set trainer.out_dir=../runs/unimo_ablate_shared
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..trainer import OptimConfig, TrainerConfig

if TYPE_CHECKING:
    import numpy as np

    from ...models.unimo.model import UniMoConfig

HELP = "train UniMo's autoregressive video + motion model (I2VM and V2M) on frozen tokenizers"

#: UniMoConfig fields fixed by the tokenizers and the clip size (not settable in ``model``).
TOKENIZER_FIELDS = ("video_vocab_size", "motion_vocab_size", "video_grid", "temporal_compression",
                    "max_latent_frames", "motion_tokens_per_step", "motion_frames_per_step", "video_fsq_levels")


@dataclass
class UniMoDataConfig:
    """Training clips and the post-training check.

    Attributes:
        root: BandaiML folder.
        train_split: split the model trains on.
        num_frames: frames per clip (17: the stored renders; 1 + c_t·n).
        image_size: frame size (H, W) of the renders.
        extra_clips_per_motion: extra rendered windows per training motion (augmentation; 0 = only the
            stored renders).
        extra_seed: seed of the extra renders (windows, cameras, appearances).
        cache_dir: where tokenized clips are cached (keyed by split, extras and the video tokenizer's
            weights); empty = ``<trainer.out_dir>/token_cache``.
        max_train_motions: use only the first N training motions (0 = all; tests).
        eval_split: split of the V2M check after training (empty = none).
        eval_clips: clips of that split checked (0 = all).
    """

    root: str = "../data/bandaiml"
    train_split: str = "train"
    num_frames: int = 17
    image_size: tuple[int, int] = (64, 64)
    extra_clips_per_motion: int = 4
    extra_seed: int = 1
    cache_dir: str = "../runs/unimo_token_cache"
    max_train_motions: int = 0
    eval_split: str = "val"
    eval_clips: int = 64


@dataclass
class UniMoRecipeConfig:
    """The full recipe (module docstring)."""

    data: UniMoDataConfig = field(default_factory=UniMoDataConfig)
    motion_tokenizer: str = "../runs/unimo_mt_s4_k512/final"
    video_tokenizer: str = "../runs/unimo_video_tokenizer/final"
    model: dict[str, Any] = field(default_factory=dict)  # UniMoConfig fields except TOKENIZER_FIELDS
    # Fine-tuning: a UniMo AR checkpoint directory (a run's final/ or a pipeline's unimo/) whose weights
    # initialise the model; its architecture must match ``model`` (training-only fields such as task_weights,
    # v2m_motion_inputs or motion_input_noise may differ). Empty = a new model.
    init_from: str = ""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            out_dir="../runs/unimo", max_steps=800, batch_size=16, log_every=25, save_every=200, device="cpu",
            optim=OptimConfig(lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), warmup_steps=40, schedule="cosine",
                              min_lr_ratio=0.05),
        )
    )
    export_dir: str = ""
    export_dtype: Literal["float32", "float16", "bfloat16"] = "float32"  # weights in the export (smaller files)
    # NOTICE of the checkpoints (unimotion.notices.resolve_notice): "auto" (BandaiML's attribution and
    # non-commercial notice when data.root/manifest.json names BandaiML, else none), "bandai", "none"
    # or the path of a text file holding your own notice.
    notice: str = "auto"
    threads: int = 1  # torch.set_num_threads (1: two OpenMP threads stall each other on the shared 2-core CPU)


CONFIG_CLASS = UniMoRecipeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in trainer.out_dir")


# ------------------------------------------------------------------------------------------ helpers
def model_config(video_tokenizer: Any, motion_tokenizer: Any, data: UniMoDataConfig,
                 overrides: dict[str, Any]) -> UniMoConfig:
    """The AR config: geometry/vocabularies from the tokenizers, everything else from ``overrides``."""
    from ...config import from_dict, to_dict
    from ...errors import ConfigError
    from ...models.unimo.model import UniMoConfig, config_from_tokenizers

    fixed = sorted(set(overrides) & set(TOKENIZER_FIELDS))
    if fixed:
        raise ConfigError(f"model.{fixed[0]} is fixed by the tokenizers and the clip size; remove it from the recipe")
    base = config_from_tokenizers(video_tokenizer, motion_tokenizer, tuple(data.image_size), data.num_frames)
    return from_dict(UniMoConfig, {**to_dict(base), **overrides}, "model")


def init_weights(model: Any, path: str | Path) -> None:
    """Copy the weights of the UniMo AR checkpoint at ``path`` into ``model`` (fine-tuning); every tensor
    must exist in both with the same shape, else a ConfigError names the first difference."""
    from ...errors import ConfigError
    from ...models.unimo import UniMoModel

    if not (Path(path) / "config.json").is_file():
        raise ConfigError(f"init_from {path} is not a UniMo checkpoint directory (no config.json)")
    source = UniMoModel.from_pretrained(path).state_dict()
    target = model.state_dict()
    for name in sorted(set(source) | set(target)):
        if name not in source or name not in target:
            where = "the checkpoint" if name not in source else "the configured model"
            raise ConfigError(f"init_from {path}: {name} is missing from {where} (the architectures differ)")
        if source[name].shape != target[name].shape:
            raise ConfigError(f"init_from {path}: {name} has shape {tuple(source[name].shape)} in the checkpoint "
                              f"but {tuple(target[name].shape)} in the configured model")
    model.load_state_dict(source)


def _weights_digest(path: str | Path) -> str:
    from ...utils.io import sha256_file

    return sha256_file(Path(path) / "model.safetensors")[:16]


def clip_cache(root: str, split: str, video_tokenizer: Any, video_tokenizer_path: str, cache_dir: str,
               extra_per_motion: int = 0, extra_seed: int = 1, limit: int = 0) -> dict[str, np.ndarray]:
    """Tokenized clips of ``split`` (cached as ``<cache_dir>/<split>_<key>.npz``): ``ids`` (N,), ``video_codes``
    (N, K, h, w) int16, ``params`` (N, T, 79) float32 canonical SMPL-X parameters. The stored render of every
    motion comes first, then ``extra_per_motion`` extra renders per motion (training augmentation)."""
    import numpy as np

    from ...data.unimo import UniMoClip, load_clip, read_ids, render_extra_clips, tokenize_videos
    from ...utils.io import save_npz
    from ...utils.logging import get_logger

    log = get_logger(__name__)
    key = f"{split}_x{extra_per_motion}s{extra_seed}_n{limit}_{_weights_digest(video_tokenizer_path)}"
    path = Path(cache_dir) / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    ids = read_ids(root, split)
    if limit > 0:
        ids = ids[:limit]
    wanted = set(ids)

    def clips() -> Iterator[UniMoClip]:
        yield from (load_clip(root, mid) for mid in ids)
        if extra_per_motion > 0:
            yield from (c for c in render_extra_clips(root, split, extra_per_motion, extra_seed)
                        if c.id.split("#")[0] in wanted)

    log.info("tokenizing the clips of %s (%d motions, %d extra renders per motion)", split, len(ids), extra_per_motion)
    names, codes, params, chunk = [], [], [], []

    def flush() -> None:  # tokenize in chunks: the frames of every clip together would take gigabytes
        if chunk:
            codes.append(tokenize_videos(video_tokenizer, np.stack([c.frames for c in chunk])).astype(np.int16))
            params.extend(c.params.astype(np.float32) for c in chunk)
            names.extend(c.id for c in chunk)
            chunk.clear()

    for clip in clips():
        chunk.append(clip)
        if len(chunk) == 256:
            flush()
    flush()
    out = {"ids": np.array(names), "video_codes": np.concatenate(codes), "params": np.stack(params)}
    save_npz(path, **out)
    log.info("cached %d tokenized clips in %s", len(names), path)
    return out


def v2m_metrics(model: Any, motion_tokenizer: Any, video_tokenizer: Any, video_codes: np.ndarray, params: np.ndarray,
                batch_size: int = 32) -> dict[str, float]:
    """V2M of tokenized clips with the pipeline's default decoding (greedy; expected code vectors for a
    masked-V2M model) → mean errors (mm / degrees) against the true canonical parameters."""
    import numpy as np
    import torch

    from ...data.unimo import motion_errors
    from ...pipelines.unimo import UniMoPipeline

    pipe = UniMoPipeline(video_tokenizer, motion_tokenizer, model)
    preds = [pipe.v2m_motion(torch.from_numpy(np.asarray(video_codes[i : i + batch_size], dtype=np.int64)),
                             params.shape[1]) for i in range(0, len(video_codes), batch_size)]
    errs = motion_errors(np.concatenate(preds), params, motion_tokenizer.body_model())
    return {"clips": int(len(params)), "decoding": pipe.v2m_decoding(),
            **{f"{k}_mm" if k != "orient_err_deg" else k: float(v.mean() * (1000 if k != "orient_err_deg" else 1))
               for k, v in errs.items()}}


# ------------------------------------------------------------------------------------------ run
def run(config: UniMoRecipeConfig, args: argparse.Namespace) -> int:
    import json

    import torch

    from ...data.unimo import TokenClipDataset, relative_pose, tokenize_motion
    from ...models.unimo import MotionTokenizer, UniMoModel, VideoTokenizer
    from ...notices import resolve_notice
    from ...utils.io import write_json
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..distributed import main_process_first
    from ..trainer import Trainer

    log = get_logger(__name__)
    torch.set_num_threads(max(1, config.threads))
    d = config.data
    notice = resolve_notice(config.notice, d.root)
    mt = MotionTokenizer.from_pretrained(config.motion_tokenizer)
    vt = VideoTokenizer.from_pretrained(config.video_tokenizer)
    cfg = model_config(vt, mt, d, config.model)
    cache_dir = d.cache_dir or str(Path(config.trainer.out_dir) / "token_cache")
    with main_process_first():  # rank 0 writes the cache, the other torchrun processes read it
        train = clip_cache(d.root, d.train_split, vt, config.video_tokenizer, cache_dir, d.extra_clips_per_motion,
                           d.extra_seed, d.max_train_motions)
    pose = relative_pose(train["params"], mt.body_model()) if cfg.pose_aux_weight > 0 else None
    dataset = TokenClipDataset(train["video_codes"], tokenize_motion(mt, train["params"]), pose)
    seed_everything(config.trainer.seed)  # right before the model: the same initial weights in every run
    model = UniMoModel(cfg)
    if config.init_from:
        init_weights(model, config.init_from)
        log.info("initialised the AR model from %s", config.init_from)
    model.notice = notice
    log.info("unimo AR: %d training clips, %s parameters, embedding=%s, tasks=%s, s=%d, sequence ≈ %d tokens",
             len(dataset), f"{model.num_parameters():,}", cfg.embedding, cfg.task_weights, cfg.motion_tokens_per_step,
             cfg.geometry().num_video_tokens + cfg.geometry().num_motion_tokens + 6)
    trainer = Trainer(model, config.trainer, dataset, run_config=config)
    trainer.fit(resume=bool(getattr(args, "resume", False)))
    if not trainer.is_main:  # other torchrun processes: rank 0 evaluates and exports
        return 0
    model.eval()
    if d.eval_split:
        ev = clip_cache(d.root, d.eval_split, vt, config.video_tokenizer, cache_dir, 0, d.extra_seed, d.eval_clips)
        result = v2m_metrics(model, mt, vt, ev["video_codes"], ev["params"])
        write_json(Path(config.trainer.out_dir) / f"v2m_{d.eval_split}.json", result)
        log.info("V2M on %s: %s", d.eval_split, json.dumps(result))
    if config.export_dir:
        from ...pipelines.unimo import UniMoPipeline

        dtype = None if config.export_dtype == "float32" else getattr(torch, config.export_dtype)
        from ._export import overwrite_allowed

        UniMoPipeline(vt, mt, model).save_pretrained(config.export_dir, dtype=dtype,
                                                     overwrite=overwrite_allowed(args))
        log.info("exported the pipeline to %s", config.export_dir)
    return 0
