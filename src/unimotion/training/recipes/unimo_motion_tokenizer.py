"""``unimotion train unimo-motion-tokenizer``: UniMo's SMPL-X motion VQ-VAE on BandaiML (``configs/unimo/``).

Data: canonical SMPL-X clips of ``data.clip_frames`` frames (17 = the length of UniMo's video clips),
one random window per training motion per epoch (:class:`unimotion.data.unimo.MotionClipDataset`),
normalised with statistics of the canonical training clips (β: mean 0, std 1; saved with the model).
After training, the reconstruction of every split in ``data.eval_splits`` is measured on deterministic
tiles of the motions and on the stored video clips and written to ``<out_dir>/recon_<split>.json``
(:func:`reconstruction_metrics`).

    unimotion train unimo-motion-tokenizer --config configs/unimo/motion_tokenizer.yaml
    unimotion train unimo-motion-tokenizer --config configs/unimo/motion_tokenizer.yaml \\
        --set model.expansion=2 --set model.codebook_size=1024 --set trainer.out_dir=../runs/unimo_mt_s2_k1024
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...models.unimo.motion_tokenizer import MotionTokenizerConfig
from ..trainer import OptimConfig, TrainerConfig

if TYPE_CHECKING:
    from ...models.unimo.motion_tokenizer import MotionTokenizer

HELP = "train UniMo's SMPL-X motion tokenizer (VQ-VAE, temporal expansion s, expert decoders)"


@dataclass
class MotionTokenizerDataConfig:
    """Where the motions are and how they are cut.

    Attributes:
        root: BandaiML folder (``smplx/``, ``renders/videos/``, split files).
        train_split: split the tokenizer trains on.
        clip_frames: frames per training clip (a multiple of 2**down_t).
        eval_splits: splits measured after training (``recon_<split>.json``); empty = none.
        eval_max_tiles: tiles per motion measured (0 = all).
        max_train_motions: use only the first N training motions (0 = all; tests).
        stats_dir: a folder to cache the normalisation statistics in (``Mean.npy``/``Std.npy``; computed
            from the training split on first use); empty = compute every run.
    """

    root: str = "../data/bandaiml"
    train_split: str = "train"
    clip_frames: int = 17
    eval_splits: list[str] = field(default_factory=lambda: ["val"])
    eval_max_tiles: int = 0
    max_train_motions: int = 0
    stats_dir: str = ""


@dataclass
class MotionTokenizerRecipeConfig:
    """The full recipe: data, model, trainer; ``export_dir`` receives the final model (+ NOTICE)."""

    data: MotionTokenizerDataConfig = field(default_factory=MotionTokenizerDataConfig)
    model: MotionTokenizerConfig = field(default_factory=lambda: MotionTokenizerConfig(width=128, code_dim=128,
                                                                                       fps=20.0))
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            out_dir="../runs/unimo_motion_tokenizer", max_steps=400, batch_size=64, log_every=50, save_every=0,
            device="cpu", optim=OptimConfig(lr=1e-3, warmup_steps=20, schedule="cosine", min_lr_ratio=0.05),
        )
    )
    # NOTICE of the checkpoints (unimotion.notices.resolve_notice): "auto" (BandaiML's attribution and
    # non-commercial notice when data.root/manifest.json names BandaiML, else none), "bandai", "none"
    # or the path of a text file holding your own notice.
    notice: str = "auto"
    export_dir: str = ""
    threads: int = 1  # torch.set_num_threads (1: two OpenMP threads stall each other on the shared 2-core CPU)


CONFIG_CLASS = MotionTokenizerRecipeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in trainer.out_dir")


def training_stats(data: MotionTokenizerDataConfig):
    """Normalisation statistics of the canonical training clips (cached in ``data.stats_dir`` if set)."""
    from ...data.unimo import motion_stats
    from ...motion.stats import NormStats

    if data.stats_dir and NormStats.exists(data.stats_dir):
        return NormStats.load(data.stats_dir)
    stats = motion_stats(data.root, data.train_split, data.clip_frames)
    if data.stats_dir:
        stats.save(data.stats_dir)
    return stats


def reconstruction_metrics(model: MotionTokenizer, clips, batch_size: int = 256) -> dict[str, Any]:
    """Encode → decode ``clips`` (N, T, 79) raw canonical parameters (tensor) and measure the errors.

    Returns means over clips: ``mpjpe_mm``, ``pa_mpjpe_mm``, ``w_mpjpe_mm``, ``transl_err_mm`` (pelvis
    position), ``orient_err_deg``, plus code usage over these clips (``perplexity``, ``codes_used``,
    ``usage``) and ``clips``/``frames``.
    """
    import numpy as np
    import torch

    from ...data.unimo import motion_errors
    from ...models.unimo.motion_tokenizer import CodebookUsage

    model.eval()
    usage = CodebookUsage(model.config.codebook_size)
    recon = []
    with torch.no_grad():
        for i in range(0, len(clips), batch_size):
            x = clips[i : i + batch_size].to(model.device)
            codes = model.encode(x)
            usage.update(codes)
            recon.append(model.decode(codes).cpu())
    pred = torch.cat(recon).double().numpy()
    errs = motion_errors(pred, clips.double().numpy(), model.body_model())
    u = usage.summary()
    return {
        "clips": int(len(clips)), "frames": int(clips.shape[0] * clips.shape[1]),
        "mpjpe_mm": float(errs["mpjpe"].mean() * 1000), "pa_mpjpe_mm": float(errs["pa_mpjpe"].mean() * 1000),
        "w_mpjpe_mm": float(errs["w_mpjpe"].mean() * 1000), "transl_err_mm": float(errs["root_err"].mean() * 1000),
        "orient_err_deg": float(np.mean(errs["orient_err_deg"])),
        "perplexity": u["perplexity"], "codes_used": int(u["used"]), "usage": u["usage"],
    }


def evaluate_splits(model: MotionTokenizer, root: str, splits: list[str], clip_frames: int,
                    max_tiles: int = 0) -> dict[str, dict[str, Any]]:
    """:func:`reconstruction_metrics` per split on two clip sets: ``tiles`` (consecutive ``clip_frames``
    windows of every motion) and ``video_clips`` (the clip of each stored render: what UniMo tokenizes)."""
    import torch

    from ...data.unimo import MotionClipDataset, PairedClipDataset

    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        tiles = MotionClipDataset(root, split, clip_frames, random_crop=False, max_tiles=max_tiles)
        tile_clips = torch.stack([tiles[i]["motion"] for i in range(len(tiles))])
        result = {"tiles": reconstruction_metrics(model, tile_clips)}
        paired = PairedClipDataset(root, split)
        if clip_frames == 17 and len(paired):
            video_clips = torch.stack([paired[i]["motion"] for i in range(len(paired))])
            result["video_clips"] = reconstruction_metrics(model, video_clips)
        out[split] = result
    return out


def run(config: MotionTokenizerRecipeConfig, args: argparse.Namespace) -> int:
    import json

    import torch

    from ...data.unimo import MotionClipDataset
    from ...models.unimo.motion_tokenizer import MotionTokenizer
    from ...notices import resolve_notice
    from ...utils.io import write_json
    from ...utils.logging import get_logger
    from ...utils.seed import seed_everything
    from ..trainer import Trainer

    log = get_logger(__name__)
    torch.set_num_threads(max(1, config.threads))
    seed_everything(config.trainer.seed)  # before any model or data object
    d = config.data
    notice = resolve_notice(config.notice, d.root)
    if d.clip_frames % config.model.frames_per_step:
        from ...errors import ConfigError

        raise ConfigError(f"data.clip_frames {d.clip_frames} must be a multiple of 2**model.down_t "
                          f"= {config.model.frames_per_step}")
    stats = training_stats(d)
    train = MotionClipDataset(d.root, d.train_split, d.clip_frames, random_crop=True, seed=config.trainer.seed,
                              limit=d.max_train_motions)
    log.info("unimo motion tokenizer: %d training motions, clips of %d frames, s=%d, K=%d", len(train),
             d.clip_frames, config.model.expansion, config.model.codebook_size)
    model = MotionTokenizer(config.model)
    model.stats = stats
    model.notice = notice
    trainer = Trainer(model, config.trainer, train, run_config=config)
    trainer.fit(resume=bool(getattr(args, "resume", False)))
    if not trainer.is_main:  # other torchrun processes: rank 0 evaluates and exports
        return 0
    model.eval()
    for split, result in evaluate_splits(model, d.root, list(d.eval_splits), d.clip_frames, d.eval_max_tiles).items():
        write_json(f"{config.trainer.out_dir}/recon_{split}.json", result)
        log.info("reconstruction on %s: %s", split, json.dumps(result))
    if config.export_dir:
        from ._export import overwrite_allowed

        model.save_pretrained(config.export_dir, overwrite=overwrite_allowed(args))
        log.info("exported %s", config.export_dir)
    return 0
